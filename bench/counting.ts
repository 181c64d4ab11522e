/**
 * What keeping counts at ingestion would cost: the design the freeze's target on SQLite and
 * PostgreSQL seems to need (README, "Where the rest goes"), measured instead of argued. A freeze
 * that read per-(subscription, API, hour) counts kept as events are stored would not read every
 * event; the cost moves to every insert. Not built: this measures that cost.
 *
 * Two databases migrated alike, one with a counting trigger on ML_USAGE_EVENT (SQLite: a row
 * trigger upserting the event's hour; PostgreSQL: a statement trigger summing the statement's new
 * rows, its transition table, and upserting one row per group). Batches of 1,000 events are
 * written to both by the plain way ingestion's own time is compared with (a 500-row VALUES on
 * SQLite, COPY on PostgreSQL), interleaved, their order alternating; medians of the per-batch
 * times over the second half of the batches (the counts table grown by then). Events as the
 * freeze bench spreads them: BENCH_SUBSCRIPTIONS (default 10,000) subscriptions over BENCH_HOURS
 * (default 24) hours; two sizes, BENCH_EVENTS / 10 and BENCH_EVENTS (default 1,000,000), and once
 * more in the ingestion bench's shape (100 subscriptions, one hour). Every event counted once is checked.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { dialectOf } from '../src/db/dialect';
import { migrateLatest } from '../src/db/migrator';
import { migrationsFor } from '../src/composition';
import type { TestDatabaseKind } from '../test/helpers/databases';
import { benchDatabases, copyRows, envInt, eventRow, openDatabase, plainInsert, report, type SeededSubscription, median } from './support';

const BATCH = 1_000;

/** Unquoted lower-case names: SQLite's are case-blind, PostgreSQL folds them (our tables are lower-case there). */
const COUNTING: Record<'sqlite' | 'postgres', string[]> = {
  sqlite: [
    `CREATE TABLE ml_bench_hourly (subscription_uuid TEXT NOT NULL, api_uuid TEXT NOT NULL, event_hour INTEGER NOT NULL,
       quantity INTEGER NOT NULL, first_seq INTEGER NOT NULL, PRIMARY KEY (subscription_uuid, api_uuid, event_hour)) WITHOUT ROWID`,
    `CREATE TRIGGER ml_bench_hourly_count AFTER INSERT ON ml_usage_event WHEN NEW.publish_state = 1 BEGIN
       INSERT INTO ml_bench_hourly VALUES (NEW.subscription_uuid, NEW.api_uuid, NEW.event_hour, NEW.quantity, NEW.seq)
       ON CONFLICT DO UPDATE SET quantity = quantity + excluded.quantity, first_seq = min(first_seq, excluded.first_seq);
     END`,
  ],
  postgres: [
    `CREATE TABLE ml_bench_hourly (subscription_uuid varchar(256) NOT NULL, api_uuid varchar(256) NOT NULL, event_hour integer NOT NULL,
       quantity bigint NOT NULL, first_seq bigint NOT NULL, PRIMARY KEY (subscription_uuid, api_uuid, event_hour))`,
    // Groups in key order, so concurrent statements lock shared rows in one order.
    `CREATE FUNCTION ml_bench_hourly_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
       INSERT INTO ml_bench_hourly
         SELECT subscription_uuid, api_uuid, event_hour, sum(quantity), min(seq) FROM new_rows WHERE publish_state = 1
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
       ON CONFLICT (subscription_uuid, api_uuid, event_hour) DO UPDATE
         SET quantity = ml_bench_hourly.quantity + excluded.quantity, first_seq = least(ml_bench_hourly.first_seq, excluded.first_seq);
       RETURN NULL;
     END $$`,
    `CREATE TRIGGER ml_bench_hourly_count AFTER INSERT ON ml_usage_event REFERENCING NEW TABLE AS new_rows
       FOR EACH STATEMENT EXECUTE FUNCTION ml_bench_hourly_count()`,
  ],
};

async function measure(kind: TestDatabaseKind, total: number, subscriptionCount: number, hours: number) {
  if (kind === 'mysql') throw new Error('counting is measured on SQLite and PostgreSQL, where the freeze misses its target');
  const plain = await openDatabase(kind);
  const counted = await openDatabase(kind);
  try {
    for (const database of [plain, counted]) await migrateLatest(database.knex, migrationsFor(undefined));
    for (const statement of COUNTING[kind]) await counted.knex.raw(statement);
    const apiUuid = randomUUID();
    const subscriptions: SeededSubscription[] = Array.from({ length: subscriptionCount }, () => ({ uuid: randomUUID(), apiUuid, applicationUuid: randomUUID() }));
    const start = Date.now() - hours * 3_600_000;
    const step = (hours * 3_600_000) / total;
    const write = (db: Knex, from: number, count: number) => {
      const rows = Array.from({ length: count }, (_, j) => {
        const n = from + j;
        return eventRow(subscriptions[(n * 7919) % subscriptions.length]!, `count-${n}`, Math.floor(start + n * step), start);
      });
      return dialectOf(db) === 'postgres' ? copyRows(db, 'ML_USAGE_EVENT', rows) : plainInsert(db, 'ML_USAGE_EVENT', rows);
    };
    const perEvent = { plain: [] as number[], counted: [] as number[] };
    for (let i = 0, turn = 0; i < total; i += BATCH, turn += 1) {
      const count = Math.min(BATCH, total - i);
      for (const way of turn % 2 === 0 ? (['plain', 'counted'] as const) : (['counted', 'plain'] as const)) {
        const started = performance.now();
        await write(way === 'plain' ? plain.knex : counted.knex, i, count);
        perEvent[way].push((performance.now() - started) / count);
      }
    }
    const row = (await counted.knex('ML_BENCH_HOURLY').count({ GROUPS: '*' }).sum({ QUANTITY: 'QUANTITY' }).first()) as Record<string, unknown>;
    if (Number(row.QUANTITY) !== total) throw new Error(`the counts hold ${String(row.QUANTITY)} events of ${total}`);
    // The second half's batches: the counts table grown by then.
    const secondHalf = (values: readonly number[]) => values.slice(Math.floor(values.length / 2));
    const plainMicros = median(secondHalf(perEvent.plain)) * 1000;
    const countedMicros = median(secondHalf(perEvent.counted)) * 1000;
    return {
      events: total,
      subscriptions: subscriptionCount,
      hourlyGroups: Number(row.GROUPS),
      plainMicrosPerEvent: round(plainMicros),
      countedMicrosPerEvent: round(countedMicros),
      extraMicrosPerEvent: round(countedMicros - plainMicros),
      // What a plain insert keeps of its speed with the counting: ingestion, at about a plain insert's speed, keeps about as much.
      plainOverCounted: round(plainMicros / countedMicros),
    };
  } finally {
    await plain.destroy();
    await counted.destroy();
  }
}

const round = (value: number) => Number(value.toFixed(2));

async function main() {
  const total = envInt('BENCH_EVENTS', 1_000_000);
  const subscriptions = envInt('BENCH_SUBSCRIPTIONS', 10_000);
  const hours = envInt('BENCH_HOURS', 24);
  for (const kind of benchDatabases().filter((k) => k !== 'mysql')) {
    const small = await measure(kind, Math.round(total / 10), subscriptions, hours);
    const large = await measure(kind, total, subscriptions, hours);
    // The ingestion bench's shape: 100 subscriptions, events within an hour.
    const fewSubscriptions = await measure(kind, Math.round(total / 10), 100, 1);
    report({
      benchmark: 'counting at ingestion (not built)',
      database: kind,
      sizes: [small, large],
      growth: { events: Number((large.events / small.events).toFixed(1)), extraPerEvent: round(large.extraMicrosPerEvent / small.extraMicrosPerEvent) },
      at100Subscriptions: fewSubscriptions,
      ratio: large.plainOverCounted,
      target: "ingestion ≥ 0.8 × a plain insert: what counting leaves of a plain insert's speed bounds ingestion's ratio",
    });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message.slice(0, 500) : error);
  process.exitCode = 1;
});
