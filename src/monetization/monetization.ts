import type { Knex } from 'knex';
import type { BillingEvent, WebhookVerifier } from './billing-events';
import type { EngineCapabilities } from './capabilities';
import type { Logger } from '../logger';
import type { ApiRef, BillingCycle, SubscriptionPolicy, SubscriptionRef, TenantRef } from '../domain/model';

/**
 * The contract between the gateway core and a billing engine (Stripe, or another), after WSO2's
 * `org.wso2.carbon.apimgt.api.model.Monetization`, with typed inputs and outputs.
 *
 * Rules for every implementation:
 * - Every method is safe to retry: calling it again after a failure (or after success) finishes
 *   the job or changes nothing. External writes carry idempotency keys derived from what they
 *   mean (tenant, policy, API, subscription, step), never from counters or clock readings.
 * - Expected failures throw a {@link MonetizationError} with a code the HTTP layer maps to a
 *   status; anything else is a bug.
 * - Money is integer minor units (bigint) or exact decimal strings, never floats.
 */
export interface Monetization {
  /** The engine's registered name, e.g. "stripe". */
  readonly name: string;

  /** What the core must know of the engine (time limits, secrets, webhook scheme): its factory's. */
  readonly capabilities: EngineCapabilities;

  /**
   * A subscription policy was created. For a COMMERCIAL policy, creates the billing plan in the
   * tenant's platform account and records the mapping; a FREE policy creates nothing and must
   * succeed even when the tenant has no billing configuration.
   *
   * @example await engine.createBillingPlan({ uuid, name: 'Gold', tenant, billingPlan: 'COMMERCIAL',
   *   pricing: { plan: 'FIXEDRATE', currency: 'usd', billingCycle: 'month', fixedPrice: '10.00' } })
   */
  createBillingPlan(policy: SubscriptionPolicy): Promise<BillingPlanChange>;

  /**
   * A policy changed (price, currency, cycle, FREE↔COMMERCIAL). Replaces the plan (billing-engine
   * prices are immutable) and carries the change to every API that already copied the plan into a
   * connected account; existing subscriptions keep their price until the engine moves them.
   */
  updateBillingPlan(policy: SubscriptionPolicy): Promise<BillingPlanChange>;

  /** A policy was deleted: archives what `createBillingPlan` made and forgets the mapping. */
  deleteBillingPlan(policy: SubscriptionPolicy): Promise<void>;

  /**
   * Turns monetization on for a published API with the publisher's properties (for Stripe,
   * `ConnectedAccountKey`): one product per API and one price per commercial tier, in the
   * publisher's account. Enabling an already enabled API is a no-op that succeeds.
   */
  enableMonetization(request: MonetizationRequest): Promise<MonetizationChange>;

  /** Turns monetization off: archives the API's plans and reports what happens to live subscriptions. */
  disableMonetization(request: MonetizationRequest): Promise<MonetizationChange>;

  /** Tier name → billing-engine plan (price) id, for the API's monetized tiers. */
  getMonetizedPoliciesToPlanMapping(api: ApiRef): Promise<Record<string, string>>;

  /** The pending invoice of one subscription (what it owes so far in the current period). */
  getCurrentUsageForSubscription(subscription: SubscriptionRef): Promise<PendingInvoice>;

  /** Revenue of an API summed over its monetized subscriptions, per currency. */
  getTotalRevenue(api: ApiRef): Promise<ApiRevenue>;

  /**
   * Subscription workflow, create: the application subscribed to a monetized commercial tier.
   * Creates or reuses the customers and the engine's subscription and records them. A failure
   * part-way leaves no orphan; calling again completes the job.
   */
  createSubscription(subscription: SubscriptionRef): Promise<SubscriptionOutcome>;

  /**
   * Subscription workflow, delete: cancels the engine's subscription with a final invoice. When
   * unsubscribing, the core has just sent the subscription's usage and passes `sent`, what it has
   * sent of it: an engine that counts usage asynchronously checks its count has caught up before
   * the final invoice is made, and until it has throws USAGE_NOT_YET_COUNTED (nothing cancelled).
   */
  deleteSubscription(subscription: SubscriptionRef, sent?: SentUsage): Promise<SubscriptionOutcome>;

  /**
   * Change of business plan of a subscription the engine bills (`billedSubscriptionOf` is not
   * null): `from` on its current tier, `to` the same subscription on the new one. The engine
   * moves its own subscription to the new tier's plan, keeping its id (so its billing record and
   * invoices stay attached), prorating as the engine does. When the engine does not bill `to`
   * (FREE tier) it changes nothing and answers `billed: false`; the core then refuses the change.
   * The core has sent the subscription's usage so far before calling. Safe to retry. Engines that
   * cannot change plans leave it out, and the core refuses the change of a billed subscription.
   *
   * @example await engine.changeSubscriptionPlan(onGold, onPlatinum)
   *   // → { billed: true, access: 'UNBLOCKED', engineSubscriptionId: 'sub_1Qx…' }
   */
  changeSubscriptionPlan?(from: SubscriptionRef, to: SubscriptionRef): Promise<SubscriptionOutcome>;

  /**
   * Reports metered usage of one subscription for one time window. `identifier` names the usage
   * (subscription, meter, window) so that re-sending it can never bill twice.
   */
  reportUsage(usage: UsageReport): Promise<UsageReportOutcome>;

  /**
   * Optional: reports many windows (of any subscriptions) in as few engine requests as the engine
   * allows, with the same identifiers and meaning as `reportUsage`. Answers per report, in order:
   * its outcome, or the error of the request that carried it (that report may be sent again later,
   * its identifier keeps it from billing twice). `beforeRequest` is awaited before every request
   * the engine makes for it (the publisher's pacer), so a batch stays within the rate limit.
   * Used when `[apim.monetization.usage_publisher] send_in_batches` is on.
   */
  reportUsageBatch?(reports: readonly UsageReport[], beforeRequest: () => Promise<void>): Promise<Array<UsageReportOutcome | Error>>;

  /**
   * The billing cycle of a subscription the engine bills: its anchor and interval, from which
   * every period boundary follows (anchor + n intervals, a month's day clamped to the month's
   * length, as Stripe computes them). The usage publisher splits its windows at these boundaries
   * so usage is billed in the period of its own time. Null when the engine does not bill the
   * subscription (FREE tier, unmonetized API, unknown subscription).
   *
   * @example await engine.billingCycleOf(subscription)
   *   // → { anchor: new Date('2026-01-31T10:00:00Z'), interval: 'month', intervalCount: 1 }
   */
  billingCycleOf(subscription: SubscriptionRef): Promise<BillingCycleInfo | null>;

  /**
   * Where the engine bills a subscription, as it recorded when it created the subscription's
   * billing: its own subscription id and the account that holds it (Stripe: the publisher's
   * connected account). Meterline applies a billing event to a subscription only when the event
   * comes from this account and names this engine subscription, so an event from another
   * account, or one whose metadata merely names the subscription, changes nothing. Null when the
   * engine holds no record (FREE tier, unmonetized API, unknown or already cancelled).
   *
   * @example await engine.billedSubscriptionOf('0b9c…-uuid')
   *   // → { engineSubscriptionId: 'sub_1Qx…', account: 'acct_1Pq…' }
   */
  billedSubscriptionOf(subscriptionUuid: string): Promise<EngineSubscriptionRecord | null>;

  /**
   * `billedSubscriptionOf` for many subscriptions at once (ingestion asks it for every pair a
   * batch has not cached), in a few queries whatever their number: the billed ones by UUID, as
   * passed; the others are left out. Each answer is exactly `billedSubscriptionOf`'s. Optional:
   * without it the core asks `billedSubscriptionOf` once per subscription (`billedSubscriptionsOf`
   * in src/usage/subscription-lookup.ts).
   *
   * @example await engine.billedSubscriptionsOf(['0b9c…-uuid', '7d1e…-uuid'])
   *   // → Map { '0b9c…-uuid' => { engineSubscriptionId: 'sub_1Qx…', account: 'acct_1Pq…' } }
   */
  billedSubscriptionsOf?(subscriptionUuids: readonly string[]): Promise<Map<string, EngineSubscriptionRecord>>;

  /**
   * The live engine subscriptions Meterline made for a tenant (Stripe: in every connected
   * account the tenant's APIs are or were monetized with), found by the metadata Meterline sets
   * on them, whatever Meterline's own tables say. `meterline reconcile` compares them with the
   * gateway's subscriptions to find orphans. Engines that bill nothing return none.
   *
   * @example await engine.listEngineSubscriptions({ domain: 'carbon.super', id: -1234 })
   *   // → [{ engineSubscriptionId: 'sub_1Qx…', account: 'acct_1Pq…', subscriptionUuid: '0b9c…', … }]
   */
  listEngineSubscriptions(tenant: TenantRef): Promise<EngineSubscriptionFound[]>;

  /**
   * Cancels one subscription `listEngineSubscriptions` found (with a final invoice for usage
   * since the last one) and forgets whatever the engine recorded of it. Cancelling one that is
   * already cancelled changes nothing.
   */
  cancelEngineSubscription(found: EngineSubscriptionFound): Promise<void>;

  /**
   * The engine's customers that Meterline made and Meterline's customer records disagree about,
   * for a tenant, both ways (Stripe: in the platform account and in every connected account the
   * tenant's APIs and subscriptions use, found by listing each account and reading Meterline's
   * metadata, so a customer without an e-mail is found too):
   * - `UNRECORDED_ENGINE_CUSTOMER`: the engine has a customer Meterline made (a subscribe killed
   *   between creating it and recording it) and Meterline has no record naming it;
   * - `DANGLING_CUSTOMER_RECORD`: Meterline's record names a customer the engine no longer has
   *   (deleted in the dashboard).
   * Each comes with what `repairEngineCustomer` would do now. An account the engine cannot list
   * (e.g. a connected account that revoked the platform's access) is named in `unlisted` and the
   * others are still compared; a record that could live in it is not judged. Engines that bill
   * nothing find none.
   *
   * @example await engine.listEngineCustomers({ domain: 'carbon.super', id: -1234 })
   *   // → { customers: [{ kind: 'UNRECORDED_ENGINE_CUSTOMER', engineCustomerId: 'cus_Q…', account: null,
   *   //      owner: 'subscriber alice', plan: { action: 'ADOPT', reason: '…', needsHuman: false }, … }], unlisted: [] }
   */
  listEngineCustomers(tenant: TenantRef): Promise<EngineCustomerListing>;

  /**
   * Repairs one customer `listEngineCustomers` found, deciding again on the state it finds now
   * (it may have changed since the listing), money first:
   * - ADOPT: its owner (the subscriber, or the application and API provider) still exists and
   *   has no customer recorded for that account: it is recorded, so it is never created twice;
   * - DELETE: nothing in Meterline refers to it, it has no live engine subscription, no open
   *   invoice and no balance: it is deleted in the engine;
   * - FORGET_RECORD: a dangling record no billed subscription uses is forgotten (the next
   *   subscribe makes a new customer);
   * - LEAVE: nothing changes, with the reason: a live engine subscription (the orphan-subscription
   *   pass cancels it when its Meterline subscription is gone), or a state a human must judge
   *   (`needsHuman`: open invoices, a balance, a dangling record billed subscriptions still use).
   */
  repairEngineCustomer(found: EngineCustomerFound): Promise<EngineCustomerRepair>;

  /**
   * For engines that push billing events (Stripe's webhooks): verifies a raw delivery with the
   * tenant's secret and translates it into a Meterline billing event. Engines without push
   * events leave it out, and Meterline then has no webhook endpoint for them.
   */
  readonly webhooks?: WebhookVerifier;

  /**
   * What the engine counted and invoiced of one subscription's metered usage in one billing
   * period, for `meterline reconcile usage` to compare with what Meterline sent. `counted` is the
   * engine's own aggregate of the usage stamped in its `from`–`to` range, which may be a little
   * wider than the period when the engine counts in coarser steps (Stripe: whole minutes); the
   * core compares it with what it sent stamped in that same range. `invoice` is the invoice line
   * quantity billed for the period. Null when the engine meters no usage of the subscription
   * (FREE or FIXEDRATE tier, unmonetized API). Engines that cannot tell leave it out, and the
   * command then says the engine cannot reconcile usage.
   *
   * `subscription` is an `EndedSubscriptionRef` for a subscription the gateway no longer has
   * (unsubscribed) whose usage was sent: the engine answers from what it kept of it after the
   * cancel (its own subscription, found by the Meterline subscription's UUID, never by its API and
   * application, which may have subscribed again since), the final invoice included.
   *
   * @example await engine.usageAsBilled(subscription, { start: new Date('2026-10-05T10:00:00Z'), end: new Date('2026-11-05T10:00:00Z') })
   *   // → { meter: 'mtr_61Q…', counted: { from, to, quantity: 1200 }, invoice: { id: 'in_1Q…', quantity: 1200, final: true, finalizedAt } }
   */
  usageAsBilled?(subscription: SubscriptionRef | EndedSubscriptionRef, period: UsagePeriod): Promise<UsageAsBilled | null>;

  /**
   * Optional, for engines whose payment system sends no event for some changes of an invoice it
   * issued (MyFatoorah: nothing when a pay link expires): the engine asks the payment system about
   * the invoices it knows are open past their expiry and answers what it confirms as billing
   * events, which the core applies as it applies webhooks (deduplicated by event id). Meterline's
   * invoicing check (`meterline serve`) calls it each time; it answers at most a bounded number.
   */
  sweepInvoices?(now: Date): Promise<SweptInvoiceEvent[]>;

  /**
   * Engines with `capabilities.invoicing === 'meterline'` implement it: Meterline rated the
   * subscription's usage and made the invoice; the engine issues it for payment (its pay link)
   * and answers its own invoice id. Submitting the same `invoiceId` again never makes a second
   * engine invoice: the engine finds the one it made (e.g. by its customer reference) and answers
   * it. Expected failures throw a MonetizationError; the core keeps the invoice a draft and
   * submits it again later.
   */
  submitInvoice?(invoice: InvoiceToSubmit): Promise<SubmittedInvoice>;

  /**
   * Optional: the engine's log of the requests it delivers itself (an engine that sends each
   * operation as an HTTP request, with retries and dead letters), which the admin routes
   * `GET /api/am/admin/v4/monetization/deliveries` and `POST …/deliveries/{deliveryId}/replay`
   * show and replay. Absent: those routes answer 404.
   */
  readonly deliveries?: EngineDeliveryLog;

  /**
   * Optional: work the engine does in the background (e.g. retrying the deliveries of its outbox),
   * which `meterline serve` runs every `intervalMs`, one run at a time per process. `runDue` must
   * be safe with several processes running it at once and handle each item's failure itself.
   */
  readonly background?: EngineBackgroundWork;
}

/** See `Monetization.background`. */
export interface EngineBackgroundWork {
  readonly intervalMs: number;
  /** Does what is due now; resolves when done. */
  runDue(): Promise<void>;
}

export type EngineDeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED' | 'DEAD';

/** One request an engine delivers (see `Monetization.deliveries`); no secret is ever part of it. */
export interface EngineDelivery {
  id: string;
  tenantDomain: string;
  /** What the request says happened, e.g. `usage.reported`. */
  operation: string;
  /** The id the receiver deduplicates by (the same for every attempt). */
  messageId: string;
  /** `sync`: sent while the operation waits for the answer; `async`: sent from the outbox. */
  mode: 'sync' | 'async';
  status: EngineDeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** See `Monetization.deliveries`. */
export interface EngineDeliveryLog {
  /** A tenant's deliveries, newest first, optionally in one status; `total` counts all that match. */
  list(tenantDomain: string, filter: { status?: EngineDeliveryStatus; limit: number; offset: number }): Promise<{ total: number; list: EngineDelivery[] }>;
  /**
   * Sends a delivery of the tenant again now (its attempts counted afresh) and answers it as it is
   * after that attempt: `notFound` for another tenant's or an unknown id, `conflict` (with the
   * reason) for one that cannot be replayed (already delivered, or one the operation itself retries).
   */
  replay(tenantDomain: string, deliveryId: string): Promise<{ outcome: 'replayed'; delivery: EngineDelivery } | { outcome: 'notFound' } | { outcome: 'conflict'; message: string }>;
}

/** A billing event an engine's `sweepInvoices` found, for one tenant. */
export interface SweptInvoiceEvent {
  tenantDomain: string;
  event: BillingEvent;
}

/** Why Meterline issues an invoice of its own: the subscription started, a period closed, or it was cancelled. */
export type OwnInvoiceKind = 'SUBSCRIPTION_START' | 'PERIOD' | 'FINAL';

/** An invoice Meterline made (see `Monetization.submitInvoice`); amounts in minor units of `currency`. */
export interface InvoiceToSubmit {
  /**
   * Meterline's deterministic invoice id (same subscription, kind and period → same id): the engine
   * sends it as its customer reference and uses it as the idempotency key of the submission.
   */
  invoiceId: string;
  kind: OwnInvoiceKind;
  subscription: SubscriptionRef;
  /** Lower-case ISO 4217. */
  currency: string;
  periodStart: Date;
  periodEnd: Date;
  lines: ReadonlyArray<{ description: string; quantity: bigint; unitAmountDecimal: string | null; amount: bigint }>;
  /** Minor units, the sum of the lines. */
  total: bigint;
  customer: { name: string; email: string | null };
  /** When the pay link stops working. */
  expiresAt: Date;
}

/** What the engine made of a submitted invoice. */
export interface SubmittedInvoice {
  engineInvoiceId: string;
  /** The pay link (the engine's hosted invoice page). */
  hostedInvoiceUrl: string | null;
  /** The engine's PDF of the invoice, when it has one. */
  invoicePdfUrl: string | null;
}

/**
 * A subscription the gateway no longer has (unsubscribed), as the core still knows it from its
 * usage records: its UUID and its API (see `usageAsBilled`).
 */
export interface EndedSubscriptionRef {
  ended: true;
  uuid: string;
  api: ApiRef;
}

/**
 * What the core sent to the engine of one subscription's usage stamped in [from, to): the units
 * the engine accepted (and has not reported as failed since), and when the last of them was sent.
 */
export type SentUsage = (from: Date, to: Date) => Promise<{ quantity: number; lastSentAt: Date | null }>;

/** A subscription's billing period, [start, end). */
export interface UsagePeriod {
  start: Date;
  end: Date;
}

/** A subscription's usage as the engine counted and invoiced it (see `usageAsBilled`). */
export interface UsageAsBilled {
  /** The engine's meter the subscription's usage is counted on, for people (Stripe: its id). */
  meter: string;
  /** The engine's aggregate of the usage stamped in [from, to). */
  counted: { from: Date; to: Date; quantity: number };
  /**
   * The invoice that bills the period's usage, with the quantity its lines bill; null when no
   * invoice bills it yet. `final: false` while it is a draft (its quantity may still change).
   */
  invoice: { id: string; quantity: number; final: boolean; finalizedAt: Date | null } | null;
}

/** What an engine recorded for a subscription it bills (see `billedSubscriptionOf`). */
export interface EngineSubscriptionRecord {
  engineSubscriptionId: string;
  /** The engine account holding the subscription; null for the tenant's platform account. */
  account: string | null;
}

/** A live engine subscription found by Meterline's metadata (see `listEngineSubscriptions`). */
export interface EngineSubscriptionFound {
  engineSubscriptionId: string;
  /** The engine account holding it; null for the tenant's platform account. */
  account: string | null;
  tenantDomain: string;
  /** The Meterline subscription (AM_SUBSCRIPTION.UUID) its metadata names. */
  subscriptionUuid: string;
  apiUuid: string | null;
  applicationUuid: string | null;
  /** The engine's own status, e.g. `active`, `past_due`. */
  status: string;
}

/** What `listEngineCustomers` found, and the accounts it could not list. */
export interface EngineCustomerListing {
  customers: EngineCustomerFound[];
  /** Accounts (null: the platform account) whose customers could not be listed, with the reason. */
  unlisted: Array<{ account: string | null; reason: string }>;
}

/** A customer Meterline's records and the engine disagree about (see `listEngineCustomers`). */
export interface EngineCustomerFound {
  kind: 'UNRECORDED_ENGINE_CUSTOMER' | 'DANGLING_CUSTOMER_RECORD';
  engineCustomerId: string;
  /** The engine account holding it; null for the tenant's platform account, or for a dangling record found in no account. */
  account: string | null;
  /** PLATFORM: the subscriber's customer in the platform account; SHARED: an application's customer in a provider's connected account. */
  role: 'PLATFORM' | 'SHARED';
  tenantDomain: string;
  /** Whose customer it is, for people: e.g. `subscriber alice`, `application 7f3c… of provider pat`. */
  owner: string;
  /** When the engine created it; null for a dangling record. */
  created: Date | null;
  /** What `repairEngineCustomer` would do, as decided when it was listed. */
  plan: EngineCustomerRepair;
}

/** What `repairEngineCustomer` does (or did) with a customer, and why, in words for people. */
export interface EngineCustomerRepair {
  action: 'ADOPT' | 'DELETE' | 'FORGET_RECORD' | 'LEAVE';
  reason: string;
  /** LEAVE only: nothing Meterline may do safely; a person must look. */
  needsHuman: boolean;
}

/** A subscription's billing periods: [anchor + n·interval, anchor + (n+1)·interval). */
export interface BillingCycleInfo {
  anchor: Date;
  interval: BillingCycle;
  intervalCount: number;
}

export interface MonetizationRequest {
  api: ApiRef;
  /** The API's subscription policies (its tiers); the engine acts on the COMMERCIAL ones. */
  policies: readonly SubscriptionPolicy[];
  /** The publisher's monetization properties (additional attributes), e.g. ConnectedAccountKey. */
  properties: Readonly<Record<string, string>>;
}

export interface BillingPlanChange {
  /** Whether the engine holds a plan for the policy after the call. */
  billable: boolean;
  planId: string | null;
  /** APIs whose connected-account copy of the plan was replaced. */
  apisUpdated: number;
}

export interface MonetizationChange {
  enabled: boolean;
  /** Tier name → plan id in the publisher's account. */
  plans: Record<string, string>;
  /** False when the call found the API already in the requested state. */
  changed: boolean;
  /** Human-readable consequences, e.g. what happens to live subscriptions when disabling. */
  notes: string[];
}

export interface InvoiceLine {
  description: string;
  /** The API the line bills for, where the engine knows it. */
  apiName: string | null;
  quantity: number;
  /** Exact decimal string, minor units per unit (may be below one minor unit). */
  unitAmountDecimal: string | null;
  amount: bigint;
}

/** A pending (preview) or issued invoice; amounts in minor units of `currency`. */
export interface PendingInvoice {
  invoiceId: string | null;
  description: string | null;
  currency: string;
  accountName: string | null;
  accountCountry: string | null;
  customerEmail: string | null;
  periodStart: Date;
  periodEnd: Date;
  /**
   * The service period the invoice's lines pay for (fees in advance, usage in arrears), when the
   * engine knows it; the invoice page shows it. `periodStart`/`periodEnd` stay the engine's invoice
   * period, which WSO2's usage map reports.
   */
  servicePeriod?: { start: Date; end: Date };
  dueDate: Date | null;
  nextPaymentAttempt: Date | null;
  paid: boolean;
  subtotal: bigint;
  tax: bigint;
  total: bigint;
  amountDue: bigint;
  amountPaid: bigint;
  amountRemaining: bigint;
  lines: InvoiceLine[];
  hostedInvoiceUrl: string | null;
}

export interface ApiRevenue {
  /** Currency (lower-case ISO code) → minor units the engine collected on the API's invoices so far. */
  byCurrency: Record<string, bigint>;
  subscriptions: Array<{ subscriptionUuid: string; currency: string; amount: bigint }>;
  /**
   * Currency → minor units billed on the API's settled invoices but not collected with them: the
   * amount was below the engine's minimum charge, so the engine moved it to the customer's balance,
   * to be collected with the customer's next invoice (where it then counts in `byCurrency`).
   * Absent or empty: nothing was carried.
   */
  carriedToBalance?: Record<string, bigint>;
  /** Currency → minor units of earlier carried amounts that the API's invoices collected (part of `byCurrency`). */
  collectedFromBalance?: Record<string, bigint>;
}

export type SubscriptionAccess = 'UNBLOCKED' | 'ON_HOLD' | 'BLOCKED';

export interface SubscriptionOutcome {
  /** False when the subscription is not billed by the engine (FREE tier, unmonetized API). */
  billed: boolean;
  /** The access the gateway should give the subscription now. */
  access: SubscriptionAccess;
  engineSubscriptionId: string | null;
}

export interface UsageReport {
  subscription: SubscriptionRef;
  quantity: number;
  /** Every unit of `quantity` happened in [windowStart, windowEnd). */
  windowStart: Date;
  windowEnd: Date;
  identifier: string;
}

export type UsageReportOutcome = { sent: true } | { sent: false; reason: string };

/**
 * What the core hands an engine when it builds it: narrow ports, never the core's tables. The
 * engine asks `core` about APIs, applications, subscribers and subscriptions, and keeps its own
 * records in `store`.
 */
export interface EngineDependencies {
  core: CoreRecords;
  store: EngineStore;
  logger: Logger;
  clock: () => Date;
  tenants: TenantDirectory;
}

/**
 * The database handle for an engine's OWN tables (those its migrations create), and only those:
 * whatever it needs of the core's tables it asks `CoreRecords`.
 */
export type EngineStore = Knex;

/** An API as an engine sees it: the core's numeric id (the key of the engine's rows) and its names. */
export interface CoreApi {
  id: number;
  uuid: string;
  name: string;
  version: string;
  provider: string;
  tenantDomain: string;
}

/** An API's monetization as the core saved it (ML_API_MONETIZATION), properties parsed once by the core. */
export interface CoreApiMonetization {
  api: CoreApi;
  enabled: boolean;
  properties: Readonly<Record<string, string>>;
}

/** A gateway subscription's keys (AM_SUBSCRIPTION). */
export interface CoreSubscription {
  uuid: string;
  apiId: number;
  applicationId: number;
  tenantDomain: string;
}

/**
 * What an engine may ask of the core, answered by the core's table owners (src/apim). Numeric ids
 * are the core's row ids, which the engine's own rows refer to.
 */
export interface CoreRecords {
  apiByUuid(apiUuid: string): Promise<CoreApi | undefined>;
  /** The API's saved monetization (enabled or not); undefined when never monetized. */
  apiMonetization(apiId: number): Promise<CoreApiMonetization | undefined>;
  /** The saved monetization of every API of a tenant that has one, enabled or not. */
  apiMonetizationsOfTenant(tenantDomain: string): Promise<CoreApiMonetization[]>;
  applicationIdOf(applicationUuid: string): Promise<number | undefined>;
  /** Application UUIDs by id; ids without an application are left out. */
  applicationUuidsOf(applicationIds: readonly number[]): Promise<Map<number, string>>;
  subscriberIdOf(userId: string, tenantId: number): Promise<number | undefined>;
  /** Subscriber user ids by subscriber id; ids without a subscriber are left out. */
  subscriberUserIdsOf(subscriberIds: readonly number[]): Promise<Map<number, string>>;
  subscriptionByUuid(subscriptionUuid: string): Promise<CoreSubscription | undefined>;
  /** `subscriptionByUuid` for many UUIDs (as stored), in a few queries; missing ones are left out. Optional for other cores. */
  subscriptionsByUuids?(subscriptionUuids: readonly string[]): Promise<Map<string, CoreSubscription>>;
  /** The subscription UUID of each (API id, application id) pair that has one, keyed `apiId:applicationId`. */
  subscriptionUuidsOf(pairs: readonly { apiId: number; applicationId: number }[]): Promise<Map<string, string>>;
  /** Every subscription UUID of a tenant's APIs. */
  subscriptionUuidsOfTenant(tenantDomain: string): Promise<Set<string>>;
}

export interface TenantDirectory {
  find(domain: string): TenantSettings | undefined;
  /** Every configured tenant (an engine validates its per-tenant settings at start-up); absent in some tests. */
  all?(): readonly TenantSettings[];
}

export interface TenantSettings extends TenantRef {
  platformAccountKey: string | undefined;
  /** The engine's per-tenant secrets (`EngineCapabilities.tenantSecrets`) that are set, by key. */
  secrets: Readonly<Record<string, string>>;
}

/** A billing engine as registered by name: validates its options, then builds the engine. */
export interface MonetizationEngineFactory {
  readonly name: string;
  /**
   * Other values of `monetization_impl` that select this engine, e.g. the Java class of the WSO2
   * plugin it replaces, so a WSO2 `deployment.toml` carries over unchanged. The core never names them.
   */
  readonly aliases?: readonly string[];
  /** Known before the engine is built: config validation and log scrubbing read them. */
  readonly capabilities: EngineCapabilities;
  /** Validates `[apim.monetization.<name>]`; throws EngineOptionsError naming the bad key. */
  create(options: unknown, dependencies: EngineDependencies): Monetization;
  /**
   * The migrations of the engine's own tables (those its `store` reaches), date-named like the
   * core's: the migrator runs them with the core's in name order. A name, once released, is
   * never reused or removed: a database that ran it keeps needing it listed.
   */
  readonly migrations?: readonly EngineMigration[];
}

/** One schema change of an engine's own tables. */
export interface EngineMigration {
  readonly name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

export type MonetizationErrorCode =
  | 'BILLING_NOT_CONFIGURED'
  | 'INVALID_MONETIZATION_PROPERTIES'
  | 'INVALID_POLICY_PRICING'
  | 'NOT_MONETIZED'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'ENGINE_REJECTED'
  | 'ENGINE_UNAVAILABLE'
  | 'ENGINE_AUTHENTICATION_FAILED'
  // Usage the engine accepted is not yet in its count (it aggregates asynchronously): a final
  // invoice made now would miss it. Retryable, after `retryAfterSeconds`.
  | 'USAGE_NOT_YET_COUNTED';

/** An expected billing failure, with a message safe to show to the user (no secrets). */
export class MonetizationError extends Error {
  override readonly name = 'MonetizationError';

  constructor(
    readonly code: MonetizationErrorCode,
    message: string,
    readonly context: Record<string, unknown> = {},
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  /** For a retryable error, when the engine expects a retry may succeed (absent: it cannot tell). */
  readonly retryAfterSeconds: number | undefined;

  /** Whether the same call may succeed later without any change (rate limits, outages, counting). */
  get retryable(): boolean {
    return this.code === 'ENGINE_UNAVAILABLE' || this.code === 'USAGE_NOT_YET_COUNTED';
  }
}

export class EngineOptionsError extends Error {
  override readonly name = 'EngineOptionsError';
}
