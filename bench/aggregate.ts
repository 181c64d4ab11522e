/**
 * Aggregation: time to compute the billable windows (freeze them into usage records) of
 * BENCH_SUBSCRIPTIONS (default 10,000) subscriptions over BENCH_EVENTS (default 5,000,000)
 * events spread over BENCH_HOURS (default 24) hours, against one full scan of the events table
 * (SUM over every row). Billing cycles are pre-seeded (daily, anchored mid-hour, so every
 * subscription has a window cut at a period end), so no engine is called.
 */
import { configSchema } from '../src/config/schema';
import { dialectOf } from '../src/db/dialect';
import { migrateLatest } from '../src/db/migrator';
import { createLogger } from '../src/logger';
import { FreeMonetization } from '../src/monetization/free-engine';
import { apimCoreRecords } from '../src/apim/core-records';
import { composeUsage, migrationsFor } from '../src/composition';
import { tenantDirectoryFrom } from '../src/monetization/tenant-directory';
import { benchDatabases, envInt, eventRow, openDatabase, report, seedBilledSubscriptions, seedBillingCycles } from './support';

async function main() {
  const subscriptionCount = envInt('BENCH_SUBSCRIPTIONS', 10_000);
  const total = envInt('BENCH_EVENTS', 5_000_000);
  const hours = envInt('BENCH_HOURS', 24);
  for (const kind of benchDatabases()) {
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

      let started = performance.now();
      const scanned = await db('ML_USAGE_EVENT').sum({ Q: 'QUANTITY' }).first();
      const scanSeconds = (performance.now() - started) / 1000;

      const config = configSchema.parse({});
      const logger = createLogger(process.env.BENCH_LOG === '1' ? 'info' : 'silent');
      const usage = composeUsage({ db, subscriptions: apimCoreRecords(db), engine: new FreeMonetization(), tenants: tenantDirectoryFrom(config), logger, config, clock: () => new Date() });
      started = performance.now();
      await usage.publisher.freezeOnly();
      const freezeSeconds = (performance.now() - started) / 1000;
      const records = await db('ML_USAGE_RECORD').count({ N: '*' }).sum({ Q: 'QUANTITY' }).first();
      if (Number(records?.Q) !== Number(scanned?.Q)) throw new Error(`records hold ${records?.Q} calls, events ${scanned?.Q}`);
      report({
        benchmark: 'aggregation',
        database: kind,
        subscriptions: subscriptionCount,
        events: total,
        hours,
        records: Number(records?.N),
        seedingSeconds: Number(seedingSeconds.toFixed(1)),
        fullScanSeconds: Number(scanSeconds.toFixed(2)),
        freezeWindowsSeconds: Number(freezeSeconds.toFixed(2)),
        ratio: Number((freezeSeconds / scanSeconds).toFixed(1)),
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
