/**
 * Ingestion throughput: events/s through UsageIngestion (validation, billability lookups, dedup
 * by event id) into each database, against the plain ways of writing the same rows with the same
 * driver: a multi-row INSERT (500 rows per statement, as ingestion chunks), and on PostgreSQL also
 * COPY. Batches of each way are interleaved (their order rotating), so every way meets the same
 * table size and the same load on the machine; each way first writes one batch untimed (the
 * pool's connections, the JIT, ingestion's first reads of the pairs, which it then keeps fresh in
 * the background). Figures are medians of the per-batch times, which a burst of load on a shared
 * machine moves little; the totals are printed beside them. Two sizes, BENCH_EVENTS / 10 and
 * BENCH_EVENTS (default 100,000), each in a fresh database, with the growth of the time per event
 * between them. BENCH_BATCH (default 1,000), BENCH_PAIRS (distinct (API, application) pairs the
 * events are spread over, default 100), BENCH_DATABASES.
 */
import { configSchema } from '../src/config/schema';
import { migrationsFor } from '../src/composition';
import { migrateLatest } from '../src/db/migrator';
import { stripeCapabilities } from '../plugins/stripe/capabilities';
import { UsageIngestion } from '../src/usage/ingest';
import { SubscriptionLookup } from '../src/usage/subscription-lookup';
import { benchDatabases, envInt, event, eventRow, openDatabase, report, seedBilledSubscriptions, benchEngine, copyRows, plainInsert, median } from './support';
import { apimCoreRecords } from '../src/apim/core-records';
import type { TestDatabaseKind } from '../test/helpers/databases';

const TARGET: Record<TestDatabaseKind, { ratio: number; eventsPerSecond?: number; text: string }> = {
  sqlite: { ratio: 0.8, text: '≥ 0.8 × a plain multi-row insert' },
  postgres: { ratio: 0.8, eventsPerSecond: 50_000, text: '≥ 0.8 × the faster of a plain multi-row insert and COPY, and ≥ 50,000 events/s' },
  mysql: { ratio: 0.8, text: '≥ 0.8 × a plain multi-row insert' },
};

type Way = 'ingest' | 'insert' | 'copy';

async function measure(kind: TestDatabaseKind, total: number, batch: number, pairs: number) {
  const database = await openDatabase(kind);
  try {
    const db = database.knex;
    await migrateLatest(db, migrationsFor(undefined));
    const { subscriptions } = await seedBilledSubscriptions(db, pairs);
    const ingestion = new UsageIngestion(db, new SubscriptionLookup(apimCoreRecords(db), benchEngine(db), () => -1234, 5_000), () => new Date(), stripeCapabilities.usage);
    const now = Date.now();
    const subscription = (n: number) => subscriptions[n % subscriptions.length]!;
    const time = (n: number) => now - (n % 3_600_000);
    const rows = (prefix: string, from: number, count: number) => Array.from({ length: count }, (_, j) => eventRow(subscription(from + j), `${prefix}-${from + j}`, time(from + j), now));
    const run: Record<Way, (from: number, count: number) => Promise<void>> = {
      ingest: async (from, count) => {
        const result = await ingestion.ingest(Array.from({ length: count }, (_, j) => event(subscription(from + j), `ingest-${from + j}`, time(from + j))));
        if (result.accepted !== count) throw new Error('an event was not accepted');
      },
      insert: (from, count) => plainInsert(db, 'ML_USAGE_EVENT', rows('insert', from, count)),
      copy: (from, count) => copyRows(db, 'ML_USAGE_EVENT', rows('copy', from, count)),
    };
    const ways: Way[] = kind === 'postgres' ? ['ingest', 'insert', 'copy'] : ['ingest', 'insert'];
    // Warm-up, untimed, with ids of its own (positions after the timed ones).
    for (const way of ways) await run[way](total, batch);
    // Seconds per event of each batch, per way.
    const perEvent: Record<Way, number[]> = { ingest: [], insert: [], copy: [] };
    const seconds: Record<Way, number> = { ingest: 0, insert: 0, copy: 0 };
    for (let i = 0, turn = 0; i < total; i += batch, turn += 1) {
      const count = Math.min(batch, total - i);
      for (let w = 0; w < ways.length; w += 1) {
        const way = ways[(turn + w) % ways.length]!;
        const started = performance.now();
        await run[way](i, count);
        const elapsed = (performance.now() - started) / 1000;
        seconds[way] += elapsed;
        perEvent[way].push(elapsed / count);
      }
    }
    const perSecond = (way: Way) => Math.round(1 / median(perEvent[way]));
    const baseline = Math.min(...ways.filter((w) => w !== 'ingest').map((w) => median(perEvent[w])));
    return {
      events: total,
      ingestEventsPerSecond: perSecond('ingest'),
      plainInsertRowsPerSecond: perSecond('insert'),
      ...(ways.includes('copy') ? { copyRowsPerSecond: perSecond('copy') } : {}),
      ratio: Number((baseline / median(perEvent.ingest)).toFixed(2)),
      // Totals over all batches (the ratio of these is what a burst of load moves most).
      totalRatio: Number((Math.min(...ways.filter((w) => w !== 'ingest').map((w) => seconds[w])) / seconds.ingest).toFixed(2)),
      ingestSeconds: Number(seconds.ingest.toFixed(2)),
      ingestMedianMicrosPerEvent: Number((median(perEvent.ingest) * 1e6).toFixed(2)),
    };
  } finally {
    await database.destroy();
  }
}

async function main() {
  const total = envInt('BENCH_EVENTS', 100_000);
  const batch = envInt('BENCH_BATCH', 1_000);
  const pairs = envInt('BENCH_PAIRS', 100);
  configSchema.parse({});
  for (const kind of benchDatabases()) {
    const small = await measure(kind, Math.max(batch, Math.round(total / 10)), batch, pairs);
    const large = await measure(kind, total, batch, pairs);
    const target = TARGET[kind];
    report({
      benchmark: 'ingestion',
      database: kind,
      batch,
      pairs,
      sizes: [small, large],
      // Time per event at the large size over the small one: 1 means the cost per event does not grow.
      growth: { events: Number((large.events / small.events).toFixed(1)), timePerEvent: Number((large.ingestMedianMicrosPerEvent / small.ingestMedianMicrosPerEvent).toFixed(2)) },
      ratio: large.ratio,
      target: target.text,
      meetsTarget: large.ratio >= target.ratio && (target.eventsPerSecond === undefined || large.ingestEventsPerSecond >= target.eventsPerSecond),
    });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message.slice(0, 500) : error);
  process.exitCode = 1;
});
