import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { dialectOf, type Dialect } from '../db/dialect';
import { pgCopyIn } from './pg-copy-in';
import { isDeadlock, isUniqueViolation } from '../db/errors';
import type { NotBillableReason } from './subscription-lookup';
import { withDriverConnection } from '../db/driver-connection';

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

/** A billable event as freezing reads it. */
export interface BillableEvent {
  subscriptionUuid: string;
  apiUuid: string;
  time: number;
  quantity: number;
  seq: number;
}

/** A group of `hourlyUsage`: one subscription's usage of an API in an hour, with its first SEQ. */
export interface GroupedUsage {
  subscriptionUuid: string;
  apiUuid: string;
  hour: number;
  quantity: number;
  firstSeq: number;
}

/** Billable events in a SEQ range (after, upTo]. */
export interface SeqRange {
  after: number;
  upTo: number;
}

/**
 * The event store: every event ingested, once per tenant and event id. Rows are written once and never
 * updated: the publisher reads them by ranges of SEQ (the identity column), which is what makes
 * freezing a grouped read instead of an UPDATE of every event.
 */
export class EventStore {
  /** Whether the server takes `INSERT IGNORE ... RETURNING` (MariaDB 10.5+): asked once. */
  private insertIgnoreReturns?: Promise<boolean>;

  constructor(private readonly db: Knex) {}

  /**
   * Stores the events whose (tenant, event id) is new and answers, for each event, whether this
   * call stored it. The answer comes from the database, not from a read before the insert, so
   * when concurrent calls carry the same event exactly one of them hears `true`; an event given
   * twice in one call is stored (and answered `true`) once. Rows are inserted sorted by tenant
   * and event id, so concurrent overlapping batches take their key locks in one order and cannot
   * deadlock.
   *
   * First, optimistically, the rows go in as a plain insert (PostgreSQL: COPY), all or nothing:
   * when it succeeds, the unique key vouches that every row is new and stored by this call (a
   * concurrent insert of a key waits for this one, then fails), so nothing needs reading back.
   * That is the common case and the fastest write each database has. When a key is taken (a
   * retried batch, a concurrent duplicate) the statement stored nothing, and the rows go again
   * through the way that tells which it inserted:
   * - PostgreSQL, SQLite: `INSERT ... ON CONFLICT DO NOTHING RETURNING` the keys inserted (on
   *   PostgreSQL the rows go as one array per column through `unnest`: 14 parameters for the
   *   whole batch instead of 14 per row, which the server parses and plans far faster);
   * - MariaDB 10.5 and later: `INSERT IGNORE ... RETURNING` the keys inserted (rows ignored as
   *   duplicates are not returned);
   * - MySQL (and older MariaDB): `INSERT IGNORE` (which returns nothing per row) with this call's
   *   random INGEST_BATCH on every row, then the rows of those keys carrying it are read back;
   * - SQL Server, Oracle (no such clause in knex; no optimistic insert): one INSERT per row; a
   *   duplicate-key error means the row was there (checked by reading the key), any other error
   *   is thrown.
   * INGEST_BATCH is written by that MySQL way only, which needs it: elsewhere it would be 36 more
   * bytes per event for nothing to read.
   */
  async insert(events: readonly StoredEvent[]): Promise<boolean[]> {
    // Sorted by key (a stable sort: the copies of a key stay in their order, first copy first), then
    // each key's first copy kept: no map of keys (0.3 ms a batch of 1,000).
    const sorted = new Array<number>(events.length);
    for (let index = 0; index < events.length; index += 1) sorted[index] = index;
    sorted.sort((a, b) => byTenantAndId(events[a]!, events[b]!));
    const order: number[] = [];
    for (let k = 0; k < sorted.length; k += 1) {
      if (k > 0 && byTenantAndId(events[sorted[k - 1]!]!, events[sorted[k]!]!) === 0) continue;
      order.push(sorted[k]!);
    }
    const dialect = dialectOf(this.db);
    const chunk = dialect === 'postgres' ? PG_CHUNK : CHUNK;
    // Later copies of a key answer false: only the first is inserted.
    const stored = new Array<boolean>(events.length).fill(false);
    for (let i = 0; i < order.length; i += chunk) {
      const indexes = order.slice(i, i + chunk);
      const rows = indexes.map((index) => toRow(events[index]!));
      if (await this.insertAllNew(dialect, rows)) {
        for (const index of indexes) stored[index] = true;
        continue;
      }
      const inserted =
        dialect === 'mysql' && (await this.mariaDbReturning()) ? await insertIgnoreReturning(this.db, rows) : await INSERT_NEW[dialect](this.db, rows);
      for (const index of indexes) stored[index] = inserted.has(eventKey(events[index]!.tenantDomain, events[index]!.eventId));
    }
    return stored;
  }

  /**
   * The optimistic insert: true when every row was inserted, false when a key was taken (then no
   * row was: one statement, rolled back whole). A deadlock victim also answers false: the way
   * that follows retries. Not inside a caller's transaction, which a failed statement would abort
   * (on PostgreSQL), nor where no such way is written.
   */
  private async insertAllNew(dialect: Dialect, rows: readonly Record<string, unknown>[]): Promise<boolean> {
    if ((this.db as { isTransaction?: boolean }).isTransaction === true) return false;
    try {
      switch (dialect) {
        case 'postgres':
          await pgCopyIn(this.db, EVENT_TABLE, COLUMNS, rows);
          return true;
        case 'sqlite':
          await this.db.raw(valuesInsert(rows.length, ''), valuesBindings(rows));
          return true;
        case 'mysql':
          await this.db(EVENT_TABLE).insert(rows);
          return true;
        default:
          return false;
      }
    } catch (error) {
      if (isUniqueViolation(error) || isDeadlock(error)) return false;
      throw error;
    }
  }

  private mariaDbReturning(): Promise<boolean> {
    this.insertIgnoreReturns ??= (async () => {
      const [rows] = (await this.db.raw('SELECT VERSION() AS V')) as [Array<{ V: unknown }>];
      const version = String(rows[0]?.V ?? '');
      const [major = 0, minor = 0] = (/^(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
      return /mariadb/i.test(version) && (major > 10 || (major === 10 && minor >= 5));
    })();
    return this.insertIgnoreReturns;
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

  /**
   * Billable usage of the range per subscription, API and UTC hour, with the first SEQ of each.
   * `limit`: at most that many groups (the database still groups the whole range, in its own memory).
   */
  async hourlyUsage(range: SeqRange, limit?: number): Promise<GroupedUsage[]> {
    if (range.upTo <= range.after) return [];
    if (dialectOf(this.db) === 'postgres') {
      // PostgreSQL's default work_mem (4 MB) spills a freeze chunk's hash aggregate (about 200,000
      // groups, some 45 MB) to disk and sorts it: 3.1 s against 2.0 s at 2 M events. Only here.
      return this.db.transaction(async (tx) => {
        await tx.raw(`SET LOCAL work_mem = '${PG_GROUPING_WORK_MEM}'`);
        return this.groupHours(tx, range, limit);
      });
    }
    return this.groupHours(this.db, range, limit);
  }

  private async groupHours(db: Db, range: SeqRange, limit?: number): Promise<GroupedUsage[]> {
    const query = db(EVENT_TABLE)
      .where('SEQ', '>', range.after)
      .andWhere('SEQ', '<=', range.upTo)
      .andWhere({ PUBLISH_STATE: PublishState.BILLABLE })
      .groupBy('SUBSCRIPTION_UUID', 'API_UUID', 'EVENT_HOUR')
      .select('SUBSCRIPTION_UUID', 'API_UUID', 'EVENT_HOUR')
      .sum({ QUANTITY: 'QUANTITY' })
      .min({ FIRST_SEQ: 'SEQ' });
    if (limit !== undefined) query.limit(limit);
    // Up to a chunk's 200,000 groups: as arrays, not row objects where the driver can.
    const rows = await rowsAsArrays(db, query, ['SUBSCRIPTION_UUID', 'API_UUID', 'EVENT_HOUR', 'QUANTITY', 'FIRST_SEQ']);
    const groups = new Array<GroupedUsage>(rows.length);
    for (let i = 0; i < rows.length; i += 1) {
      const row = rows[i]!;
      groups[i] = { subscriptionUuid: String(row[0]), apiUuid: String(row[1]), hour: Number(row[2]), quantity: Number(row[3]), firstSeq: Number(row[4]) };
    }
    return groups;
  }

  /**
   * Whether freezing groups the range's events itself (`billableEvents`) rather than asking GROUP
   * BY: on MariaDB/MySQL, whose GROUP BY sorts the range in a temporary table of the wide key
   * (2.7 times slower at 200,000 events). PostgreSQL hashes. SQLite's GROUP BY sorts too (USE
   * TEMP B-TREE FOR GROUP BY: no index holds the key), yet in C it beats making two strings per
   * event in Node: at 500,000 events, read and cut into windows, 9.5 s against 11.9 s for the SEQ
   * pages summed here (interleaved medians, loaded machine).
   */
  groupsInMemory(): boolean {
    return dialectOf(this.db) === 'mysql';
  }

  /**
   * The range's billable events a page at a time, in SEQ order: a range of the primary key, no
   * sort. Freezing groups them itself where the database's GROUP BY is slow (`groupsInMemory`),
   * holding one page.
   */
  async *billableEvents(range: SeqRange, pageSize = 20_000): AsyncGenerator<BillableEvent[]> {
    const sqlite = dialectOf(this.db) === 'sqlite';
    for (let after = range.after; after < range.upTo; ) {
      if (sqlite) {
        const page = await sqlitePage(this.db, after, range.upTo, pageSize);
        if (page.length === 0) return;
        yield page;
        if (page.length < pageSize) return;
        after = page[page.length - 1]!.seq;
        continue;
      }
      const rows = (await this.db(EVENT_TABLE)
        .where('SEQ', '>', after)
        .andWhere('SEQ', '<=', range.upTo)
        .andWhere({ PUBLISH_STATE: PublishState.BILLABLE })
        .orderBy('SEQ')
        .limit(pageSize)
        .select('SUBSCRIPTION_UUID', 'API_UUID', 'EVENT_TIME', 'QUANTITY', 'SEQ')) as Array<Record<string, unknown>>;
      if (rows.length === 0) return;
      const page = new Array<BillableEvent>(rows.length);
      for (let i = 0; i < rows.length; i += 1) {
        const row = rows[i]!;
        page[i] = { subscriptionUuid: String(row.SUBSCRIPTION_UUID), apiUuid: String(row.API_UUID), time: Number(row.EVENT_TIME), quantity: Number(row.QUANTITY), seq: Number(row.SEQ) };
      }
      yield page;
      if (rows.length < pageSize) return;
      after = page[page.length - 1]!.seq;
    }
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
    const columns = ['SUBSCRIPTION_UUID', 'EVENT_TIME', 'QUANTITY', 'SEQ'];
    for (let i = 0; i < hours.length; i += 500) {
      const query = this.db(EVENT_TABLE)
        .where('SEQ', '>', range.after)
        .andWhere('SEQ', '<=', range.upTo)
        .andWhere({ PUBLISH_STATE: PublishState.BILLABLE })
        .whereIn('EVENT_HOUR', hours.slice(i, i + 500))
        .select(columns);
      for (const row of await rowsAsArrays(this.db, query, columns)) {
        const subscriptionUuid = String(row[0]);
        if (wanted.has(subscriptionUuid)) found.push({ subscriptionUuid, time: Number(row[1]), quantity: Number(row[2]), seq: Number(row[3]) });
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

  /**
   * Billable calls of one subscription stamped in [from, to) among the events after SEQ `after`
   * (those not yet frozen into records): what the spend watcher adds to the period's records. A
   * range of the primary key, filtered; cheap while the unfrozen tail is short.
   */
  async billableCallsAfter(after: number, subscriptionUuid: string, from: number, to: number): Promise<number> {
    const row = (await this.db(EVENT_TABLE)
      .where('SEQ', '>', after)
      .andWhere({ PUBLISH_STATE: PublishState.BILLABLE, SUBSCRIPTION_UUID: subscriptionUuid })
      .andWhere('EVENT_TIME', '>=', from)
      .andWhere('EVENT_TIME', '<', to)
      .sum({ QUANTITY: 'QUANTITY' })
      .first()) as { QUANTITY?: unknown } | undefined;
    return Number(row?.QUANTITY ?? 0);
  }
}

/**
 * A query's rows as arrays of `columns`' values (its select's order): on PostgreSQL and SQLite
 * straight from the driver's own connection (the transaction's inside one), pg's `rowMode:
 * 'array'` and better-sqlite3's `raw()`, with no row object per row (nor pg's copy of it with
 * upper-case keys); elsewhere from knex's rows.
 */
async function rowsAsArrays(db: Db, query: Knex.QueryBuilder, columns: readonly string[]): Promise<unknown[][]> {
  const dialect = dialectOf(db as Knex);
  if (dialect !== 'postgres' && dialect !== 'sqlite') {
    const rows = (await query) as Array<Record<string, unknown>>;
    return rows.map((row) => columns.map((column) => row[column]));
  }
  const { sql, bindings } = query.toSQL().toNative();
  return driverArrays(db, dialect, sql, bindings);
}

/** `sql` run on the driver's own connection, its rows as arrays (`rowsAsArrays`). */
async function driverArrays(db: Db, dialect: 'postgres' | 'sqlite', sql: string, bindings: readonly unknown[]): Promise<unknown[][]> {
  if (dialect === 'sqlite') return withDriverConnection<SqliteReader, unknown[][]>(db, (connection) => connection.prepare(sql).raw(true).all(...bindings));
  const result = await withDriverConnection<PgArrayQuery, { rows: unknown[][] }>(db, (connection) => connection.query({ text: sql, values: bindings, rowMode: 'array' }));
  return result.rows;
}

/** pg's connection, as far as `driverArrays` uses it. */
interface PgArrayQuery {
  query(config: { text: string; values: readonly unknown[]; rowMode: 'array' }): Promise<{ rows: unknown[][] }>;
}

/** PostgreSQL's memory for the freeze's grouping of a chunk (hourlyUsage): its hash table stays in memory. */
const PG_GROUPING_WORK_MEM = '64MB';

/** better-sqlite3's connection, as far as the reads here use it. */
interface SqliteReader {
  prepare(sql: string): { raw(on: boolean): { all(...values: unknown[]): unknown[][] } };
}

const SQLITE_PAGE = `SELECT "SUBSCRIPTION_UUID", "API_UUID", "EVENT_TIME", "QUANTITY", "SEQ" FROM "${EVENT_TABLE}" WHERE "SEQ" > ? AND "SEQ" <= ? AND "PUBLISH_STATE" = ${PublishState.BILLABLE} ORDER BY "SEQ" LIMIT ?`;

/**
 * One page of billable events on SQLite, read as arrays by the driver's prepared statement on the
 * connection knex lends (released before the page is handed out, so a freeze's writes can run
 * between pages): knex's row objects and its response processing cost more than SQLite's walk of
 * the primary key at hundreds of thousands of rows.
 */
async function sqlitePage(db: Knex, after: number, upTo: number, limit: number): Promise<BillableEvent[]> {
  const rows = await driverArrays(db, 'sqlite', SQLITE_PAGE, [after, upTo, limit]);
  const page = new Array<BillableEvent>(rows.length);
  for (let i = 0; i < rows.length; i += 1) {
    const row = rows[i]!;
    page[i] = { subscriptionUuid: String(row[0]), apiUuid: String(row[1]), time: Number(row[2]), quantity: Number(row[3]), seq: Number(row[4]) };
  }
  return page;
}

/** A row as ingestion writes it (INGEST_BATCH only where the MySQL way adds it). */
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

/** An event's identity: its id within its tenant. NUL never occurs in either (ingestion refuses it). */
function eventKey(tenantDomain: string, eventId: string): string {
  return `${tenantDomain}\u0000${eventId}`;
}

function keyOfRow(row: Record<string, unknown>): string {
  return eventKey(String(row.TENANT_DOMAIN), String(row.EVENT_ID));
}

/** One total order (UTF-16 code units, the same in every process) for the insert's key locks. */
function byTenantAndId(a: StoredEvent, b: StoredEvent): number {
  if (a.tenantDomain !== b.tenantDomain) return a.tenantDomain < b.tenantDomain ? -1 : 1;
  if (a.eventId === b.eventId) return 0;
  return a.eventId < b.eventId ? -1 : 1;
}

const KEY = ['TENANT_DOMAIN', 'EVENT_ID'];
/** 500 rows of 13 values: under SQLite's 32,766 and MySQL's 65,535 bound parameters. */
const CHUNK = 500;

/** Inserts the rows (one chunk, sorted, one per key) whose key is free; answers the keys it inserted. */
type InsertNew = (db: Db, rows: readonly Record<string, unknown>[]) => Promise<Set<string>>;

/** ML_USAGE_EVENT's columns as ingestion writes them (`toRow`), with their PostgreSQL array types for `unnest`. */
const PG_COLUMNS: ReadonlyArray<readonly [column: string, arrayType: string]> = [
  ['EVENT_ID', 'varchar[]'],
  ['EVENT_TIME', 'bigint[]'],
  ['EVENT_HOUR', 'integer[]'],
  ['API_UUID', 'varchar[]'],
  ['APPLICATION_UUID', 'varchar[]'],
  ['SUBSCRIPTION_UUID', 'varchar[]'],
  ['CONSUMER_KEY', 'varchar[]'],
  ['TENANT_DOMAIN', 'varchar[]'],
  ['HTTP_STATUS', 'integer[]'],
  ['QUANTITY', 'integer[]'],
  ['RECEIVED_AT', 'bigint[]'],
  ['PUBLISH_STATE', 'smallint[]'],
  ['NOT_BILLABLE', 'varchar[]'],
];
const COLUMNS: readonly string[] = PG_COLUMNS.map(([column]) => column);
const PG_INSERT = `INSERT INTO ?? (${PG_COLUMNS.map(() => '??').join(', ')}) SELECT * FROM unnest(${PG_COLUMNS.map(([, type]) => `?::${type}`).join(', ')}) ON CONFLICT (??, ??) DO NOTHING RETURNING ??, ??`;
/** Rows per statement on PostgreSQL (COPY and `unnest` bind no parameter per row): one round trip per batch. */
const PG_CHUNK = 5_000;

const insertUnnestReturning: InsertNew = async (db, rows) => {
  const stored = new Set<string>();
  const columnArrays = COLUMNS.map((column) => rows.map((row) => row[column] ?? null) as Knex.Value);
  const bindings: Knex.RawBinding[] = [EVENT_TABLE, ...COLUMNS, ...columnArrays, ...KEY, ...KEY];
  const result = (await retryOnDeadlock(() => db.raw(PG_INSERT, bindings))) as { rows: Array<Record<string, unknown>> };
  for (const row of result.rows) stored.add(keyOfRow(row));
  return stored;
};

/**
 * SQLite's multi-row insert as a plain `VALUES` list, with `suffix` after it. knex writes it as
 * `SELECT ... UNION ALL SELECT ...`, which SQLite runs as a compound query; a `VALUES` list of
 * the same rows inserts about 1.4 times as fast.
 */
function valuesInsert(count: number, suffix: string): string {
  const tuple = `(${COLUMNS.map(() => '?').join(', ')})`;
  return `INSERT INTO ?? (${COLUMNS.map(() => '??').join(', ')}) VALUES ${new Array<string>(count).fill(tuple).join(', ')}${suffix}`;
}

function valuesBindings(rows: readonly Record<string, unknown>[]): Knex.RawBinding[] {
  const bindings: Knex.RawBinding[] = [EVENT_TABLE, ...COLUMNS];
  for (const row of rows) for (const column of COLUMNS) bindings.push((row[column] ?? null) as Knex.Value);
  return bindings;
}

const insertValuesReturning: InsertNew = async (db, rows) => {
  const stored = new Set<string>();
  const inserted = (await db.raw(valuesInsert(rows.length, ' ON CONFLICT (??, ??) DO NOTHING RETURNING ??, ??'), [...valuesBindings(rows), ...KEY, ...KEY])) as Array<
    Record<string, unknown>
  >;
  for (const row of inserted) stored.add(keyOfRow(row));
  return stored;
};

const insertIgnoreThenReadBatch: InsertNew = async (db, rows) => {
  const stored = new Set<string>();
  const batch = randomUUID();
  await retryOnDeadlock(() =>
    db(EVENT_TABLE)
      .insert(rows.map((row) => ({ ...row, INGEST_BATCH: batch })))
      .onConflict(KEY)
      .ignore(),
  );
  const mine = (await db(EVENT_TABLE)
    .whereIn(KEY, rows.map((row) => [row.TENANT_DOMAIN, row.EVENT_ID]) as Array<[string, string]>)
    .andWhere({ INGEST_BATCH: batch })
    .select(KEY)) as Array<Record<string, unknown>>;
  for (const row of mine) stored.add(keyOfRow(row));
  return stored;
};

/** MariaDB 10.5+: `INSERT IGNORE ... RETURNING` answers the rows it inserted, not those it ignored. */
const insertIgnoreReturning: InsertNew = async (db, rows) => {
  const stored = new Set<string>();
  const insert = db(EVENT_TABLE).insert(rows).onConflict(KEY).ignore().toSQL();
  const [inserted] = (await retryOnDeadlock(() => db.raw(`${insert.sql} RETURNING ??, ??`, [...insert.bindings, ...KEY]))) as [Array<Record<string, unknown>>];
  for (const row of inserted) stored.add(keyOfRow(row));
  return stored;
};

const insertEachRow: InsertNew = async (db, rows) => {
  const stored = new Set<string>();
  for (const row of rows) {
    try {
      await db(EVENT_TABLE).insert(row);
      stored.add(keyOfRow(row));
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const exists = await db(EVENT_TABLE).where({ TENANT_DOMAIN: row.TENANT_DOMAIN, EVENT_ID: row.EVENT_ID }).first('SEQ');
      if (!exists) throw error;
    }
  }
  return stored;
};

/**
 * Runs one insert statement again when the database chose it as a deadlock victim (it was rolled
 * back whole, so running it again is safe). Sorted rows should leave no cycle to break; this is
 * the safety net for lock interactions outside our control, e.g. InnoDB's gap locks, whose order
 * follows the column's collation rather than ours. Decided by the driver's error code
 * (src/db/errors.ts).
 */
async function retryOnDeadlock<T>(statement: () => PromiseLike<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await statement();
    } catch (error) {
      if (attempt >= attempts || !isDeadlock(error)) throw error;
    }
  }
}

const INSERT_NEW: Record<Dialect, InsertNew> = {
  postgres: insertUnnestReturning,
  sqlite: insertValuesReturning,
  mysql: insertIgnoreThenReadBatch,
  mssql: insertEachRow,
  oracle: insertEachRow,
};
