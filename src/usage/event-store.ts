import type { Knex } from 'knex';
import { dialectOf } from '../db/dialect';
import type { NotBillableReason } from './subscription-lookup';

type Db = Knex | Knex.Transaction;

export const EVENT_TABLE = 'ML_USAGE_EVENT';

/** ML_USAGE_EVENT.PUBLISH_STATE */
export const PublishState = { NOT_BILLABLE: 0, PENDING: 1, FROZEN: 2 } as const;

/** One event as stored. Times are epoch milliseconds. */
export interface StoredEvent {
  eventId: string;
  eventTime: number;
  apiUuid: string;
  applicationUuid: string;
  subscriptionUuid: string | null;
  consumerKey: string | null;
  tenantDomain: string;
  httpStatus: number;
  quantity: number;
  receivedAt: number;
  notBillable: NotBillableReason | null;
}

/** The billable usage of one subscription in one UTC hour, frozen in one batch. */
export interface FrozenHour {
  subscriptionUuid: string;
  apiUuid: string;
  hour: number;
  quantity: number;
  firstEventSeq: number;
}

/**
 * The event store: every event ingested, once per EVENT_ID. The publisher moves billable events
 * from PENDING to FROZEN in batches; a frozen event belongs to exactly one usage record.
 */
export class EventStore {
  constructor(private readonly db: Knex) {}

  /**
   * Stores the events whose ids are new and returns the ids that were already stored (they are
   * left untouched: an event is never counted twice). Concurrent inserts of the same id are
   * settled by the unique key.
   */
  async insert(events: readonly StoredEvent[]): Promise<Set<string>> {
    const existing = new Set<string>();
    if (events.length === 0) return existing;
    const ids = events.map((e) => e.eventId);
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db(EVENT_TABLE).whereIn('EVENT_ID', ids.slice(i, i + 500)).select('EVENT_ID');
      for (const row of rows) existing.add(String(row.EVENT_ID));
    }
    const fresh = events.filter((e) => !existing.has(e.eventId)).map(toRow);
    await insertIgnoringDuplicates(this.db, EVENT_TABLE, fresh, 'EVENT_ID');
    return existing;
  }

  /** Subscriptions with billable events not yet frozen. */
  async subscriptionsWithPendingUsage(): Promise<string[]> {
    const rows = await this.db(EVENT_TABLE).where({ PUBLISH_STATE: PublishState.PENDING }).distinct('SUBSCRIPTION_UUID');
    return rows.map((row) => String(row.SUBSCRIPTION_UUID));
  }

  /** Freezes the subscriptions' billable events before `cutoff` into `batch`. Returns the events frozen. */
  async freeze(tx: Knex.Transaction, subscriptions: readonly string[], cutoff: number, batch: number): Promise<number> {
    return tx(EVENT_TABLE)
      .where({ PUBLISH_STATE: PublishState.PENDING })
      .whereIn('SUBSCRIPTION_UUID', subscriptions)
      .where('EVENT_TIME', '<', cutoff)
      .update({ PUBLISH_STATE: PublishState.FROZEN, FREEZE_BATCH: batch });
  }

  /** The batch's usage per subscription and hour. */
  async frozenHours(tx: Db, batch: number): Promise<FrozenHour[]> {
    const rows = (await tx(EVENT_TABLE)
      .where({ FREEZE_BATCH: batch })
      .groupBy('SUBSCRIPTION_UUID', 'API_UUID', 'EVENT_HOUR')
      .select('SUBSCRIPTION_UUID', 'API_UUID', 'EVENT_HOUR')
      .sum({ QUANTITY: 'QUANTITY' })
      .min({ FIRST_SEQ: 'SEQ' })) as Array<Record<string, unknown>>;
    return rows.map((row) => ({
      subscriptionUuid: String(row.SUBSCRIPTION_UUID),
      apiUuid: String(row.API_UUID),
      hour: Number(row.EVENT_HOUR),
      quantity: Number(row.QUANTITY),
      firstEventSeq: Number(row.FIRST_SEQ),
    }));
  }

  /**
   * The batch's events in the given hours (time, quantity, sequence), for the few windows cut at
   * a period boundary: one query for all of them, split in memory.
   */
  async frozenEventsInHours(tx: Db, batch: number, hours: readonly number[]): Promise<Array<{ subscriptionUuid: string; time: number; quantity: number; seq: number }>> {
    const found: Array<{ subscriptionUuid: string; time: number; quantity: number; seq: number }> = [];
    for (let i = 0; i < hours.length; i += 500) {
      const rows = (await tx(EVENT_TABLE)
        .where({ FREEZE_BATCH: batch })
        .whereIn('EVENT_HOUR', hours.slice(i, i + 500))
        .select('SUBSCRIPTION_UUID', 'EVENT_TIME', 'QUANTITY', 'SEQ')) as Array<Record<string, unknown>>;
      for (const row of rows) {
        found.push({ subscriptionUuid: String(row.SUBSCRIPTION_UUID), time: Number(row.EVENT_TIME), quantity: Number(row.QUANTITY), seq: Number(row.SEQ) });
      }
    }
    return found;
  }

  /** Billable calls stored per subscription (frozen or not): what the engine must end up billing. */
  async billableTotals(): Promise<Map<string, number>> {
    const rows = (await this.db(EVENT_TABLE)
      .whereIn('PUBLISH_STATE', [PublishState.PENDING, PublishState.FROZEN])
      .groupBy('SUBSCRIPTION_UUID')
      .select('SUBSCRIPTION_UUID')
      .sum({ QUANTITY: 'QUANTITY' })) as Array<Record<string, unknown>>;
    return new Map(rows.map((row) => [String(row.SUBSCRIPTION_UUID), Number(row.QUANTITY)]));
  }
}

function toRow(e: StoredEvent): Record<string, unknown> {
  return {
    EVENT_ID: e.eventId,
    EVENT_TIME: e.eventTime,
    EVENT_HOUR: Math.floor(e.eventTime / 3_600_000),
    API_UUID: e.apiUuid,
    APPLICATION_UUID: e.applicationUuid,
    SUBSCRIPTION_UUID: e.subscriptionUuid,
    CONSUMER_KEY: e.consumerKey,
    TENANT_DOMAIN: e.tenantDomain,
    HTTP_STATUS: e.httpStatus,
    QUANTITY: e.quantity,
    RECEIVED_AT: e.receivedAt,
    PUBLISH_STATE: e.notBillable === null ? PublishState.PENDING : PublishState.NOT_BILLABLE,
    NOT_BILLABLE: e.notBillable,
    FREEZE_BATCH: null,
  };
}

/**
 * Multi-row insert that skips rows whose unique key is taken: `ON CONFLICT DO NOTHING` (PostgreSQL,
 * SQLite) and `INSERT IGNORE` (MySQL) through knex's `onConflict().ignore()`; SQL Server and
 * Oracle have no such clause in knex, so there each row is inserted alone and a duplicate-key
 * error is passed over.
 */
export async function insertIgnoringDuplicates(db: Db, table: string, rows: readonly Record<string, unknown>[], key: string): Promise<void> {
  const dialect = dialectOf(db as Knex);
  if (dialect === 'mssql' || dialect === 'oracle') {
    for (const row of rows) {
      try {
        await db(table).insert(row);
      } catch (error) {
        const exists = await db(table).where({ [key]: row[key] }).first(key);
        if (!exists) throw error;
      }
    }
    return;
  }
  const chunk = 500;
  for (let i = 0; i < rows.length; i += chunk) {
    await db(table).insert(rows.slice(i, i + chunk)).onConflict(key).ignore();
  }
}
