/**
 * Freezing (turning the usage source's new events into usage records) against its floor, measured
 * in the same run: one full scan of the events (SUM over every row) plus a plain bulk insert of
 * the very records the freeze produced, by the fastest plain load the database has here
 * (`fastestPlainInsert`: COPY on PostgreSQL, a prepared 500-row VALUES on SQLite, knex's
 * multi-row insert on MariaDB), in one transaction as the freeze's: the freeze writes by its
 * database's fastest means too, so the ratio measures what it adds. Target: freeze ≤ 1.5 × the
 * floor (issue 16).
 *
 * BENCH_SUBSCRIPTIONS (default 10,000) subscriptions, events spread over BENCH_HOURS (default 24)
 * hours, at two sizes, BENCH_EVENTS / 10 and BENCH_EVENTS (default 5,000,000), each in a fresh
 * database, with the growth of the freeze's time per event between them. Billing cycles are
 * pre-seeded (daily, anchored mid-hour, so every subscription has a window cut at a period end),
 * so no engine is called. Each of BENCH_FREEZE_ROUNDS (default 3) rounds measures the freeze and the
 * floor in rotating order, on an emptied record table and a reset source position; medians are
 * reported. Then one more freeze runs in a child process that measures its own memory (as
 * bench/publish.ts does): its peak RSS over the freeze and above its RSS before it, and the peak
 * heap sampled every 20 ms, printed per size with their growth. One JSON line per database.
 */
import { loadavg } from 'node:os';
import type { Knex } from 'knex';
import type { DatabaseConfig } from '../src/config/schema';
import { connectDatabase } from '../src/db/connect';
import { configSchema } from '../src/config/schema';
import { dialectOf } from '../src/db/dialect';
import { migrateLatest } from '../src/db/migrator';
import { createLogger } from '../src/logger';
import { FreeMonetization } from '../src/monetization/free-engine';
import { apimCoreRecords } from '../src/apim/core-records';
import { composeUsage, migrationsFor } from '../src/composition';
import { tenantDirectoryFrom } from '../src/monetization/tenant-directory';
import type { TestDatabaseKind } from '../test/helpers/databases';
import { benchDatabases, envInt, eventRow, openDatabase, fastestPlainInsert, report, runInChild, seedBilledSubscriptions, seedBillingCycles, median } from './support';

const TARGET = 1.5;
const MB = 2 ** 20;

/** What the freeze's child process answers about its own memory. */
interface FreezeMemory {
  freezeSeconds: number;
  /** RSS before the freeze (connected, composed). */
  baseRssMb: number;
  /** process.resourceUsage().maxRSS over the whole child; the freeze's peak (sampled every 20 ms, at least maxRSS). */
  maxRssMb: number;
  freezePeakRssMb: number;
  /** null when no sample ran during the freeze. */
  freezePeakHeapMb: number | null;
}

function composeFreezer(db: Knex) {
  const config = configSchema.parse({});
  const logger = createLogger(process.env.BENCH_LOG === '1' ? 'info' : 'silent');
  return composeUsage({ db, subscriptions: apimCoreRecords(db), engine: new FreeMonetization(), tenants: tenantDirectoryFrom(config), logger, config, clock: () => new Date() });
}

/** The child: one freeze of the source as never read, memory sampled while it runs. */
async function freezeInThisProcess(database: DatabaseConfig): Promise<void> {
  const db = connectDatabase(database);
  try {
    const usage = composeFreezer(db);
    await db('ML_USAGE_EVENT').max({ M: 'SEQ' }).first();
    (globalThis as { gc?: () => void }).gc?.();
    const base = process.memoryUsage().rss;
    const peaks = { rss: base, heap: 0 };
    const sample = setInterval(() => {
      const { rss, heapUsed } = process.memoryUsage();
      peaks.rss = Math.max(peaks.rss, rss);
      peaks.heap = Math.max(peaks.heap, heapUsed);
    }, 20);
    const started = performance.now();
    const { frozen } = await usage.publisher.freezeOnly();
    const freezeSeconds = (performance.now() - started) / 1000;
    clearInterval(sample);
    if (!frozen) throw new Error('the freeze did not run');
    // SQLite's reads block the event loop, so samples can miss the peak: the kernel's maximum is the
    // freeze's (the child did nothing larger before it).
    const maxRss = process.resourceUsage().maxRSS * 1024;
    const output: FreezeMemory = {
      freezeSeconds: seconds(freezeSeconds * 1000),
      baseRssMb: Math.round(base / MB),
      maxRssMb: Math.round(maxRss / MB),
      freezePeakRssMb: Math.round(Math.max(peaks.rss, maxRss) / MB),
      freezePeakHeapMb: peaks.heap > 0 ? Math.round(peaks.heap / MB) : null,
    };
    process.stdout.write(`${JSON.stringify(output)}\n`);
  } finally {
    await db.destroy();
  }
}

function freezeInChild(database: DatabaseConfig): Promise<FreezeMemory> {
  return runInChild<FreezeMemory>(__filename, 'BENCH_FREEZE_CHILD', database, "the freeze's process");
}

const seconds = (ms: number) => Number((ms / 1000).toFixed(3));

async function measure(kind: TestDatabaseKind, total: number, subscriptionCount: number, hours: number, rounds: number) {
  const database = await openDatabase(kind);
  try {
    const db = database.knex;
    await migrateLatest(db, migrationsFor(undefined));
    const seedingStarted = performance.now();
    const { subscriptions } = await seedBilledSubscriptions(db, subscriptionCount);
    const now = Date.now();
    // A period boundary falls mid-hour, 10 days ago, and daily since.
    await seedBillingCycles(db, subscriptions, { anchorMs: now - 10 * 86_400_000 + 1_234_567, unit: 'day', now });
    const start = now - hours * 3_600_000;
    const rowsPerStatement = dialectOf(db) === 'sqlite' ? 500 : 2_000;
    const inFlight: Promise<unknown>[] = [];
    for (let i = 0; i < total; i += rowsPerStatement) {
      const rows = Array.from({ length: Math.min(rowsPerStatement, total - i) }, (_, j) => {
        const n = i + j;
        return eventRow(subscriptions[n % subscriptions.length]!, `agg-${n}`, start + ((n * 7919) % (hours * 3_600_000)), now);
      });
      inFlight.push(db('ML_USAGE_EVENT').insert(rows));
      if (inFlight.length >= (kind === 'sqlite' ? 1 : 4)) await inFlight.shift();
    }
    await Promise.all(inFlight);
    if (kind === 'postgres') await db.raw('analyze ??', ['ML_USAGE_EVENT']);
    const seedingSeconds = (performance.now() - seedingStarted) / 1000;
    const events = Number((await db('ML_USAGE_EVENT').sum({ Q: 'QUANTITY' }).first())?.Q);

    const usage = composeFreezer(db);
    // Untimed between measurements: no records, and the source as never read.
    const reset = async () => {
      await db('ML_USAGE_RECORD').truncate();
      await db('ML_USAGE_SOURCE_POSITION').del();
    };

    // The records the freeze produces, to insert plainly as the floor's second half.
    await reset();
    await usage.publisher.freezeOnly();
    const produced = (await db('ML_USAGE_RECORD').orderBy('RECORD_ID')) as Array<Record<string, unknown>>;
    const recordRows = produced.map(({ RECORD_ID: _id, ...row }) => row);
    const frozenCalls = recordRows.reduce((sum, row) => sum + Number(row.QUANTITY), 0);
    if (frozenCalls !== events) throw new Error(`records hold ${frozenCalls} calls, events ${events}`);

    const times = { freeze: [] as number[], scan: [] as number[], insert: [] as number[] };
    const ways: Record<'freeze' | 'floor', () => Promise<void>> = {
      freeze: async () => {
        const started = performance.now();
        const { frozen } = await usage.publisher.freezeOnly();
        times.freeze.push(performance.now() - started);
        if (!frozen) throw new Error('the freeze did not run');
        const count = Number((await db('ML_USAGE_RECORD').count({ N: '*' }).first())?.N);
        if (count !== recordRows.length) throw new Error(`the freeze wrote ${count} records, the first one ${recordRows.length}`);
      },
      floor: async () => {
        let started = performance.now();
        const scanned = Number((await db('ML_USAGE_EVENT').sum({ Q: 'QUANTITY' }).first())?.Q);
        times.scan.push(performance.now() - started);
        if (scanned !== events) throw new Error('the scan read another total');
        started = performance.now();
        // In one transaction, as the freeze writes its records: per-statement commits would flatter the ratio.
        await db.transaction((tx) => fastestPlainInsert(tx as unknown as Knex, 'ML_USAGE_RECORD', recordRows));
        times.insert.push(performance.now() - started);
      },
    };
    for (let round = 0; round < rounds; round += 1) {
      for (const way of round % 2 === 0 ? (['freeze', 'floor'] as const) : (['floor', 'freeze'] as const)) {
        await reset();
        await ways[way]();
      }
    }
    const floors = times.scan.map((scan, i) => scan + times.insert[i]!);
    await reset();
    const memory = await freezeInChild(database.config);
    return {
      events: total,
      records: recordRows.length,
      seedingSeconds: Number(seedingSeconds.toFixed(1)),
      fullScanSeconds: seconds(median(times.scan)),
      plainInsertSeconds: seconds(median(times.insert)),
      floorSeconds: seconds(median(floors)),
      freezeSeconds: seconds(median(times.freeze)),
      ratio: Number((median(times.freeze) / median(floors)).toFixed(2)),
      freezeRuns: times.freeze.map(seconds),
      floorRuns: floors.map(seconds),
      memory,
      load: Number(loadavg()[0]!.toFixed(1)),
    };
  } finally {
    await database.destroy();
  }
}

async function main() {
  const subscriptionCount = envInt('BENCH_SUBSCRIPTIONS', 10_000);
  const total = envInt('BENCH_EVENTS', 5_000_000);
  const hours = envInt('BENCH_HOURS', 24);
  const rounds = envInt('BENCH_FREEZE_ROUNDS', 3);
  for (const kind of benchDatabases()) {
    const small = await measure(kind, Math.round(total / 10), subscriptionCount, hours, rounds);
    const large = await measure(kind, total, subscriptionCount, hours, rounds);
    report({
      benchmark: 'freeze',
      database: kind,
      subscriptions: subscriptionCount,
      hours,
      rounds,
      target: `freeze ≤ ${TARGET} × (one full scan of the events + a plain bulk insert of the records it produces)`,
      ratio: large.ratio,
      met: large.ratio <= TARGET && small.ratio <= TARGET,
      small,
      large,
      // Time per event at the large size over the small one (1 = linear).
      growth: Number((large.freezeSeconds / large.events / (small.freezeSeconds / small.events)).toFixed(2)),
      // The freeze's peak RSS (MB) at each size, and its own memory (above the RSS before it) at each.
      freezePeakRssMb: { small: small.memory.freezePeakRssMb, large: large.memory.freezePeakRssMb },
      freezeOwnRssMb: { small: small.memory.freezePeakRssMb - small.memory.baseRssMb, large: large.memory.freezePeakRssMb - large.memory.baseRssMb },
      // The freeze's own memory (peak RSS above the RSS before it) at the large size over the small one.
      memoryGrowth: Number(((large.memory.freezePeakRssMb - large.memory.baseRssMb) / Math.max(1, small.memory.freezePeakRssMb - small.memory.baseRssMb)).toFixed(2)),
    });
  }
}

const child = process.env.BENCH_FREEZE_CHILD;
(child ? freezeInThisProcess(JSON.parse(child) as DatabaseConfig) : main()).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message.slice(0, 500) : error);
  process.exitCode = 1;
});
