/**
 * Publishing against a rate limit: the local Stripe server limits the connected account to
 * BENCH_RATE_LIMIT requests/s (default 100, Stripe's live-mode limit) over a sliding one-second
 * window; BENCH_SUBSCRIPTIONS (default 10,000) subscriptions each have BENCH_CALLS (default 3)
 * billable calls in the last full hour, i.e. one usage record each. The real publisher and the
 * real Stripe engine (with its 429 retry policy) send them, paced at BENCH_PACE (default 0.97)
 * × the limit with BENCH_CONCURRENCY (default 16) subscriptions in parallel.
 *
 * Prints the achieved meter-event rate ÷ the limit, the 429s Stripe answered and whether every
 * one was absorbed (every record SENT, the job SUCCESSFULL, no failure reported).
 *
 * Seeding is direct, not through the engine: customers are created with the SDK on the local
 * server before the limit is switched on, the gateway rows in bulk, and billing cycles cached
 * (as an earlier job would have read them), so only meter events count against the limit.
 */
import { randomUUID } from 'node:crypto';
import { apiMeterEventName } from '../plugins/stripe/meters';
import { configSchema } from '../src/config/schema';
import { migrateLatest } from '../src/db/migrator';
import { createLogger } from '../src/logger';
import { forEachConcurrently } from '../src/usage/pacer';
import { RecordStore } from '../src/usage/record-store';
import { apimCoreRecords } from '../src/apim/core-records';
import { composeUsage, migrationsFor } from '../src/composition';
import { tenantDirectoryFrom } from '../src/monetization/tenant-directory';
import { buildEngine, connectedAccount, sdkFor, tenantWithKey } from '../test/plugins/stripe/harness';
import { startStripeServer } from '../dev/stripe-server';
import { benchDatabases, envInt, eventRow, openDatabase, report, seedBilledSubscriptions, seedBillingCycles } from './support';

const HOUR_MS = 3_600_000;

async function main() {
  const count = envInt('BENCH_SUBSCRIPTIONS', 10_000);
  const calls = envInt('BENCH_CALLS', 3);
  const limit = envInt('BENCH_RATE_LIMIT', 100);
  const pace = Number(process.env.BENCH_PACE ?? 0.97);
  const concurrency = envInt('BENCH_CONCURRENCY', 16);
  for (const kind of benchDatabases()) {
    const server = await startStripeServer({ port: 0, startAt: Math.floor(Date.now() / 1000) });
    const database = await openDatabase(kind);
    try {
      const db = database.knex;
      await migrateLatest(db, migrationsFor(undefined));
      const key = `sk_test_bench_${randomUUID().slice(0, 8)}`;
      const stripe = sdkFor(server, key);
      const account = await connectedAccount(stripe);
      const customers: string[] = new Array<string>(count);
      await forEachConcurrently([...customers.keys()], 32, async (i) => {
        customers[i] = (await stripe.customers.create({ name: `bench ${i}` }, { stripeAccount: account })).id;
      });
      const { apiUuid, subscriptions } = await seedBilledSubscriptions(db, count, { account, customer: (i) => customers[i]!, subscription: (i) => `sub_bench_${i}` });
      await stripe.billing.meters.create(
        {
          display_name: 'bench calls',
          event_name: apiMeterEventName(apiUuid),
          default_aggregation: { formula: 'sum' },
          customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' },
          value_settings: { event_payload_key: 'value' },
        },
        { stripeAccount: account },
      );
      const now = Date.now();
      await seedBillingCycles(db, subscriptions, { anchorMs: now - 10 * 86_400_000, unit: 'month', now });
      const hour = Math.floor(now / HOUR_MS) * HOUR_MS - HOUR_MS;
      const rows = subscriptions.flatMap((s, i) => Array.from({ length: calls }, (_, c) => eventRow(s, `pub-${i}-${c}`, hour + ((i * 7 + c * 997) % HOUR_MS), now)));
      for (let i = 0; i < rows.length; i += 500) await db('ML_USAGE_EVENT').insert(rows.slice(i, i + 500));

      const engine = buildEngine(server, db, [tenantWithKey(key)]); // the engine's default 429 policy: 6 retries, 0.5 s doubling to 8 s
      const config = configSchema.parse({});
      const usage = composeUsage({
        db,
        subscriptions: apimCoreRecords(db),
        engine,
        tenants: tenantDirectoryFrom(config),
        logger: createLogger('silent'),
        config,
        clock: () => new Date(),
        options: { requests_per_second: limit * pace, concurrency },
      });
      server.requests.reset();
      server.faults.rateLimit({ global: limit });
      const started = performance.now();
      if (!(await usage.publishUsage()).accepted) throw new Error('the publish job did not start');
      const summary = await usage.publisher.current();
      const jobSeconds = (performance.now() - started) / 1000;

      const meterEvents = server.requests.list((r) => r.account === account && r.path === '/v1/billing/meter_events');
      const accepted = meterEvents.filter((r) => r.status === 200);
      const rejected = meterEvents.filter((r) => r.status === 429).length;
      const sendingSeconds = (accepted.at(-1)!.timestamp - accepted[0]!.timestamp) / 1000;
      const achieved = (accepted.length - 1) / sendingSeconds;
      const records = await new RecordStore(db).list();
      const allSent = records.length === count && records.every((r) => r.state === 'SENT');
      const absorbed = allSent && summary?.outcome === 'SUCCESSFULL' && summary.failures.length === 0;
      report({
        benchmark: 'publishing',
        database: kind,
        subscriptions: count,
        records: records.length,
        rateLimit: limit,
        pacedAt: Number((limit * pace).toFixed(1)),
        concurrency,
        meterEventsAccepted: accepted.length,
        achievedRequestsPerSecond: Number(achieved.toFixed(1)),
        ratio: Number((achieved / limit).toFixed(3)),
        endToEndRatio: Number((count / jobSeconds / limit).toFixed(3)),
        jobSeconds: Number(jobSeconds.toFixed(1)),
        rateLimited429s: rejected,
        all429sAbsorbed: absorbed,
        meetsTarget: achieved / limit >= 0.9 && absorbed,
      });
      if (!absorbed) process.exitCode = 1;
    } finally {
      await database.destroy();
      await server.close();
    }
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message.slice(0, 500) : error);
  process.exitCode = 1;
});
