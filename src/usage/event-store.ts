import type { Knex } from 'knex';
import { dialectOf } from '../db/dialect';
import type { NotBillableReason } from './subscription-lookup';

type Db = Knex | Knex.Transaction;

export const EVENT_TABLE = 'ML_USAGE_EVENT';

/** ML_USAGE_EVENT.PUBLISH_STATE: decided at ingestion, never changed afterwards. */
export const PublishState = { NOT_BILLABLE: 0, BILLABLE: 1 } as const;

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

/** Billable events in a SEQ range (after, upTo]. */
export interface SeqRange {
  after: number;
  upTo: number;
}

/**
 * The event store: every event ingested, once per EVENT_ID. Rows are written once and never
 * updated: the publisher reads them by ranges of SEQ (the identity column), which is what makes
 * freezing a grouped read instead of an UPDATE of every event.
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

  /**
   * The highest SEQ below which no event can appear any more. SEQ values are handed out in
   * increasing order, but an insert that took a lower SEQ may commit after one that took a
   * higher: so the largest committed SEQ is read only once no insert is in flight, behind a
   * short lock that waits for open inserting transactions (and holds new ones back for the
   * length of one MAX over the primary key). Every later insert gets a larger SEQ.
   * - SQLite has one writer at a time and AUTOINCREMENT never reuses a value: a plain read;
   * - PostgreSQL and Oracle: `LOCK TABLE ... IN SHARE MODE` conflicts with every writer;
   * - MySQL/MariaDB: `LOCK TABLES ... READ` waits for the metadata locks writers hold to commit;
   * - SQL Server: a shared table lock held to the end of the read (`TABLOCK, HOLDLOCK`).
   */
  async settledSeq(): Promise<number> {
    const dialect = dialectOf(this.db);
    const maxSeq = async (db: Db) => Number((await db(EVENT_TABLE).max({ M: 'SEQ' }).first())?.M ?? 0);
    switch (dialect) {
      case 'sqlite':
        return maxSeq(this.db);
      case 'postgres':
      case 'oracle':
        return this.db.transaction(async (tx) => {
          await tx.raw('LOCK TABLE ?? IN SHARE MODE', [EVENT_TABLE]);
          return maxSeq(tx);
        });
      case 'mysql':
        return this.db.transaction(async (tx) => {
          await tx.raw('LOCK TABLES ?? READ', [EVENT_TABLE]);
          try {
            return await maxSeq(tx);
          } finally {
            await tx.raw('UNLOCK TABLES');
          }
        });
      case 'mssql':
        return this.db.transaction(async (tx) => {
          const rows = (await tx.raw('SELECT MAX(SEQ) AS M FROM ?? WITH (TABLOCK, HOLDLOCK)', [EVENT_TABLE])) as Array<{ M: unknown }>;
          return Number(rows[0]?.M ?? 0);
        });
    }
  }

  /** Billable usage of the range per subscription, API and UTC hour, with the first SEQ of each. */
  async hourlyUsage(range: SeqRange): Promise<Array<{ subscriptionUuid: string; apiUuid: string; hour: number; quantity: number; firstSeq: number }>> {
    if (range.upTo <= range.after) return [];
    const rows = (await this.db(EVENT_TABLE)
      .where('SEQ', '>', range.after)
      .andWhere('SEQ', '<=', range.upTo)
      .andWhere({ PUBLISH_STATE: PublishState.BILLABLE })
      .groupBy('SUBSCRIPTION_UUID', 'API_UUID', 'EVENT_HOUR')
      .select('SUBSCRIPTION_UUID', 'API_UUID', 'EVENT_HOUR')
      .sum({ QUANTITY: 'QUANTITY' })
      .min({ FIRST_SEQ: 'SEQ' })) as Array<Record<string, unknown>>;
    return rows.map((row) => ({
      subscriptionUuid: String(row.SUBSCRIPTION_UUID),
      apiUuid: String(row.API_UUID),
      hour: Number(row.EVENT_HOUR),
      quantity: Number(row.QUANTITY),
      firstSeq: Number(row.FIRST_SEQ),
    }));
  }

  /**
   * The range's billable events of the given subscriptions in the given hours (time, quantity,
   * SEQ), for the few hours cut at a period boundary: one read of the range per 500 hours (the
   * subscriptions are picked in memory: a list of them in SQL would mean a read per 500).
   */
  async eventsInHours(
    range: SeqRange,
    subscriptions: readonly string[],
    hours: readonly number[],
  ): Promise<Array<{ subscriptionUuid: string; time: number; quantity: number; seq: number }>> {
    const wanted = new Set(subscriptions);
    const found: Array<{ subscriptionUuid: string; time: number; quantity: number; seq: number }> = [];
    for (let i = 0; i < hours.length; i += 500) {
      const rows = (await this.db(EVENT_TABLE)
        .where('SEQ', '>', range.after)
        .andWhere('SEQ', '<=', range.upTo)
        .andWhere({ PUBLISH_STATE: PublishState.BILLABLE })
        .whereIn('EVENT_HOUR', hours.slice(i, i + 500))
        .select('SUBSCRIPTION_UUID', 'EVENT_TIME', 'QUANTITY', 'SEQ')) as Array<Record<string, unknown>>;
      for (const row of rows) {
        const subscriptionUuid = String(row.SUBSCRIPTION_UUID);
        if (wanted.has(subscriptionUuid)) found.push({ subscriptionUuid, time: Number(row.EVENT_TIME), quantity: Number(row.QUANTITY), seq: Number(row.SEQ) });
      }
    }
    return found;
  }

  /** Billable calls stored per subscription: what the engine must end up billing. */
  async billableTotals(): Promise<Map<string, number>> {
    const rows = (await this.db(EVENT_TABLE)
      .where({ PUBLISH_STATE: PublishState.BILLABLE })
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
    PUBLISH_STATE: e.notBillable === null ? PublishState.BILLABLE : PublishState.NOT_BILLABLE,
    NOT_BILLABLE: e.notBillable,
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
