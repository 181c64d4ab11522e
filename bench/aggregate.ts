/**
 * Aggregation: time to freeze the billable windows of BENCH_SUBSCRIPTIONS (default 10,000)
 * subscriptions over BENCH_EVENTS (default 5,000,000) events spread over BENCH_HOURS (default 24)
 * hours, against one full scan of the events table (SUM over every row). Billing cycles are
 * pre-seeded, so no engine is called.
 */
import { configSchema } from '../src/config/schema';
import { migrateLatest } from '../src/db/migrator';
import { createLogger } from '../src/logger';
import { FreeMonetization } from '../src/monetization/free-engine';
import { UsageService } from '../src/usage/usage-service';
import { benchDatabases, envInt, openDatabase, report, seedBilledSubscriptions } from './support';

async function main() {
  const subscriptionCount = envInt('BENCH_SUBSCRIPTIONS', 10_000);
  const total = envInt('BENCH_EVENTS', 5_000_000);
  const hours = envInt('BENCH_HOURS', 24);
  for (const kind of benchDatabases()) {
    const database = await openDatabase(kind);
    try {
      const db = database.knex;
      await migrateLatest(db);
      const { subscriptions } = await seedBilledSubscriptions(db, subscriptionCount);
      const now = Date.now();
      const anchor = now - 10 * 86_400_000 + 1_234_567; // a period boundary falls mid-hour, 10 days ago
      for (let i = 0; i < subscriptions.length; i += 500) {
        await db('ML_USAGE_BILLING_CYCLE').insert(
          subscriptions.slice(i, i + 500).map((s) => ({ SUBSCRIPTION_UUID: s.uuid, ANCHOR_MS: anchor, INTERVAL_UNIT: 'day', INTERVAL_COUNT: 1, FETCHED_AT: now })),
        );
      }
      const start = now - hours * 3_600_000;
      const chunk = kind === 'sqlite' ? 2_000 : 5_000;
      for (let i = 0; i < total; i += chunk) {
        const rows = Array.from({ length: Math.min(chunk, total - i) }, (_, j) => {
          const n = i + j;
          const s = subscriptions[n % subscriptions.length]!;
          const t = start + Math.floor(((n * 7919) % (hours * 3_600_000)));
          return {
            EVENT_ID: `agg-${n}`, EVENT_TIME: t, EVENT_HOUR: Math.floor(t / 3_600_000), API_UUID: s.apiUuid, APPLICATION_UUID: s.applicationUuid,
            SUBSCRIPTION_UUID: s.uuid, CONSUMER_KEY: null, TENANT_DOMAIN: 'carbon.super', HTTP_STATUS: 200, QUANTITY: 1, RECEIVED_AT: now,
            PUBLISH_STATE: 1, NOT_BILLABLE: null, FREEZE_BATCH: null,
          };
        });
        const size = 500;
        for (let k = 0; k < rows.length; k += size) await db('ML_USAGE_EVENT').insert(rows.slice(k, k + size));
      }
      if (kind === 'postgres') await db.raw('analyze ml_usage_event');

      let started = performance.now();
      const scanned = await db('ML_USAGE_EVENT').sum({ Q: 'QUANTITY' }).first();
      const scanSeconds = (performance.now() - started) / 1000;

      const usage = new UsageService({ db, engine: new FreeMonetization(), logger: createLogger('silent'), config: configSchema.parse({}) });
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
        records: Number(records?.N),
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
