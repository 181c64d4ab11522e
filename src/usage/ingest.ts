import { z } from 'zod';
import { EventStore, type StoredEvent } from './event-store';
import type { NotBillableReason, SubscriptionLookup } from './subscription-lookup';

/** Stripe refuses meter events more than 5 minutes ahead of its clock; so do we, at the door. */
const MAX_FUTURE_MS = 5 * 60_000;
export const MAX_BATCH = 1000;

/**
 * One request event as a gateway reports it. `timestamp` is when the call happened: epoch
 * milliseconds or an ISO-8601 time with a zone. `subscriptionId` (AM_SUBSCRIPTION.UUID) or
 * `consumerKey` says whose call it was, alongside the API and application.
 */
export const usageEventSchema = z
  .strictObject({
    eventId: z.string().min(1).max(128),
    timestamp: z.union([z.number().int().min(0), z.iso.datetime({ offset: true })]),
    apiId: z.string().min(1).max(256),
    applicationId: z.string().min(1).max(256),
    subscriptionId: z.string().min(1).max(256).optional(),
    consumerKey: z.string().min(1).max(256).optional(),
    httpStatus: z.number().int().min(100).max(599),
    tenant: z.string().min(1).max(100),
  })
  .refine((e) => e.subscriptionId !== undefined || e.consumerKey !== undefined, {
    message: 'give subscriptionId or consumerKey',
    path: ['subscriptionId'],
  });

export type UsageEventInput = z.infer<typeof usageEventSchema>;

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
 * subscription billed per request), and stores it once per event id. Everything valid is
 * stored, billable or not; only malformed events are rejected, each with its own reasons.
 */
export class UsageIngestion {
  private readonly store: EventStore;

  constructor(
    db: ConstructorParameters<typeof EventStore>[0],
    private readonly lookup: SubscriptionLookup,
    private readonly clock: () => Date,
  ) {
    this.store = new EventStore(db);
  }

  async ingest(events: readonly unknown[]): Promise<BatchResult> {
    const now = this.clock().getTime();
    const results: EventResult[] = [];
    const toStore: Array<{ index: number; event: StoredEvent }> = [];
    const seenInBatch = new Set<string>();
    for (const [index, raw] of events.entries()) {
      const parsed = usageEventSchema.safeParse(raw);
      const rawId = typeof (raw as { eventId?: unknown })?.eventId === 'string' ? (raw as { eventId: string }).eventId : null;
      if (!parsed.success) {
        results.push({ index, eventId: rawId, status: 'rejected', errors: parsed.error.issues.flatMap((issue) => issueMessages(issue, index)) });
        continue;
      }
      const input = parsed.data;
      const eventTime = typeof input.timestamp === 'number' ? input.timestamp : Date.parse(input.timestamp);
      if (eventTime > now + MAX_FUTURE_MS) {
        results.push({
          index,
          eventId: input.eventId,
          status: 'rejected',
          errors: [{ field: `events[${index}].timestamp`, message: 'is more than 5 minutes in the future' }],
        });
        continue;
      }
      if (seenInBatch.has(input.eventId)) {
        results.push({ index, eventId: input.eventId, status: 'duplicate' });
        continue;
      }
      seenInBatch.add(input.eventId);
      toStore.push({ index, event: await this.classify(input, eventTime, now) });
    }
    const existing = await this.store.insert(toStore.map((s) => s.event));
    for (const { index, event } of toStore) {
      results.push(
        existing.has(event.eventId)
          ? { index, eventId: event.eventId, status: 'duplicate' }
          : {
              index,
              eventId: event.eventId,
              status: 'accepted',
              billable: event.notBillable === null,
              ...(event.notBillable === null ? {} : { reason: event.notBillable }),
            },
      );
    }
    results.sort((a, b) => a.index - b.index);
    return {
      accepted: results.filter((r) => r.status === 'accepted').length,
      duplicates: results.filter((r) => r.status === 'duplicate').length,
      rejected: results.filter((r) => r.status === 'rejected').length,
      results,
    };
  }

  private async classify(input: UsageEventInput, eventTime: number, now: number): Promise<StoredEvent> {
    const billing = await this.lookup.billingOf(input.apiId, input.applicationId);
    let notBillable: NotBillableReason | null = billing.notBillable;
    if (billing.subscriptionUuid !== null && input.subscriptionId !== undefined && input.subscriptionId !== billing.subscriptionUuid) {
      notBillable = 'SUBSCRIPTION_MISMATCH';
    } else if (billing.tenantDomain !== null && billing.tenantDomain !== input.tenant) {
      notBillable = 'TENANT_MISMATCH';
    } else if (input.httpStatus < 200 || input.httpStatus > 299) {
      notBillable = notBillable ?? 'UNSUCCESSFUL_CALL';
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
}

function issueMessages(issue: z.core.$ZodIssue, index: number): Array<{ field: string; message: string }> {
  const base = `events[${index}]`;
  const path = (keys: readonly PropertyKey[]) => [base, ...keys.map(String)].join('.');
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ field: path([...issue.path, key]), message: 'is not a supported field' }));
  return [{ field: path(issue.path), message: issue.message }];
}
