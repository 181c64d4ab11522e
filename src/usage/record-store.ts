import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { dialectOf } from '../db/dialect';
import { withDriverConnection } from '../db/driver-connection';
import { pgCopyInFields } from './pg-copy-in';

type Db = Knex | Knex.Transaction;

export const RECORD_TABLE = 'ML_USAGE_RECORD';

/**
 * - PENDING: frozen, not yet confirmed sent (sent again, with the same identifier, until it is);
 * - SENT: the billing engine accepted it (or already had it);
 * - NOT_BILLED: the engine does not bill the subscription any more (reported, not retried);
 * - EXPIRED: the window is older than the engine accepts (its `backdatingLimitMs` capability) —
 *   reported, not sent;
 * - UNCERTAIN: a send was attempted longer ago than the engine surely remembers its identifier
 *   (its `identifierMemoryMs` capability), so sending again might bill twice — reported for a
 *   person to settle;
 * - MISSED: the window's billing period was closed to usage (its `periodUsageGraceMs` capability
 *   after the period end) before the window could be sent, so it is not on that period's invoice;
 *   or it was sent so close to that moment that it may not be — reported for a person to settle.
 * - ENGINE_ERROR: the engine accepted it, then reported it could not bill it (its reason in
 *   LAST_ERROR) — reported for a person to settle, not sent again.
 */
export type RecordState = 'PENDING' | 'SENT' | 'NOT_BILLED' | 'EXPIRED' | 'UNCERTAIN' | 'MISSED' | 'ENGINE_ERROR';

export interface UsageRecord {
  id: number;
  subscriptionUuid: string;
  apiUuid: string;
  windowStart: number;
  windowEnd: number;
  /** The smallest event SEQ in the record (another source's part): tells apart records of one window. */
  firstEventSeq: number;
  freezeBatch: number;
  source: string;
  /** The freeze's source range (positionAfter, positionUpTo]. */
  positionAfter: number;
  positionUpTo: number;
  quantity: number;
  identifier: string;
  state: RecordState;
  attempts: number;
  createdAt: number;
  firstAttemptAt: number | null;
  sentAt: number | null;
  lastError: string | null;
}

export type NewRecord = Omit<UsageRecord, 'id' | 'state' | 'attempts' | 'firstAttemptAt' | 'sentAt' | 'lastError'>;

/** A new record whose freeze batch may be given for the whole insert instead (`insert`'s `freezeBatch`). */
export type InsertedRecord = Omit<NewRecord, 'freezeBatch'> & { freezeBatch?: number };

/**
 * Rows per multi-row INSERT of 17 columns: SQL Server allows 2,100 parameters, SQLite 500 terms
 * of a compound SELECT (knex's form) and 32,766 variables; PostgreSQL 65,535 parameters.
 */
const ROWS_PER_INSERT: Record<ReturnType<typeof dialectOf>, number> = { mssql: 120, oracle: 120, sqlite: 500, postgres: 2_000, mysql: 2_000 };

export type EngineErrorMark = 'recorded' | 'already_recorded' | 'unknown';

/** The order records are sent in: per subscription, by window (RECORD_ID makes it total, for keyset reads). */
const PENDING_ORDER = ['SUBSCRIPTION_UUID', 'WINDOW_START', 'FIRST_EVENT_SEQ', 'RECORD_ID'];

/** One subscription's records in the order they are sent (PENDING_ORDER): by window, then part, then id. */
export function byWindow(a: UsageRecord, b: UsageRecord): number {
  return a.windowStart - b.windowStart || a.firstEventSeq - b.firstEventSeq || a.id - b.id;
}

/** How many generations of re-sent identifiers a repeated error report is traced through. */
const REQUEUE_LINEAGE_CHECKED = 16;

/**
 * The identifier a re-queued record is sent under the next time: derived from the one the engine
 * refused (deterministic, so a repeated error report naming an earlier one is recognised), within
 * the engines' 100 characters and the characters usage identifiers use.
 */
export function resendIdentifier(identifier: string): string {
  return `mlu_r_${createHash('sha256').update(identifier).digest('hex').slice(0, 48)}`;
}

/** The usage records: what was frozen for the billing engine and how far sending it got. */
export class RecordStore {
  constructor(private readonly db: Knex) {}

  /**
   * Inserts frozen records as PENDING. The fastest plain insert each database has, as freezing
   * writes one record per subscription and window (hundreds of thousands in a large freeze):
   * PostgreSQL COPY (all or nothing per statement, as an insert; the freeze's benchmark floor
   * loads by it too); SQLite a plain `VALUES` list (knex writes SQLite's multi-row insert as a
   * slower `UNION ALL` compound select); the others knex's multi-row insert. `freezeBatch`: the
   * batch of every record (else each record's own), so a freeze need not copy its records to
   * stamp them.
   */
  async insert(tx: Db, records: readonly InsertedRecord[], freezeBatch?: number): Promise<void> {
    const batchOf = (r: InsertedRecord): number => {
      const batch = freezeBatch ?? r.freezeBatch;
      if (batch === undefined) throw new Error(`record ${r.identifier} has no freeze batch`);
      return batch;
    };
    const dialect = dialectOf(tx as Knex);
    if (dialect === 'postgres') {
      // One COPY at a time: building the next while the server ran one measured no faster (2,000,000
      // events, 3 rounds: 5.25 -> 5.38 s; with `unnest` inserts as well), unlike MariaDB's.
      const fields = insertedValuesOf(batchOf);
      for (let i = 0; i < records.length; i += PG_ROWS_PER_COPY) await pgCopyInFields(tx as Knex, RECORD_TABLE, INSERTED_COLUMNS, records.slice(i, i + PG_ROWS_PER_COPY), fields);
      return;
    }
    const chunk = ROWS_PER_INSERT[dialect];
    const knexInsert = (part: readonly InsertedRecord[]) => tx(RECORD_TABLE).insert(part.map((r) => toRow(r, batchOf(r)))).then(() => undefined);
    if (dialect === 'mysql') return oneAhead(records, chunk, knexInsert);
    for (let i = 0; i < records.length; i += chunk) {
      const part = records.slice(i, i + chunk);
      if (dialect === 'sqlite') await insertValues(tx, part, batchOf, chunk);
      else await knexInsert(part);
    }
  }

  /** Every record still to send, per subscription in window order. */
  async pending(): Promise<UsageRecord[]> {
    const rows = await this.db(RECORD_TABLE).where({ STATE: 'PENDING' }).orderBy(['SUBSCRIPTION_UUID', 'WINDOW_START', 'FIRST_EVENT_SEQ']);
    return rows.map(toRecord);
  }

  /** How many subscriptions have records still to send (a job's total, counted without reading them). */
  async pendingSubscriptionCount(): Promise<number> {
    const row = (await this.db(RECORD_TABLE).where({ STATE: 'PENDING' }).countDistinct({ N: 'SUBSCRIPTION_UUID' }).first()) as { N?: unknown } | undefined;
    return Number(row?.N ?? 0);
  }

  /**
   * At most `limit` records still to send, of the subscriptions after `afterSubscription`, in
   * subscription order: how a job reads its work a page at a time. Keyset on the state index and
   * ordered as it is (no sort of the whole backlog per page); within a subscription the caller
   * orders them (`byWindow`), and a full page's last subscription may have more (`pendingOf`).
   */
  async pendingPage(afterSubscription: string | undefined, limit: number): Promise<UsageRecord[]> {
    const query = this.db(RECORD_TABLE).where({ STATE: 'PENDING' }).orderBy(['SUBSCRIPTION_UUID', 'WINDOW_START']).limit(limit);
    if (afterSubscription !== undefined) query.where('SUBSCRIPTION_UUID', '>', afterSubscription);
    return (await query).map(toRecord);
  }

  /** At most `limit` of one subscription's records still to send, after `after` when given, in window order. */
  async pendingOf(subscriptionUuid: string, after: Pick<UsageRecord, 'windowStart' | 'firstEventSeq' | 'id'> | undefined, limit: number): Promise<UsageRecord[]> {
    const query = this.db(RECORD_TABLE).where({ STATE: 'PENDING', SUBSCRIPTION_UUID: subscriptionUuid }).orderBy(PENDING_ORDER).limit(limit);
    if (after) {
      query.andWhere((q) =>
        q
          .where('WINDOW_START', '>', after.windowStart)
          .orWhere((w) => w.where('WINDOW_START', after.windowStart).andWhere((f) => f.where('FIRST_EVENT_SEQ', '>', after.firstEventSeq).orWhere((r) => r.where('FIRST_EVENT_SEQ', after.firstEventSeq).andWhere('RECORD_ID', '>', after.id)))),
      );
    }
    return (await query).map(toRecord);
  }

  /** `windowsFrom` / `windowsTo`: only records whose window starts in [from, to) (epoch ms). */
  async list(filter: { id?: number; subscriptionUuid?: string; state?: RecordState; limit?: number; windowsFrom?: number; windowsTo?: number } = {}): Promise<UsageRecord[]> {
    const query = this.db(RECORD_TABLE).orderBy(['SUBSCRIPTION_UUID', 'WINDOW_START', 'FIRST_EVENT_SEQ']);
    if (filter.id !== undefined) query.where({ RECORD_ID: filter.id });
    if (filter.windowsFrom !== undefined) query.where('WINDOW_START', '>=', filter.windowsFrom);
    if (filter.windowsTo !== undefined) query.where('WINDOW_START', '<', filter.windowsTo);
    if (filter.subscriptionUuid) query.where({ SUBSCRIPTION_UUID: filter.subscriptionUuid });
    if (filter.state) query.where({ STATE: filter.state });
    if (filter.limit !== undefined) query.limit(filter.limit);
    return (await query).map(toRecord);
  }

  /**
   * Each subscription with records the engine accepted (they have a sent time), with its API and
   * the start of its latest such window: how `reconcile usage` finds the subscriptions it
   * covers, those the gateway no longer has (unsubscribed) included.
   */
  async sentSubscriptions(): Promise<Array<{ subscriptionUuid: string; apiUuid: string; lastWindowStart: number }>> {
    const rows = (await this.db(RECORD_TABLE)
      .whereNotNull('SENT_AT')
      .groupBy('SUBSCRIPTION_UUID', 'API_UUID')
      .select('SUBSCRIPTION_UUID', 'API_UUID')
      .max({ LAST_WINDOW: 'WINDOW_START' })
      .orderBy('SUBSCRIPTION_UUID')) as Array<Record<string, unknown>>;
    return rows.map((row) => ({ subscriptionUuid: String(row.SUBSCRIPTION_UUID), apiUuid: String(row.API_UUID), lastWindowStart: Number(row.LAST_WINDOW) }));
  }

  /** Written before each send, so a record whose fate is unknown can be recognised later. */
  async noteAttempt(record: UsageRecord, now: number): Promise<void> {
    await this.db(RECORD_TABLE)
      .where({ RECORD_ID: record.id })
      .update({ ATTEMPTS: record.attempts + 1, FIRST_ATTEMPT_AT: record.firstAttemptAt ?? now });
  }

  /** Confirmed sent; with `missedReason`, sent so late that it may have missed its period's invoice (MISSED). */
  async markSent(tx: Db, id: number, now: number, missedReason?: string): Promise<void> {
    await this.markManySent(tx, [{ id, missedReason }], now);
  }

  /** `markSent` for a group of records: those sent in time in one statement, the late ones each with its reason. */
  async markManySent(tx: Db, sent: ReadonlyArray<{ id: number; missedReason?: string | undefined }>, now: number): Promise<void> {
    const inTime = sent.filter((s) => !s.missedReason).map((s) => s.id);
    if (inTime.length > 0) {
      await tx(RECORD_TABLE).whereIn('RECORD_ID', inTime).andWhere({ STATE: 'PENDING' }).update({ STATE: 'SENT', SENT_AT: now, LAST_ERROR: null });
    }
    for (const { id, missedReason } of sent) {
      if (missedReason) await tx(RECORD_TABLE).where({ RECORD_ID: id, STATE: 'PENDING' }).update({ STATE: 'MISSED', SENT_AT: now, LAST_ERROR: missedReason.slice(0, 1000) });
    }
  }

  async markClosed(id: number, state: Exclude<RecordState, 'PENDING' | 'SENT'>, reason: string): Promise<void> {
    await this.db(RECORD_TABLE).where({ RECORD_ID: id, STATE: 'PENDING' }).update({ STATE: state, LAST_ERROR: reason.slice(0, 1000) });
  }

  async noteError(id: number, reason: string): Promise<void> {
    await this.db(RECORD_TABLE).where({ RECORD_ID: id }).update({ LAST_ERROR: reason.slice(0, 1000) });
  }

  /**
   * The billing engine reported, after accepting it, that it could not bill the usage sent under
   * `identifier` (e.g. a meter error report): the record becomes ENGINE_ERROR with the engine's
   * reason, is not sent again, and is listed in the publish status (`recorded`). Only the record
   * that carries the identifier now, PENDING or SENT, is marked, so a report that arrives again
   * never touches a record re-queued since under a new identifier. `already_recorded`: the report
   * was noted before (the same delivery again, or another report naming the same event), the record
   * is ENGINE_ERROR or was re-queued from it. `unknown`: no record was ever sent as `identifier`.
   */
  async markEngineError(identifier: string, reason: string): Promise<EngineErrorMark> {
    const n = await this.db(RECORD_TABLE)
      .where({ IDENTIFIER: identifier })
      .whereIn('STATE', ['PENDING', 'SENT'])
      .update({ STATE: 'ENGINE_ERROR', LAST_ERROR: reason.slice(0, 1000) });
    if (n > 0) return 'recorded';
    const lineage = [identifier];
    while (lineage.length < REQUEUE_LINEAGE_CHECKED) lineage.push(resendIdentifier(lineage[lineage.length - 1]!));
    const noted = await this.db(RECORD_TABLE)
      .where((q) => q.where({ IDENTIFIER: identifier, STATE: 'ENGINE_ERROR' }).orWhereIn('IDENTIFIER', lineage.slice(1)))
      .first('RECORD_ID');
    return noted ? 'already_recorded' : 'unknown';
  }

  /**
   * Puts an ENGINE_ERROR record back to PENDING under a new identifier (`resendIdentifier` of its
   * current one): the engine refused the event it was sent as, and keeps that identifier, so the
   * same one would be answered as a duplicate and never counted. One conditional UPDATE on the
   * record's state and current identifier, so of concurrent re-queues exactly one succeeds and the
   * record is published again once. `not_found`: no such record; `wrong_state`: it is not
   * ENGINE_ERROR (already re-queued, or never reported), with its state.
   */
  async requeueEngineError(id: number): Promise<{ outcome: 'requeued'; record: UsageRecord } | { outcome: 'not_found' } | { outcome: 'wrong_state'; state: RecordState }> {
    const row = await this.db(RECORD_TABLE).where({ RECORD_ID: id }).first();
    if (!row) return { outcome: 'not_found' };
    const record = toRecord(row as Record<string, unknown>);
    if (record.state !== 'ENGINE_ERROR') return { outcome: 'wrong_state', state: record.state };
    const identifier = resendIdentifier(record.identifier);
    const n = await this.db(RECORD_TABLE)
      .where({ RECORD_ID: id, STATE: 'ENGINE_ERROR', IDENTIFIER: record.identifier })
      .update({ STATE: 'PENDING', IDENTIFIER: identifier, ATTEMPTS: 0, FIRST_ATTEMPT_AT: null, SENT_AT: null });
    if (n === 0) {
      const now = await this.db(RECORD_TABLE).where({ RECORD_ID: id }).first('STATE');
      return { outcome: 'wrong_state', state: String(now?.STATE ?? record.state) as RecordState };
    }
    return { outcome: 'requeued', record: { ...record, state: 'PENDING', identifier, attempts: 0, firstAttemptAt: null, sentAt: null } };
  }

  /** Puts an UNCERTAIN or EXPIRED record back to PENDING (after a person checked the engine). */
  async requeue(id: number): Promise<boolean> {
    const n = await this.db(RECORD_TABLE).where({ RECORD_ID: id }).whereIn('STATE', ['UNCERTAIN', 'EXPIRED']).update({ STATE: 'PENDING', FIRST_ATTEMPT_AT: null });
    return n > 0;
  }
}

/** A new record's row: PENDING, never attempted. */
function toRow(r: InsertedRecord, freezeBatch: number): Record<string, Knex.Value> {
  return {
    SUBSCRIPTION_UUID: r.subscriptionUuid,
    API_UUID: r.apiUuid,
    WINDOW_START: r.windowStart,
    WINDOW_END: r.windowEnd,
    FIRST_EVENT_SEQ: r.firstEventSeq,
    FREEZE_BATCH: freezeBatch,
    SOURCE: r.source,
    POSITION_AFTER: r.positionAfter,
    POSITION_UP_TO: r.positionUpTo,
    QUANTITY: r.quantity,
    IDENTIFIER: r.identifier,
    STATE: 'PENDING',
    ATTEMPTS: 0,
    CREATED_AT: r.createdAt,
    FIRST_ATTEMPT_AT: null,
    SENT_AT: null,
    LAST_ERROR: null,
  };
}

/** better-sqlite3's connection and statement, as far as the inserts use them. */
interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
}
interface SqliteStatement {
  run(values: unknown[]): unknown;
}

/** Per connection, the prepared insert of a full chunk: preparing a 500-row statement per chunk cost 0.5 s of a 2 M-event freeze. */
const sqliteInserts = new WeakMap<SqliteConnection, SqliteStatement>();

/**
 * SQLite: one `INSERT ... VALUES (...), (...)` per chunk, run as a prepared statement of the
 * driver on the connection knex gives this query (inside a transaction, the transaction's own),
 * its values read from the records column by column (no row object per record): knex's
 * formatting of a raw query's bindings costs more than SQLite's insert at this many values.
 */
async function insertValues(tx: Db, records: readonly InsertedRecord[], batchOf: (r: InsertedRecord) => number, fullChunk: number): Promise<void> {
  if (records.length === 0) return;
  const getters = valuesOf(batchOf);
  const values = new Array<unknown>(records.length * getters.length);
  let n = 0;
  for (const record of records) for (const get of getters) values[n++] = get(record);
  await withDriverConnection<SqliteConnection, void>(tx as Knex, (connection) => {
    let statement = records.length === fullChunk ? sqliteInserts.get(connection) : undefined;
    if (statement === undefined) {
      const state = NEW_RECORD_STATE.map(([, value]) => (typeof value === 'string' ? `'${value}'` : value)).join(', ');
      const tuple = `(${RECORD_COLUMNS.map(() => '?').join(', ')}, ${state})`;
      const columns = INSERTED_COLUMNS.map((c) => `"${c}"`).join(', ');
      statement = connection.prepare(`INSERT INTO "${RECORD_TABLE}" (${columns}) VALUES ${new Array<string>(records.length).fill(tuple).join(', ')}`);
      if (records.length === fullChunk) sqliteInserts.set(connection, statement);
    }
    statement.run(values);
  });
}

/**
 * Rows per COPY on PostgreSQL: its text is built whole in memory before it is sent. A freeze of
 * 500,000 events (133,731 records) held 327 MB of heap at its peak with COPYs of 50,000 rows and
 * 180-197 MB with 10,000 (as with `unnest` inserts of 5,000), no slower (2.59 -> 2.48 s, 7 rounds
 * A/B). Against those `unnest` inserts: 2.85 -> 2.72 s (7 rounds; none we can tell at 2,000,000).
 */
const PG_ROWS_PER_COPY = 10_000;

/** The columns a new record's values vary in (FREEZE_BATCH: see `insert`). */
const RECORD_COLUMNS: ReadonlyArray<readonly [column: string, value: (r: InsertedRecord) => string | number]> = [
  ['SUBSCRIPTION_UUID', (r) => r.subscriptionUuid],
  ['API_UUID', (r) => r.apiUuid],
  ['WINDOW_START', (r) => r.windowStart],
  ['WINDOW_END', (r) => r.windowEnd],
  ['FIRST_EVENT_SEQ', (r) => r.firstEventSeq],
  ['FREEZE_BATCH', () => 0], // replaced by the insert's batchOf (valuesOf)
  ['SOURCE', (r) => r.source],
  ['POSITION_AFTER', (r) => r.positionAfter],
  ['POSITION_UP_TO', (r) => r.positionUpTo],
  ['QUANTITY', (r) => r.quantity],
  ['IDENTIFIER', (r) => r.identifier],
  ['CREATED_AT', (r) => r.createdAt],
];

/** What every new record holds beside RECORD_COLUMNS: pending, never attempted. */
const NEW_RECORD_STATE = [
  ['STATE', 'PENDING'],
  ['ATTEMPTS', 0],
] as const;

/** Every column a new record is inserted with: RECORD_COLUMNS, then NEW_RECORD_STATE. */
const INSERTED_COLUMNS: readonly string[] = [...RECORD_COLUMNS.map(([column]) => column), ...NEW_RECORD_STATE.map(([column]) => column)];

/** How each of RECORD_COLUMNS is read from a record, its freeze batch by `batchOf`. */
function valuesOf(batchOf: (r: InsertedRecord) => number): Array<(r: InsertedRecord) => string | number> {
  return RECORD_COLUMNS.map(([column, value]) => (column === 'FREEZE_BATCH' ? batchOf : value));
}

/** How each of INSERTED_COLUMNS is read from a record: `valuesOf`, then the constant NEW_RECORD_STATE. */
function insertedValuesOf(batchOf: (r: InsertedRecord) => number): Array<(r: InsertedRecord) => string | number> {
  return [...valuesOf(batchOf), ...NEW_RECORD_STATE.map(([, value]) => () => value)];
}

/**
 * Sends `records` in statements of `size` on the transaction's one connection, each built while
 * the server runs the one before (the driver queues it behind that one): Node builds while the
 * server writes (MariaDB: a freeze of 500,000 events 4.96 → 4.53 s). Used on MariaDB only: its
 * driver queues statements on a connection; PostgreSQL measured no gain. The first failure is
 * the one thrown; a statement queued behind it fails or is rolled back with the transaction.
 */
async function oneAhead(records: readonly InsertedRecord[], size: number, send: (part: readonly InsertedRecord[]) => Promise<void>): Promise<void> {
  let running: Promise<void> | undefined;
  for (let i = 0; i < records.length; i += size) {
    const next = send(records.slice(i, i + size));
    // Awaited below, after the one before it: handled now, in case that one fails first.
    next.catch(() => undefined);
    if (running) await running;
    running = next;
  }
  await running;
}

function toRecord(row: Record<string, unknown>): UsageRecord {
  const optional = (value: unknown) => (value === null || value === undefined ? null : Number(value));
  return {
    id: Number(row.RECORD_ID),
    subscriptionUuid: String(row.SUBSCRIPTION_UUID),
    apiUuid: String(row.API_UUID),
    windowStart: Number(row.WINDOW_START),
    windowEnd: Number(row.WINDOW_END),
    firstEventSeq: Number(row.FIRST_EVENT_SEQ),
    freezeBatch: Number(row.FREEZE_BATCH),
    source: String(row.SOURCE),
    positionAfter: Number(row.POSITION_AFTER),
    positionUpTo: Number(row.POSITION_UP_TO),
    quantity: Number(row.QUANTITY),
    identifier: String(row.IDENTIFIER),
    state: String(row.STATE) as RecordState,
    attempts: Number(row.ATTEMPTS),
    createdAt: Number(row.CREATED_AT),
    firstAttemptAt: optional(row.FIRST_ATTEMPT_AT),
    sentAt: optional(row.SENT_AT),
    lastError: row.LAST_ERROR === null || row.LAST_ERROR === undefined ? null : String(row.LAST_ERROR),
  };
}
