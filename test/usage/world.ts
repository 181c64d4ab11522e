import type { Knex } from 'knex';
import Stripe from 'stripe';
import { apiMeterEventName } from '../../plugins/stripe/meters';
import { configSchema } from '../../src/config/schema';
import type { SubscriptionRef } from '../../src/domain/model';
import { createLogger, type Logger } from '../../src/logger';
import type { Monetization } from '../../src/monetization/monetization';
import type { PublisherOptions } from '../../src/usage/options';
import { apimCoreRecords } from '../../src/apim/core-records';
import { composeUsage } from '../../src/composition';
import { tenantDirectoryFrom } from '../../src/monetization/tenant-directory';
import type { UsageService } from '../../src/usage/usage-service';
import type { StripeServer } from '../../dev/stripe-server';
import { buildEngine, connectedAccount, fixedMonthly, GatewaySeed, perRequest, sdkFor, tenantWithKey, uniquePlatformKey } from '../plugins/stripe/harness';

/** Fast settings for tests: no pacing to speak of, short lease and retry delays. */
export const TEST_OPTIONS: Partial<PublisherOptions> = {
  requests_per_second: 10_000,
  concurrency: 4,
  lease_seconds: 30,
  retries: 2,
  retry_delay_ms: 10,
  lookup_cache_ms: 0,
};

export interface BilledSubscription {
  subscription: SubscriptionRef;
  stripeSubscriptionId: string;
  customer: string;
}

/**
 * One tenant with its own platform key, one monetized API sold on a per-request tier (and a FREE
 * and a FIXEDRATE tier), `count` applications subscribed per request, and a UsageService whose
 * clock is the Stripe server's.
 */
export async function monetizedWorld(server: StripeServer, db: Knex, count: number, options: Partial<PublisherOptions> = {}) {
  const key = uniquePlatformKey();
  const engine = buildEngine(server, db, [tenantWithKey(key)], { retries: 10, retry_initial_delay_ms: 50, retry_max_delay_ms: 1000 });
  const seed = new GatewaySeed(db);
  const stripe = sdkFor(server, key);
  const account = await connectedAccount(stripe);
  const dynamic = await seed.policy('PerCall', perRequest('0.01'));
  const fixed = await seed.policy('Monthly', fixedMonthly('5.00'));
  const free = await seed.policy('Free', null);
  const api = await seed.api({ name: 'Weather', provider: `pub-${account.slice(-6)}` });
  await engine.enableMonetization({ api, policies: [dynamic, fixed, free], properties: { ConnectedAccountKey: account } });
  await seed.recordMonetization(api, true, { ConnectedAccountKey: account });
  const billed: BilledSubscription[] = [];
  for (let i = 0; i < count; i += 1) billed.push(await subscribe(engine, seed, stripe, account, api, dynamic));
  const clock = () => new Date(server.clock.now() * 1000);
  const usage = newUsageService(db, engine, clock, options);
  return {
    key,
    engine,
    seed,
    stripe,
    account,
    api,
    policies: { dynamic, fixed, free },
    billed,
    clock,
    usage,
    /** Another process's view: same database and engine, its own publisher (and lease owner id). */
    otherProcess: (owner: string, logger?: Logger) => newUsageService(db, engine, clock, options, owner, logger),
    subscribe: (policy = dynamic) => subscribe(engine, seed, stripe, account, api, policy),
    /**
     * What the Stripe server sums for the subscription's customer on the API's meter once it has
     * aggregated what was sent so far (its clock moves on by the aggregation delay).
     */
    billedInStripe: (s: BilledSubscription) => meterTotal(server, stripe, account, apiMeterEventName(api.uuid), s.customer),
  };
}

export function newUsageService(db: Knex, engine: Monetization, clock: () => Date, options: Partial<PublisherOptions>, owner?: string, logger = createLogger('silent')): UsageService {
  const config = configSchema.parse({});
  return composeUsage({
    db,
    subscriptions: apimCoreRecords(db),
    engine,
    tenants: tenantDirectoryFrom(config),
    logger,
    clock,
    config,
    options: { ...TEST_OPTIONS, ...options },
    ...(owner ? { owner } : {}),
  });
}

async function subscribe(
  engine: Monetization,
  seed: GatewaySeed,
  stripe: Stripe,
  account: string,
  api: Awaited<ReturnType<GatewaySeed['api']>>,
  policy: Awaited<ReturnType<GatewaySeed['policy']>>,
): Promise<BilledSubscription> {
  const subscriber = await seed.subscriber();
  const app = await seed.application(subscriber);
  const subscription = await seed.subscription(api, app, subscriber, policy);
  const outcome = await engine.createSubscription(subscription);
  if (!outcome.engineSubscriptionId) return { subscription, stripeSubscriptionId: '', customer: '' };
  const stripeSubscription = await stripe.subscriptions.retrieve(outcome.engineSubscriptionId, {}, { stripeAccount: account });
  return { subscription, stripeSubscriptionId: stripeSubscription.id, customer: String(stripeSubscription.customer) };
}

/**
 * The customer's total on the meter, read after letting the server's clock pass its aggregation
 * delay: Stripe aggregates meter events asynchronously, and summaries count an event only then
 * (https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage).
 */
export async function meterTotal(server: StripeServer, stripe: Stripe, account: string, eventName: string, customer: string): Promise<number> {
  server.clock.advance(server.billing.aggregationDelaySeconds());
  const meters = await stripe.billing.meters.list({ limit: 100 }, { stripeAccount: account });
  const meter = meters.data.find((m) => m.event_name === eventName);
  if (!meter) throw new Error(`no meter ${eventName} in ${account}`);
  const end = (Math.floor(server.clock.now() / 60) + 10) * 60;
  const summaries = await stripe.billing.meters.listEventSummaries(
    meter.id,
    { customer, start_time: end - 60 * 86_400, end_time: end },
    { stripeAccount: account },
  );
  return summaries.data.reduce((sum, s) => sum + s.aggregated_value, 0);
}

let eventCounter = 0;

/** A gateway event for `s`, `offsetSeconds` after `base` (a Date). */
export function callEvent(s: { subscription: SubscriptionRef }, at: Date, overrides: Record<string, unknown> = {}) {
  eventCounter += 1;
  return {
    eventId: `evt-${process.pid}-${eventCounter}-${Math.random().toString(36).slice(2, 8)}`,
    timestamp: at.getTime(),
    apiId: s.subscription.api.uuid,
    applicationId: s.subscription.application.uuid,
    subscriptionId: s.subscription.uuid,
    httpStatus: 200,
    tenant: s.subscription.api.tenant.domain,
    ...overrides,
  };
}

export function minutesAfter(base: Date, minutes: number): Date {
  return new Date(base.getTime() + minutes * 60_000);
}

/** Starts a publish job in this process and waits for it to end; its summary. */
export async function publishAndWait(usage: UsageService) {
  const answer = await usage.publishUsage();
  expect(answer.accepted).toBe(true);
  const summary = await usage.publisher.current();
  if (!summary) throw new Error('no job is running');
  return summary;
}
