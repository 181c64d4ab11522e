/**
 * Ingestion throughput: events/s through UsageIngestion (validation, billability lookups, dedup
 * by event id) into each database, against a plain multi-row insert of the same rows with the
 * same driver. BENCH_EVENTS (default 100,000), BENCH_BATCH (default 1,000), BENCH_DATABASES.
 */
import { configSchema } from '../src/config/schema';
import { migrationsFor } from '../src/composition';
import { migrateLatest } from '../src/db/migrator';
import { stripeCapabilities } from '../plugins/stripe/capabilities';
import { UsageIngestion } from '../src/usage/ingest';
import { SubscriptionLookup } from '../src/usage/subscription-lookup';
import { benchDatabases, envInt, event, eventRow, openDatabase, report, seedBilledSubscriptions, benchEngine } from './support';
import { apimCoreRecords } from '../src/apim/core-records';

async function main() {
  const total = envInt('BENCH_EVENTS', 100_000);
  const batch = envInt('BENCH_BATCH', 1_000);
  configSchema.parse({});
  for (const kind of benchDatabases()) {
    const database = await openDatabase(kind);
    try {
      const db = database.knex;
      await migrateLatest(db, migrationsFor(undefined));
      const { subscriptions } = await seedBilledSubscriptions(db, 100);
      const ingestion = new UsageIngestion(db, new SubscriptionLookup(apimCoreRecords(db), benchEngine(db), () => -1234, 5_000), () => new Date(), stripeCapabilities.usage);
      const now = Date.now();
      const make = (prefix: string, i: number) => event(subscriptions[i % subscriptions.length]!, `${prefix}-${i}`, now - (i % 3_600_000));

      let started = performance.now();
      for (let i = 0; i < total; i += batch) {
        const result = await ingestion.ingest(Array.from({ length: Math.min(batch, total - i) }, (_, j) => make('ingest', i + j)));
        if (result.accepted !== Math.min(batch, total - i)) throw new Error('an event was not accepted');
      }
      const ingestSeconds = (performance.now() - started) / 1000;

      started = performance.now();
      for (let i = 0; i < total; i += batch) {
        const rows = Array.from({ length: Math.min(batch, total - i) }, (_, j) => {
          const n = i + j;
          return eventRow(subscriptions[n % subscriptions.length]!, `plain-${n}`, now - (n % 3_600_000), now);
        });
        for (let k = 0; k < rows.length; k += 500) await db('ML_USAGE_EVENT').insert(rows.slice(k, k + 500));
      }
      const plainSeconds = (performance.now() - started) / 1000;
      report({
        benchmark: 'ingestion',
        database: kind,
        events: total,
        batch,
        ingestEventsPerSecond: Math.round(total / ingestSeconds),
        plainInsertRowsPerSecond: Math.round(total / plainSeconds),
        ratio: Number((plainSeconds / ingestSeconds).toFixed(2)),
      });
    } finally {
      await database.destroy();
    }
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message.slice(0, 500) : error);
  process.exitCode = 1;
});
