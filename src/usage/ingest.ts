import { z } from 'zod';
import { fieldName, fieldProblems } from '../validation/issues';
import { EventStore, type StoredEvent } from './event-store';
import { describeDuration, type UsageTimeLimits } from '../monetization/capabilities';
import { oldestSendableMs } from './publisher';
import { pairKey, type NotBillableReason, type SubscriptionBilling, type SubscriptionLookup } from './subscription-lookup';

export const MAX_BATCH = 1000;

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A string field no database changes or refuses: no NUL (PostgreSQL refuses it in text) and no
 * unpaired surrogate (the drivers would store U+FFFD instead, so two ids could become one), at
 * most `max` characters (the column's width).
 */
const storableString = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((value) => !value.includes('\u0000'), 'must not contain the NUL character (U+0000)')
    .refine((value) => !UNPAIRED_SURROGATE.test(value), 'must not contain an unpaired surrogate (U+D800 to U+DFFF): it is not valid Unicode');

/**
 * One request event as a gateway reports it. `timestamp` is when the call happened: epoch
 * milliseconds or an ISO-8601 time with a zone. `subscriptionId` (AM_SUBSCRIPTION.UUID) or
 * `consumerKey` says whose call it was, alongside the API and application.
 */
const usageEventFields = z.strictObject({
  // Widths of ML_USAGE_EVENT's columns: EVENT_ID 128, API_UUID, APPLICATION_UUID and
  // CONSUMER_KEY 256, TENANT_DOMAIN 100 (subscriptionId is compared, SUBSCRIPTION_UUID is looked up).
  eventId: storableString(128),
  timestamp: z.union([z.number().int().min(0), z.iso.datetime({ offset: true })]),
  apiId: storableString(256),
  applicationId: storableString(256),
  subscriptionId: storableString(256).optional(),
  consumerKey: storableString(256).optional(),
  httpStatus: z.number().int().min(100).max(599),
  tenant: storableString(100),
});

export const usageEventSchema = usageEventFields.refine((e) => e.subscriptionId !== undefined || e.consumerKey !== undefined, {
  message: 'give subscriptionId or consumerKey',
  path: ['subscriptionId'],
});

/** What `ingest` is told about where its events come from. */
export interface IngestOptions {
  /**
   * The events come from a gateway's own analytics (src/usage/sources/wso2-analytics-log.ts),
   * which names the API and the application only: neither `subscriptionId` nor `consumerKey` is
   * required, the subscription being found from the pair, as it always is.
   */
  fromGatewayAnalytics?: boolean;
}

export type UsageEventInput = z.infer<typeof usageEventSchema>;

/** Any character the fast path leaves to zod: NUL, and any surrogate (zod tells a paired one from an unpaired). */
const NUL_OR_SURROGATE = /[\u0000\uD800-\uDFFF]/;
const EVENT_KEYS = new Set(['eventId', 'timestamp', 'apiId', 'applicationId', 'subscriptionId', 'consumerKey', 'httpStatus', 'tenant']);

const plainString = (value: unknown, max: number): value is string =>
  typeof value === 'string' && value.length >= 1 && value.length <= max && !NUL_OR_SURROGATE.test(value);
const optionalPlainString = (value: unknown, max: number) => value === undefined || plainString(value, max);

/**
 * The common event, checked without zod: a plain object of the schema's keys, a time in epoch
 * milliseconds, strings without NUL or surrogates. Answers the event when it is surely valid
 * (zod would accept it as it is), and undefined otherwise, when zod decides, and names the field
 * if it refuses. zod's per-event cost was the largest part of ingestion's own time.
 */
function surelyValid(raw: unknown, needsWho: boolean): UsageEventInput | undefined {
  if (typeof raw !== 'object' || raw === null || Object.getPrototypeOf(raw) !== Object.prototype) return undefined;
  for (const key in raw) if (!EVENT_KEYS.has(key)) return undefined;
  const e = raw as Record<string, unknown>;
  const ok =
    plainString(e.eventId, 128) &&
    typeof e.timestamp === 'number' &&
    Number.isSafeInteger(e.timestamp) &&
    e.timestamp >= 0 &&
    plainString(e.apiId, 256) &&
    plainString(e.applicationId, 256) &&
    optionalPlainString(e.subscriptionId, 256) &&
    optionalPlainString(e.consumerKey, 256) &&
    typeof e.httpStatus === 'number' &&
    Number.isSafeInteger(e.httpStatus) &&
    e.httpStatus >= 100 &&
    e.httpStatus <= 599 &&
    plainString(e.tenant, 100) &&
    (!needsWho || e.subscriptionId !== undefined || e.consumerKey !== undefined);
  return ok ? (raw as UsageEventInput) : undefined;
}

/** The batch envelope; each event is validated on its own so one bad event rejects only itself. */
export const usageBatchSchema = z.strictObject({
  events: z.array(z.unknown()).min(1).max(MAX_BATCH),
});

export type EventResult =
  | { index: number; eventId: string; status: 'accepted'; billable: boolean; reason?: NotBillableReason }
  | { index: number; eventId: string; status: 'duplicate' }
  | { index: number; eventId: string | null; status: 'rejected'; errors: Array<{ field: string; message: string }> };

export interface BatchResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  results: EventResult[];
}

/**
 * Ingestion: validates each event, decides whether it is billable (a successful call by a
 * subscription billed per request, inside the subscription's time), and stores it once per
 * tenant and event id. Everything valid is stored, billable or not; only malformed events, and
 * times the billing engine would refuse (in the future, or older than it accepts), are
 * rejected, each with its own reasons. Concurrent batches repeating an event: exactly one
 * answers `accepted`, the others `duplicate` (decided by the database's unique key).
 */
export class UsageIngestion {
  private readonly store: EventStore;

  constructor(
    db: ConstructorParameters<typeof EventStore>[0],
    private readonly lookup: SubscriptionLookup,
    private readonly clock: () => Date,
    /** The billing engine's (`EngineCapabilities.usage`): times it would refuse are refused at the door. */
    private readonly limits: UsageTimeLimits,
  ) {
    this.store = new EventStore(db);
  }

  async ingest(events: readonly unknown[], options: IngestOptions = {}): Promise<BatchResult> {
    const schema = options.fromGatewayAnalytics ? usageEventFields : usageEventSchema;
    const now = this.clock().getTime();
    const results = new Array<EventResult>(events.length);
    const valid: Array<{ index: number; input: UsageEventInput; eventTime: number; billing: SubscriptionBilling | undefined; pair: string | undefined }> = [];
    // The pairs with no cached answer: read (or awaited) together after the loop.
    const missing = new Map<string, readonly [apiUuid: string, applicationUuid: string]>();
    const lookedUpAt = this.lookup.now();
    const latest = now + this.limits.futureToleranceMs;
    const earliest = now - oldestSendableMs(this.limits);
    let rejected = 0;
    for (let index = 0; index < events.length; index += 1) {
      const raw = events[index];
      let input = surelyValid(raw, !options.fromGatewayAnalytics);
      if (input === undefined) {
        const parsed = schema.safeParse(raw);
        if (!parsed.success) {
          const rawId = typeof (raw as { eventId?: unknown })?.eventId === 'string' ? (raw as { eventId: string }).eventId : null;
          rejected += 1;
          results[index] = { index, eventId: rawId, status: 'rejected', errors: fieldProblems(parsed.error.issues, { whole: 'body', at: ['events', index] }) };
          continue;
        }
        input = parsed.data;
      }
      const eventTime = typeof input.timestamp === 'number' ? input.timestamp : Date.parse(input.timestamp);
      const timeProblem = !Number.isFinite(eventTime)
        ? 'is not a valid time'
        : eventTime > latest
          ? `is more than ${describeDuration(this.limits.futureToleranceMs)} in the future`
          : eventTime < earliest
            ? `is older than the billing engine accepts usage (${describeDuration(this.limits.backdatingLimitMs)})`
            : null;
      if (timeProblem !== null) {
        rejected += 1;
        results[index] = { index, eventId: input.eventId, status: 'rejected', errors: [{ field: fieldName(['events', index, 'timestamp'], 'body'), message: timeProblem }] };
        continue;
      }
      // An event repeated in the batch goes on too: the store stores its first copy and answers
      // false for the later ones, which are answered `duplicate` (a second set of keys cost 0.3 ms a batch).
      const billing = this.lookup.cachedBilling(input.apiId, input.applicationId, lookedUpAt);
      let pair: string | undefined;
      if (billing === undefined) {
        pair = pairKey(input.apiId, input.applicationId);
        if (!missing.has(pair)) missing.set(pair, [input.apiId, input.applicationId]);
      }
      valid.push({ index, input, eventTime, billing, pair });
    }
    // One read per distinct (API, application) pair the cache did not answer, not one per event.
    this.lookup.refreshCached(lookedUpAt);
    const read = missing.size > 0 ? await this.lookup.billingOfKeyedPairs(missing) : undefined;
    const toStore = valid.map(({ input, eventTime, billing, pair }) => classify(input, eventTime, now, billing ?? read!.get(pair!)!));
    const stored = await this.store.insert(toStore);
    let accepted = 0;
    valid.forEach(({ index }, i) => {
      const event = toStore[i]!;
      if (stored[i]) {
        accepted += 1;
        results[index] = {
          index,
          eventId: event.eventId,
          status: 'accepted',
          billable: event.notBillable === null,
          ...(event.notBillable === null ? {} : { reason: event.notBillable }),
        };
      } else {
        results[index] = { index, eventId: event.eventId, status: 'duplicate' };
      }
    });
    return { accepted, duplicates: events.length - accepted - rejected, rejected, results };
  }
}

/** Whether a valid event is billed, and why not, from its pair's billing. */
function classify(input: UsageEventInput, eventTime: number, now: number, billing: SubscriptionBilling): StoredEvent {
  let notBillable: NotBillableReason | null = billing.notBillable;
  if (billing.subscriptionUuid !== null && input.subscriptionId !== undefined && input.subscriptionId !== billing.subscriptionUuid) {
    notBillable = 'SUBSCRIPTION_MISMATCH';
  } else if (billing.tenantDomain !== null && billing.tenantDomain !== input.tenant) {
    notBillable = 'TENANT_MISMATCH';
  } else if (input.httpStatus < 200 || input.httpStatus > 299) {
    notBillable = notBillable ?? 'UNSUCCESSFUL_CALL';
  } else if (notBillable === null && billing.startedAt !== null && eventTime < billing.startedAt) {
    // The engine bills usage inside the subscription's periods only: earlier usage would be
    // sent and never invoiced.
    notBillable = 'BEFORE_SUBSCRIPTION';
  }
  return {
    eventId: input.eventId,
    eventTime,
    apiUuid: input.apiId,
    applicationUuid: input.applicationId,
    subscriptionUuid: billing.subscriptionUuid,
    consumerKey: input.consumerKey ?? null,
    tenantDomain: input.tenant,
    httpStatus: input.httpStatus,
    quantity: 1,
    receivedAt: now,
    notBillable,
  };
}
