import type { Knex } from 'knex';
import type { Monetization } from '../monetization/monetization';
import { RecordStore, type UsageRecord } from './record-store';
import type { GatewaySubscriptions } from './subscription-lookup';

/** What to re-queue: one record, or every ENGINE_ERROR record of a subscription. */
export type RequeueTarget = { recordId: number } | { subscriptionUuid: string };

export interface RequeuedRecord {
  recordId: number;
  subscriptionId: string;
  apiId: string;
  windowStart: string;
  windowEnd: string;
  quantity: number;
  /** The identifier the engine refused, and the one the record is sent under next. */
  previousIdentifier: string;
  identifier: string;
}

export interface RequeueResult {
  requeued: RequeuedRecord[];
}

/** No such record, or a subscription with no ENGINE_ERROR record. */
export class RequeueNotFoundError extends Error {
  override readonly name = 'RequeueNotFoundError';
}

/** The record is not ENGINE_ERROR, or the engine counted its usage after all: not re-queued. */
export class RequeueConflictError extends Error {
  override readonly name = 'RequeueConflictError';
}

export interface UsageRequeueDependencies {
  engine: Pick<Monetization, 'usageAsBilled'>;
  subscriptions: Pick<GatewaySubscriptions, 'subscriptionRefs'>;
  tenantIdOf: (domain: string) => number | undefined;
}

export type UsageRequeuer = (target: RequeueTarget) => Promise<RequeueResult>;

/**
 * `meterline usage requeue` and `POST .../monetization/usage-records/requeue`: puts usage the
 * engine reported it could not bill (ENGINE_ERROR, e.g. a Stripe meter error report) back to be
 * published, once, under a new identifier (RecordStore.requeueEngineError).
 *
 * Never billed twice:
 * - a report that arrives again names the old identifier, which no record carries any more, so it
 *   cannot mark the re-queued record (it is answered as a duplicate);
 * - a report that was wrong (the engine did count the event): before re-queuing, the engine is
 *   asked what it counted over the record's window (`usageAsBilled`); when that already covers
 *   the record's quantity beside the other usage Meterline had accepted there, the record is not
 *   re-queued (409). Without that answer (an engine that cannot tell, a subscription it no longer
 *   bills) nothing is re-queued either.
 */
export function usageRequeuer(db: Knex, deps: UsageRequeueDependencies): UsageRequeuer {
  const store = new RecordStore(db);
  return async (target) => {
    let candidates: UsageRecord[];
    if ('recordId' in target) {
      const [record] = await store.list({ id: target.recordId });
      if (!record) throw new RequeueNotFoundError(`usage record ${target.recordId} was not found`);
      if (record.state !== 'ENGINE_ERROR') throw new RequeueConflictError(`usage record ${record.id} is ${record.state}, not ENGINE_ERROR: only usage the engine reported it could not bill is re-queued`);
      candidates = [record];
    } else {
      candidates = await store.list({ subscriptionUuid: target.subscriptionUuid, state: 'ENGINE_ERROR' });
      if (candidates.length === 0) throw new RequeueNotFoundError(`subscription ${target.subscriptionUuid} has no ENGINE_ERROR usage record`);
    }
    for (const record of candidates) await checkNotCounted(store, deps, record);
    const requeued: RequeuedRecord[] = [];
    for (const record of candidates) {
      const result = await store.requeueEngineError(record.id);
      if (result.outcome === 'not_found') throw new RequeueNotFoundError(`usage record ${record.id} was not found`);
      if (result.outcome === 'wrong_state') throw new RequeueConflictError(`usage record ${record.id} is ${result.state}, not ENGINE_ERROR (re-queued meanwhile?)`);
      requeued.push({
        recordId: record.id,
        subscriptionId: record.subscriptionUuid,
        apiId: record.apiUuid,
        windowStart: new Date(record.windowStart).toISOString(),
        windowEnd: new Date(record.windowEnd).toISOString(),
        quantity: record.quantity,
        previousIdentifier: record.identifier,
        identifier: result.record.identifier,
      });
    }
    return { requeued };
  };
}

/** Refuses (409) a record whose usage the engine counted after all, or when the engine cannot say. */
async function checkNotCounted(store: RecordStore, deps: UsageRequeueDependencies, record: UsageRecord): Promise<void> {
  const asBilled = deps.engine.usageAsBilled?.bind(deps.engine);
  if (!asBilled) throw new RequeueConflictError('the billing engine cannot say what it counted, so re-sending could bill twice: not re-queued');
  const ref = (await deps.subscriptions.subscriptionRefs([record.subscriptionUuid], deps.tenantIdOf)).get(record.subscriptionUuid);
  if (!ref) throw new RequeueConflictError(`subscription ${record.subscriptionUuid} no longer exists in Meterline: not re-queued`);
  const billed = await asBilled(ref, { start: new Date(record.windowStart), end: new Date(record.windowEnd) });
  if (!billed) throw new RequeueConflictError(`the billing engine no longer bills subscription ${record.subscriptionUuid}: not re-queued`);
  const from = billed.counted.from.getTime();
  const to = billed.counted.to.getTime();
  const others = (await store.list({ subscriptionUuid: record.subscriptionUuid }))
    .filter((r) => r.id !== record.id && r.sentAt !== null && r.state !== 'ENGINE_ERROR' && r.windowStart >= from && r.windowStart < to)
    .reduce((n, r) => n + r.quantity, 0);
  if (billed.counted.quantity >= others + record.quantity) {
    throw new RequeueConflictError(
      `the engine counted ${billed.counted.quantity} from ${billed.counted.from.toISOString()} to ${billed.counted.to.toISOString()}, which covers record ${record.id}'s ${record.quantity} beside the ${others} other usage sent there: its error report does not hold, so it is not re-queued`,
    );
  }
}
