import type { Express } from 'express';
import type { Knex } from 'knex';
import { builtInEngines } from '../plugins';
import { createApim, createApimRepositories, type Apim, type ApimRepositories } from './apim/apim';
import { ApimCoreRecords } from './apim/core-records';
import { createBilling, type Billing } from './billing/billing';
import { BillingRepository } from './billing/billing.repository';
import type { MeterlineConfig } from './config/schema';
import { connectDatabase } from './db/connect';
import { schemaMigrations, type MigrationList } from './db/migrator';
import { createApp } from './http/app';
import type { Readiness } from './http/health';
import { ownInvoiceLines } from './invoicing/own-invoice-lines';
import { OwnInvoicesRepository } from './invoicing/own-invoices.repository';
import { OwnInvoiceSubscriptionNotFound, OwnInvoicing, OwnInvoicingDisabled, type OwnInvoicingDependencies, type PeriodUsage } from './invoicing/own-invoicing';
import type { OwnInvoice } from './invoicing/own-invoices.repository';
import type { OwnInvoicesAdmin, OwnInvoiceView } from './http/routes/extensions/own-invoices-port';
import { PendingInvoices } from './invoicing/pending-invoice';
import { scheduleOwnInvoicing } from './invoicing/schedule';
import { scheduleEngineBackground } from './monetization/engine-background';
import { createLogger, type Logger } from './logger';
import { buildMonetizationEngine } from './monetization/build-engine';
import type { Monetization, MonetizationEngineFactory } from './monetization/monetization';
import { reconcile, scheduleReconcile, type ReconcileDependencies, type ReconcileFinding } from './monetization/reconcile';
import { EngineRegistry } from './monetization/registry';
import { tenantDirectoryFrom, tenantSecretKeysIn } from './monetization/tenant-directory';
import { ContinuousPublisher } from './usage/continuous-publisher';
import { UsageIngestion } from './usage/ingest';
import { Pacer } from './usage/pacer';
import { batchingEngine } from './usage/usage-batcher';
import { JobStore } from './usage/job-store';
import type { PublisherOptions } from './usage/options';
import { UsagePublisher } from './usage/publisher';
import { RecordStore } from './usage/record-store';
import { usageReconciler, type UsageReconciler } from './usage/usage-reconcile';
import { usageRequeuer, type UsageRequeuer } from './usage/usage-requeue';
import { scheduleUsagePublishing } from './usage/schedule';
import { createUsageSource, type UsageSource } from './usage/sources';
import { SubscriptionLookup, type GatewaySubscriptions } from './usage/subscription-lookup';
import { UsageService } from './usage/usage-service';
import type { ChannelSender } from './notifications/channel';
import { NotificationDispatcher, scheduleDispatch } from './notifications/dispatcher';
import { NotificationsAdmin } from './notifications/notifications-admin';
import { NotificationsRepository } from './notifications/notifications.repository';
import { OutboxNotifier } from './notifications/outbox-notifier';
import { WebhookSender } from './notifications/webhook-sender';
import { EmailChannelSender } from './notifications/channels/email';
import { SlackChannelSender } from './notifications/channels/slack';
import { TeamsChannelSender } from './notifications/channels/teams';
import type { Notifier } from './notifications/events';
import { spendUsageOf } from './spend/period-usage';
import { scheduleSpendWatching } from './spend/schedule';
import { GRACE_CHECK_INTERVAL_MS, scheduleGraceExpiry } from './billing/grace-expiry';
import { SpendLimits, spendCapCheck } from './spend/spend-limits.service';
import { SpendWatcher } from './spend/spend-watcher';
import { SpendRepository } from './spend/spend.repository';

/**
 * The composition root: the one place that builds Meterline's parts, in order
 * config → database → repositories → tenants → engine → billing → usage → API-Manager core →
 * reconcile, then hands them to the HTTP app, the CLI commands and the schedules. Every other
 * module receives what it uses; none builds a service itself. `serve` takes all of it
 * (`launchService` in service.ts); the CLI commands take `composeServices` alone (no HTTP).
 */

export type Tenants = ReturnType<typeof tenantDirectoryFrom>;

/**
 * The process's logger for a configuration: its level, and the engine secrets the tenants' settings
 * hold among the fields it redacts (their names come from the engine, so the logger cannot know them).
 */
export function configuredLogger(config: MeterlineConfig, destination?: Parameters<typeof createLogger>[1]): Logger {
  return createLogger(config.logging.level, destination, { secretFields: tenantSecretKeysIn(config) });
}

/**
 * The migrations `migrate` and `serve` run: the core's and those of every registered engine
 * (installed or not, since a database may hold an engine's tables from before a switch), plus the
 * configured engine's when it is loaded from a module (`monetization_impl` a path).
 */
export function migrationsFor(monetizationImpl: string | undefined, registry: EngineRegistry = new EngineRegistry(builtInEngines)): MigrationList {
  return migrationsOf(registry, registry.resolve(monetizationImpl));
}

function migrationsOf(registry: EngineRegistry, configured: MonetizationEngineFactory): MigrationList {
  const engines = registry.all();
  if (!engines.includes(configured)) engines.push(configured);
  return schemaMigrations(engines.map((engine) => engine.migrations ?? []));
}

export interface CompositionOptions {
  config: MeterlineConfig;
  logger: Logger;
  /** The billing engines to choose from; the built-in ones (plugins/) by default. */
  registry?: EngineRegistry;
  clock?: () => Date;
}

/** Everything Meterline runs, built once per process. */
export interface Services {
  config: MeterlineConfig;
  logger: Logger;
  clock: () => Date;
  /** The database handle; whoever composed the services destroys it (`close`). */
  db: Knex;
  /** The schema's migrations: the core's and every engine's (see `migrationsFor`). */
  migrations: MigrationList;
  tenants: Tenants;
  engine: Monetization;
  billing: Billing;
  apim: Apim;
  usage: UsageService;
  /** Meterline's own invoices, for an engine that leaves invoicing to Meterline (does nothing otherwise). */
  invoicing: OwnInvoicing;
  /** What `reconcile` and its schedule run with. */
  reconcileDependencies: ReconcileDependencies;
  reconcile(options: { dryRun: boolean; graceSeconds?: number }): Promise<ReconcileFinding[]>;
  /** `meterline reconcile usage` and its REST twin: what was sent against what the engine counted and invoiced. */
  reconcileUsage: UsageReconciler;
  /** `meterline usage requeue` and its REST twin: ENGINE_ERROR usage published again, once. */
  requeueUsage: UsageRequeuer;
  /** Notifications: the outbox's notifier (inject it into every service that emits) and the dispatcher `serve` runs. */
  notifications: NotificationsComposition;
  /** Spend limits per subscription: the watcher (`serve` runs it on a schedule) and the limits the REST routes set. */
  spend: SpendComposition;
  /** Closes the database pool (the caller stops HTTP and the publisher first). */
  close(): Promise<void>;
}

/**
 * Connects the database (lazily: no round trip yet) and builds every service on it. A
 * configuration mistake (e.g. a bad engine option) rejects here with the pool already closed.
 */
export async function composeServices(options: CompositionOptions): Promise<Services> {
  const { config, logger } = options;
  const db = connectDatabase(config.database.apim_db, { logger });
  try {
    return composeOn(db, options);
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

function composeOn(db: Knex, { config, logger, registry = new EngineRegistry(builtInEngines), clock: injectedClock }: CompositionOptions): Services {
  const clock = injectedClock ?? (() => new Date());
  const notifications = composeNotifications({ db, config, logger, clock });
  const repositories: ApimRepositories = createApimRepositories(db);
  // What other parts (billing, engines, usage) may know of the core's tables, asked of their owners.
  const coreRecords = new ApimCoreRecords(repositories);
  const billingRepository = new BillingRepository(db, coreRecords);
  const factory = registry.resolve(config.apim.monetization.monetization_impl);
  const tenants = tenantDirectoryFrom(config, factory.capabilities.tenantSecrets);
  const engine = buildMonetizationEngine({ config, factory, dependencies: { core: coreRecords, store: db, logger, tenants, clock } });
  const spendRepository = new SpendRepository(db);
  const billing = createBilling({ repository: billingRepository, config, logger, engine, spendCaps: spendCapCheck(spendRepository) });
  // A subscription with its names (API, application, tier, subscriber's e-mail) for the events told about it.
  const describeSubscription = async (uuid: string) => (await coreRecords.subscriptionRefs([uuid], (domain) => tenants.find(domain)?.id)).get(uuid);
  billing.records.tellThrough({ notifier: notifications.notifier, describe: describeSubscription });
  const spend = composeSpend({ db, repository: spendRepository, engine, subscriptions: coreRecords, tenants, config, logger, clock, notifier: notifications.notifier });
  // A freeze's new usage is rated for the limited subscriptions it touched at once, not at the next scheduled check.
  const usage = composeUsage({ db, subscriptions: coreRecords, engine, tenants, config, logger, clock, notifier: notifications.notifier, onUsageFrozen: (uuids) => spend.watcher.touched(uuids) });
  const invoicing = composeInvoicing({ db, engine, billing, usage, subscriptions: coreRecords, tenants, config, logger, clock });
  // A cancel the engine starts itself gets the final invoice an unsubscribe gets.
  billing.records.onEngineCancel((uuid, at) => invoicing.subscriptionCancelledByEngine(uuid, at));
  // The pending invoice of a subscription Meterline invoices: its next own invoice, from the same usage.
  const ownRecords = new OwnInvoicesRepository(db);
  const pendingInvoices = new PendingInvoices({ invoicesOf: (uuid) => ownRecords.ofSubscription(uuid), engine, usage: periodUsageOf(db, usage), clock });
  const apim = createApim({
    repositories,
    engine,
    billingRecords: billing.records,
    usage: usage.publisher,
    invoicing: {
      subscriptionStarted: (subscription, at) => invoicing.subscriptionStarted(subscription, at),
      subscriptionEnded: (subscription, at) => invoicing.subscriptionEnded(subscription, at),
      pendingInvoice: (subscription) => pendingInvoices.of(subscription),
      planChanging: (from, to, at) => invoicing.planChanging(from, to, at),
      planChanged: (invoiceId) => invoicing.planChanged(invoiceId),
    },
    monetizationAttributes: config.apim.monetization.additional_attributes,
    logger,
    clock,
    notifier: notifications.notifier,
    describeSubscription,
  });
  const reconcileDependencies: ReconcileDependencies = {
    engine,
    tenants,
    heldSince: (before) => repositories.subscriptions.listOnHoldCreatedBefore(before),
    subscriptionExists: async (uuid) => (await repositories.subscriptions.findByUuid(uuid)) !== undefined,
    hasBillingRecord: (uuid) => billing.records.isBilled(uuid),
    removeUnfinished: (uuid, tenant) => apim.subscriptions.removeUnfinished(uuid, tenant),
    engineSubscriptionCancelled: (uuid, at) => invoicing.subscriptionCancelledByEngine(uuid, at),
    logger,
    clock,
  };
  return {
    config,
    logger,
    clock,
    db,
    migrations: migrationsOf(registry, factory),
    tenants,
    engine,
    billing,
    apim,
    usage,
    invoicing,
    reconcileDependencies,
    reconcile: (reconcileOptions) => reconcile(reconcileDependencies, reconcileOptions),
    reconcileUsage: usageReconciler(db, { engine, subscriptions: coreRecords, tenantIdOf: (domain) => tenants.find(domain)?.id, clock }),
    requeueUsage: usageRequeuer(db, { engine, subscriptions: coreRecords, tenantIdOf: (domain) => tenants.find(domain)?.id }),
    notifications,
    spend,
    close: () => db.destroy(),
  };
}

export interface SpendComposition {
  watcher: SpendWatcher;
  limits: SpendLimits;
}

/** Spend limits from their parts; `composeServices` calls it, and the spend tests with their own notifier and clock. */
export function composeSpend(parts: {
  db: Knex;
  repository?: SpendRepository;
  engine: Monetization;
  subscriptions: Pick<ApimCoreRecords, 'subscriptionRefs'>;
  tenants: Tenants;
  config: MeterlineConfig;
  logger: Logger;
  clock: () => Date;
  notifier: Notifier;
}): SpendComposition {
  const { db, engine, subscriptions, tenants, config, logger, clock, notifier } = parts;
  const repository = parts.repository ?? new SpendRepository(db);
  const watcher = new SpendWatcher({
    repository,
    subscriptions: (uuids) => subscriptions.subscriptionRefs(uuids, (domain) => tenants.find(domain)?.id),
    usage: spendUsageOf(db, engine, config.apim.monetization.usage_publisher.source),
    notifier,
    clock,
    logger: logger.child({ component: 'spend' }),
  });
  return { watcher, limits: new SpendLimits(repository, watcher, clock) };
}

/** Notifications (issue 18, docs/notifications.md): the outbox, the one notifier services emit through, the dispatcher. */
export interface NotificationsComposition {
  repository: NotificationsRepository;
  /** The `Notifier` to hand every service that emits (apim, billing, usage, spend): it records, never sends, never throws. */
  notifier: OutboxNotifier;
  /** Sends what the outbox holds; `serve` runs it every `dispatch_interval_seconds`. */
  dispatcher: NotificationDispatcher;
  /** The admin REST routes' view of channels and deliveries. */
  admin: NotificationsAdmin;
}

/**
 * One sender per channel kind. The webhook's `webhook-timestamp` is the wall clock's: receivers
 * judge it against theirs (replay protection), whatever billing clock tests move.
 */
export function notificationSenders(config: MeterlineConfig): ChannelSender[] {
  const timeoutMs = config.apim.monetization.notifications.send_timeout_seconds * 1000;
  return [
    new WebhookSender(() => new Date(), timeoutMs),
    new TeamsChannelSender({ timeoutMs }),
    new SlackChannelSender({ timeoutMs }),
    new EmailChannelSender(config.apim.monetization.notifications.smtp, { timeoutMs }),
  ];
}

/** The notification outbox and its dispatcher; `composeServices` calls it, tests with their own clock and senders. */
export function composeNotifications(parts: { db: Knex; config: MeterlineConfig; logger: Logger; clock: () => Date; senders?: readonly ChannelSender[] }): NotificationsComposition {
  const { db, config, clock } = parts;
  const logger = parts.logger.child({ component: 'notifications' });
  const repository = new NotificationsRepository(db);
  const senders = parts.senders ?? notificationSenders(config);
  // The lease must outlast a whole batch of slow sends (an e-mail may wait send_timeout_seconds on
  // each of a few SMTP replies), or another process could take and send the batch's tail again.
  const timeoutMs = config.apim.monetization.notifications.send_timeout_seconds * 1000;
  const batchSize = 10;
  const dispatcher = new NotificationDispatcher(repository, senders, clock, logger, {
    maxAttempts: config.apim.monetization.notifications.max_attempts,
    batchSize,
    leaseMs: batchSize * 4 * timeoutMs + 60_000,
    keepDeliveredMs: config.apim.monetization.notifications.keep_delivered_days * 86_400_000,
  });
  return { repository, notifier: new OutboxNotifier(repository, clock, logger), dispatcher, admin: new NotificationsAdmin(repository, clock) };
}

export interface UsageComposition {
  db: Knex;
  /** The API-Manager core's subscriptions, as usage bills them (`ApimCoreRecords`). */
  subscriptions: GatewaySubscriptions;
  engine: Monetization;
  tenants: Tenants;
  config: MeterlineConfig;
  logger: Logger;
  clock: () => Date;
  /** Overrides `[apim.monetization.usage_publisher]` (tests). */
  options?: Partial<PublisherOptions>;
  /** A usage source built by the caller instead of the configured one (tests, embedding). */
  source?: UsageSource;
  /** This process, as named in the publisher's lease. */
  owner?: string;
  /** Where failed jobs and UNCERTAIN records are told (the notifications outbox); nobody without it. */
  notifier?: Notifier;
  /** Told which subscriptions a freeze gave new usage records (the spend watcher). */
  onUsageFrozen?: (subscriptionUuids: readonly string[]) => void;
}

/** Usage capture and publishing from its parts; `composeServices` calls it, and the usage tests with their own options. */
export function composeUsage({ db, subscriptions, engine, tenants, config, logger, clock, options: overrides, source: injectedSource, owner, notifier, onUsageFrozen }: UsageComposition): UsageService {
  const options: PublisherOptions = { ...config.apim.monetization.usage_publisher, ...overrides };
  const lookBackDays = config.apim.monetization.publish_duration_days;
  const tenantIdOf = (domain: string) => tenants.find(domain)?.id ?? (domain === 'carbon.super' ? -1234 : undefined);
  const now = () => clock().getTime();
  const ingestion = new UsageIngestion(db, new SubscriptionLookup(subscriptions, engine, tenantIdOf, options.lookup_cache_ms, now), clock, engine.capabilities.usage);
  // A WSO2 gateway's analytics log, when configured, is read into the event store through ingestion.
  const source =
    injectedSource ??
    createUsageSource(options.source, { db, logger, clock, ingest: (events, how) => ingestion.ingest(events, how), wso2AnalyticsLog: options.wso2_analytics_log, spool: options.spool });
  const batches = publishingInBatches(engine, options, logger);
  return new UsageService({
    ingestion,
    publisher: new UsagePublisher({
      db,
      engine: batches.engine,
      // Uncached: the publisher bills with each subscription's plan as it is now.
      lookup: new SubscriptionLookup(subscriptions, engine, tenantIdOf, 0, now),
      source,
      logger: logger.child({ component: 'usage-publisher' }),
      clock,
      options: batches.options,
      lookBackDays,
      ...(owner ? { owner } : {}),
      ...(notifier ? { notifier } : {}),
      ...(onUsageFrozen ? { onUsageFrozen } : {}),
    }),
    jobs: new JobStore(db),
    options,
    lookBackDays,
    clock,
  });
}

export interface InvoicingComposition {
  db: Knex;
  engine: Monetization;
  billing: Billing;
  usage: UsageService;
  /** The API-Manager core's subscriptions (`ApimCoreRecords`): a subscription's policy and pricing now. */
  subscriptions: Pick<ApimCoreRecords, 'subscriptionRefs'>;
  tenants: Tenants;
  config: MeterlineConfig;
  logger: Logger;
  clock: () => Date;
  /** Tests: a step probe (see `OwnInvoicingDependencies.probe`). */
  probe?: OwnInvoicingDependencies['probe'];
}

/**
 * Meterline's own invoices from their parts; `composeServices` calls it, and the invoicing tests.
 * A period's calls are the usage records whose window starts in it (every state: the records are
 * the exactly-once usage, whatever the engine did with them), after the usage part's freeze.
 */
export function composeInvoicing({ db, engine, billing, usage, subscriptions, tenants, config, logger, clock, probe }: InvoicingComposition): OwnInvoicing {
  return new OwnInvoicing({
    repository: new OwnInvoicesRepository(db),
    engine,
    issued: billing.issued,
    usage: periodUsageOf(db, usage),
    subscriptions: (uuids) => subscriptions.subscriptionRefs(uuids, (domain) => tenants.find(domain)?.id),
    options: config.apim.monetization.invoicing,
    clock,
    logger: logger.child({ component: 'invoicing' }),
    ...(probe ? { probe } : {}),
    applyEngineEvent: (tenantDomain, event) => billing.records.apply(tenantDomain, event, clock(), (uuid) => engine.billedSubscriptionOf(uuid)),
  });
}

/** A period's calls: the usage records whose window starts in it, after the usage part's freeze. */
function periodUsageOf(db: Knex, usage: UsageService): PeriodUsage {
  const records = new RecordStore(db);
  return {
    freeze: () => usage.publisher.freezeOnly(),
    callsWithoutFreezing: async (subscriptionUuid, from, to) => BigInt(await usage.publisher.callsWithoutFreezing(subscriptionUuid, from, to)),
    calls: async (subscriptionUuid, from, to) => {
      const found = await records.list({ subscriptionUuid, windowsFrom: from.getTime(), ...(to ? { windowsTo: to.getTime() } : {}) });
      return found.reduce((sum, record) => sum + BigInt(record.quantity), 0n);
    },
  };
}

/** Subscriptions published in parallel when sending in batches: enough windows to fill a batch request. */
const BATCH_CONCURRENCY = 100;

/**
 * `send_in_batches`: the publisher's engine gathers its windows into batch requests, each paced at
 * `requests_per_second` (so the publisher's own pacer no longer paces single windows), with
 * enough subscriptions in parallel to fill them. Without the option, or an engine without batches,
 * the engine and options as they are.
 */
function publishingInBatches(engine: Monetization, options: PublisherOptions, logger: Logger): { engine: Monetization; options: PublisherOptions } {
  if (!options.send_in_batches) return { engine, options };
  if (!engine.reportUsageBatch) {
    logger.warn('send_in_batches is on, but the billing engine takes no batches: usage is sent one window a request');
    return { engine, options };
  }
  return {
    engine: batchingEngine(engine, new Pacer(options.requests_per_second)),
    options: { ...options, requests_per_second: Number.MAX_SAFE_INTEGER, concurrency: Math.max(options.concurrency, BATCH_CONCURRENCY) },
  };
}

/** The HTTP application on the composed services; `readiness` gates every route but `/health`. */
export function composeHttp(services: Services, readiness?: () => Readiness): Express {
  const { db, logger, config, clock, tenants, engine, billing, apim, usage, reconcileUsage, requeueUsage } = services;
  // The invoice page shows the lines of the invoices Meterline issues itself (their billing records have none).
  const ownRecords = new OwnInvoicesRepository(db);
  const own = engine.capabilities.invoicing === 'meterline' ? { issuedInvoiceLines: ownInvoiceLines((uuid) => ownRecords.ofSubscription(uuid)) } : {};
  const ownInvoices = ownInvoicesAdmin(services.invoicing, billing);
  return createApp({ db, logger, ...(readiness ? { readiness } : {}), services: { config, clock, tenants, engine, billing, apim, usage, reconcileUsage, requeueUsage, ownInvoices, notifications: services.notifications.admin, spendLimits: services.spend.limits, ...own } });
}

/** The own-invoice admin routes' view of invoicing: each invoice's status as payment left it on billing's record. */
export function ownInvoicesAdmin(invoicing: OwnInvoicing, billing: Billing): OwnInvoicesAdmin {
  const withPayment = async (invoices: readonly OwnInvoice[]): Promise<OwnInvoiceView[]> => {
    const statuses = new Map<string, string>();
    for (const uuid of new Set(invoices.filter((i) => i.engineInvoiceId !== null).map((i) => i.subscriptionUuid))) {
      for (const record of await billing.issued.ofSubscription(uuid)) statuses.set(record.engineInvoiceId, record.status);
    }
    return invoices.map((i) => ({ ...i, status: i.status === 'DRAFT' || i.engineInvoiceId === null ? i.status : statuses.get(i.engineInvoiceId) ?? i.status }));
  };
  return {
    list: async (tenantDomain, subscriptionUuid, limit) => withPayment(await invoicing.invoicesOfTenant(tenantDomain, subscriptionUuid, limit)),
    async closeNow(tenantDomain, subscriptionUuid) {
      try {
        const result = await invoicing.closeNow(tenantDomain, subscriptionUuid);
        return { outcome: 'done', closed: result.closed, waiting: result.waiting, submitted: result.submitted, made: await withPayment(result.made) };
      } catch (error) {
        if (error instanceof OwnInvoiceSubscriptionNotFound) return { outcome: 'notFound', message: error.message };
        if (error instanceof OwnInvoicingDisabled) return { outcome: 'disabled', message: error.message };
        throw error;
      }
    },
  };
}

/** `usage_publish_cron`, `reconcile_cron`, the own-invoicing check and the engine's background work; returns one stop function for all. */
export function composeSchedules(services: Services): () => Promise<void> {
  const { config, usage, logger } = services;
  // A tick before the database is ready fails and is logged by the schedule; the next one runs.
  const stopPublishing = config.apim.monetization.usage_publisher.mode === 'continuous' ? startContinuousPublishing(services) : scheduleUsagePublishing(config.apim.monetization.usage_publish_cron, usage, logger);
  let stopReconcile: () => Promise<void>;
  try {
    stopReconcile = scheduleReconcile(config.apim.monetization.reconcile_cron, services.reconcileDependencies);
  } catch (error) {
    void stopPublishing();
    throw error;
  }
  const stopInvoicing = scheduleOwnInvoicing(services.invoicing, config.apim.monetization.invoicing.check_interval_seconds * 1000, logger.child({ component: 'invoicing' }));
  const stopNotifications = scheduleDispatch(services.notifications.dispatcher, config.apim.monetization.notifications.dispatch_interval_seconds * 1000, logger.child({ component: 'notifications' }));
  const stopSpend = scheduleSpendWatching(services.spend.watcher, config.apim.monetization.spend.check_interval_seconds * 1000, logger.child({ component: 'spend' }));
  // A payment grace period that runs out blocks in the access check; this tells it (once).
  const stopGrace = scheduleGraceExpiry(services.billing.records, GRACE_CHECK_INTERVAL_MS, services.clock, logger.child({ component: 'billing' }));
  const stopEngineWork = scheduleEngineBackground(services.engine, logger.child({ component: 'engine-background' }));
  return async () => {
    await stopPublishing();
    await stopReconcile();
    await stopInvoicing();
    await stopNotifications();
    await stopSpend();
    await stopGrace();
    await stopEngineWork();
  };
}

/**
 * `mode = "continuous"`: a publish job every `interval_seconds` instead of the cron and the
 * period-end runs (a job every few seconds serves each period end within its grace period).
 */
function startContinuousPublishing({ config, usage, logger }: Services): () => Promise<void> {
  const options = config.apim.monetization.usage_publisher;
  if (config.apim.monetization.usage_publish_cron.trim() !== '') logger.info('usage_publish_cron is not used: the usage publisher runs continuously');
  const loop = new ContinuousPublisher({ jobs: usage.publisher, intervalMs: options.interval_seconds * 1000, logger: logger.child({ component: 'continuous-publisher' }) });
  loop.start();
  return () => loop.stop();
}
