/**
 * Fresh usage: how long after a call its usage is accepted by Stripe, with continuous publishing.
 *
 * Per database (BENCH_DATABASES), one local Stripe server limited to BENCH_FRESH_RATE_LIMIT
 * requests a second per account (default 25, Stripe's sandbox limit), and
 * BENCH_FRESH_SUBSCRIPTIONS (default 1,000) subscriptions billed per request, each with its
 * customer in one connected account (made before the limit is switched on) and its billing cycle
 * cached. A phase offers BENCH_FRESH_CALLS_PER_SECOND (default 50) calls a second, each to a random
 * subscription of the phase's size, to ingestion (not waiting for it: a lagging store adds to the
 * calls' latency, it does not slow the offered rate) for BENCH_FRESH_SECONDS (default 60) while
 * the continuous publisher (`mode = "continuous"`, `interval_seconds` = BENCH_FRESH_INTERVAL,
 * default 5; paced at BENCH_FRESH_PACE requests/s, default 20) runs, then lets it drain (at most
 * BENCH_FRESH_DRAIN_SECONDS, default 180). A call's latency: from its time (when it was offered) to
 * the local server's acceptance of the meter event that carries it (its record's identifier, on
 * /v1/billing/meter_events or /v2/billing/meter_event_stream; the time the server logged the
 * request, which it handles at once: no fault is injected). A call never accepted counts as
 * infinitely late.
 *
 * Two ways, interleaved over BENCH_FRESH_ROUNDS rounds (default 2), medians printed: `batched`
 * (`send_in_batches`: Stripe's v2 meter event stream, 100 events a request) and `per_window` (one
 * v1 meter event request per window), each at two sizes (BENCH_FRESH_SMALL, default 250, and the
 * full size), with the growth of p99 between them; BENCH_FRESH_WAYS picks the ways. Also printed:
 * the requests a second the account made (mean, and the most admitted in any one-second window)
 * against the limit, and the 429s. The names are the bench's own (BENCH_FRESH_*), so settings
 * meant for the other benchmarks of `npm run bench` do not change this one.
 * Target: p99 ≤ 60 s at 1,000 subscriptions and 50 calls/s within 25 requests/s.
 */
import type { Knex } from 'knex';
import { stripeEngine } from '../plugins/stripe';
import { configSchema } from '../src/config/schema';
import { createLogger } from '../src/logger';
import { ContinuousPublisher } from '../src/usage/continuous-publisher';
import { apimCoreRecords } from '../src/apim/core-records';
import { composeUsage } from '../src/composition';
import { tenantDirectoryFrom } from '../src/monetization/tenant-directory';
import type { Monetization } from '../src/monetization/monetization';
import { tenantWithKey } from '../test/plugins/stripe/harness';
import { startStripeServer, type StripeServer } from '../dev/stripe-server';
import type { LoggedRequest } from '../dev/stripe-server/request-log';
import { benchDatabases, envInt, event, openDatabase, report, seedMeteredSubscriptions, type SeededSubscription, median } from './support';

type Way = 'batched' | 'per_window';

interface Setup {
  server: StripeServer;
  db: Knex;
  engine: Monetization;
  account: string;
  subscriptions: SeededSubscription[];
}

interface PhaseFigures {
  calls: number;
  accepted: number;
  p50Seconds: number;
  p99Seconds: number;
  maxSeconds: number;
  meanRequestsPerSecond: number;
  peakRequestsPerSecond: number;
  rateLimited429s: number;
  requests: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function setUp(server: StripeServer, db: Knex, count: number): Promise<Setup> {
  const { key, account, subscriptions } = await seedMeteredSubscriptions(server, db, count, 'fresh');
  const engine = stripeEngine.create(
    { api_host: server.host, api_port: server.port, api_protocol: 'http', retries: 10, retry_initial_delay_ms: 100, retry_max_delay_ms: 2_000 },
    { core: apimCoreRecords(db), store: db, logger: createLogger('silent'), clock: () => new Date(), tenants: { find: (domain) => [tenantWithKey(key)].find((t) => t.domain === domain) } },
  );
  return { server, db, engine, account, subscriptions };
}

/** The identifiers a successful meter event request carried. */
function identifiersOf(request: LoggedRequest): string[] {
  if (request.status !== 200) return [];
  if (request.path === '/v1/billing/meter_events') return [String((request.params as Record<string, unknown>).identifier)];
  if (request.path === '/v2/billing/meter_event_stream') return ((request.params as { events?: Array<{ identifier: string }> }).events ?? []).map((e) => e.identifier);
  return [];
}

const percentile = (sorted: readonly number[], p: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);

async function phase(setup: Setup, way: Way, size: number, options: { seconds: number; callsPerSecond: number; intervalSeconds: number; pace: number; drainSeconds: number; limit: number }, round: number): Promise<PhaseFigures> {
  const { server, db, engine, account } = setup;
  const config = configSchema.parse({});
  const usage = composeUsage({
    db,
    subscriptions: apimCoreRecords(db),
    engine,
    tenants: tenantDirectoryFrom(config),
    logger: createLogger('silent'),
    config,
    clock: () => new Date(),
    options: { requests_per_second: options.pace, send_in_batches: way === 'batched', mode: 'continuous', interval_seconds: options.intervalSeconds, lookup_cache_ms: 60_000 },
  });
  server.requests.reset();
  server.faults.clear();
  server.faults.rateLimit({ global: options.limit });
  // The server's clock follows the wall clock (meter event times are checked against it).
  const follow = setInterval(() => server.clock.advanceTo(Math.max(server.clock.now(), Math.floor(Date.now() / 1000))), 1_000);
  const loop = new ContinuousPublisher({ jobs: usage.publisher, intervalMs: options.intervalSeconds * 1000, logger: createLogger('silent') });
  const started = Date.now();
  loop.start();
  const calls = new Map<string, { subscription: string; at: number }>();
  const tickMs = 100;
  const perTick = (options.callsPerSecond * tickMs) / 1000;
  let owed = 0;
  let n = 0;
  const ingesting: Array<Promise<void>> = [];
  for (let tick = 0; Date.now() < started + options.seconds * 1000; tick += 1) {
    owed += perTick;
    const events = [];
    while (owed >= 1) {
      owed -= 1;
      n += 1;
      const subscription = setup.subscriptions[Math.floor(Math.random() * size)]!;
      const id = `fresh-${way}-${size}-${round}-${n}`;
      const at = Date.now();
      calls.set(id, { subscription: subscription.uuid, at });
      events.push(event(subscription, id, at));
    }
    // Not awaited: calls keep coming at the offered rate even when storing them lags (their wait counts in their latency).
    if (events.length > 0) ingesting.push(usage.ingestion.ingest(events).then(() => undefined));
    const next = started + (tick + 1) * tickMs;
    if (next > Date.now()) await sleep(next - Date.now());
  }
  await Promise.all(ingesting);
  const trafficEnded = Date.now();

  // Which record carries which call: the record of its subscription and window whose freeze range holds its SEQ.
  const eventIds = [...calls.keys()];
  const acceptedAt = new Map<string, number>();
  const latencies = new Map<string, number>();
  for (;;) {
    for (const request of server.requests.list()) {
      for (const identifier of identifiersOf(request)) if (!acceptedAt.has(identifier)) acceptedAt.set(identifier, request.timestamp);
    }
    const seqs = new Map<string, number>();
    for (let i = 0; i < eventIds.length; i += 500) {
      const rows = (await db('ML_USAGE_EVENT').whereIn('EVENT_ID', eventIds.slice(i, i + 500)).select('EVENT_ID', 'SEQ')) as Array<Record<string, unknown>>;
      for (const row of rows) seqs.set(String(row.EVENT_ID), Number(row.SEQ));
    }
    const records = (await db('ML_USAGE_RECORD').select('SUBSCRIPTION_UUID', 'WINDOW_START', 'WINDOW_END', 'POSITION_AFTER', 'POSITION_UP_TO', 'IDENTIFIER')) as Array<Record<string, unknown>>;
    const bySubscription = new Map<string, Array<{ start: number; end: number; after: number; upTo: number; identifier: string }>>();
    for (const r of records) {
      const list = bySubscription.get(String(r.SUBSCRIPTION_UUID)) ?? [];
      list.push({ start: Number(r.WINDOW_START), end: Number(r.WINDOW_END), after: Number(r.POSITION_AFTER), upTo: Number(r.POSITION_UP_TO), identifier: String(r.IDENTIFIER) });
      bySubscription.set(String(r.SUBSCRIPTION_UUID), list);
    }
    for (const [id, call] of calls) {
      if (latencies.has(id)) continue;
      const seq = seqs.get(id);
      const record = bySubscription.get(call.subscription)?.find((r) => seq !== undefined && r.after < seq && seq <= r.upTo && r.start <= call.at && call.at < r.end);
      const at = record ? acceptedAt.get(record.identifier) : undefined;
      if (at !== undefined) latencies.set(id, at - call.at);
    }
    if (latencies.size === calls.size || Date.now() > trafficEnded + options.drainSeconds * 1000) break;
    await sleep(1_000);
  }
  await loop.stop();
  clearInterval(follow);

  const ofAccount = server.requests.list((r) => r.account === account);
  // What the limit counts: the requests it admitted (a 429 is refused before it counts).
  const answered = ofAccount.filter((r) => r.status !== 429).map((r) => r.timestamp).sort((a, b) => a - b);
  let peak = 0;
  for (let i = 0, j = 0; i < answered.length; i += 1) {
    while (answered[i]! - answered[j]! >= 1_000) j += 1;
    peak = Math.max(peak, i - j + 1);
  }
  const spanSeconds = answered.length > 1 ? (answered.at(-1)! - answered[0]!) / 1000 : Number.NaN;
  // A call never accepted within the drain counts as the slowest possible: it fails the percentile it lands in.
  const sorted = eventIds.map((id) => latencies.get(id) ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b).map((ms) => ms / 1000);
  return {
    calls: calls.size,
    accepted: latencies.size,
    p50Seconds: percentile(sorted, 50),
    p99Seconds: percentile(sorted, 99),
    maxSeconds: sorted.at(-1) ?? Number.NaN,
    meanRequestsPerSecond: ofAccount.filter((r) => r.status !== 429).length / spanSeconds,
    peakRequestsPerSecond: peak,
    rateLimited429s: ofAccount.filter((r) => r.status === 429).length,
    requests: ofAccount.length,
  };
}

const round1 = (n: number) => (Number.isFinite(n) ? Number(n.toFixed(1)) : String(n));
const round3 = (n: number) => (Number.isFinite(n) ? Number(n.toFixed(3)) : String(n));

async function main() {
  const large = envInt('BENCH_FRESH_SUBSCRIPTIONS', 1_000);
  const small = envInt('BENCH_FRESH_SMALL', 250);
  const rounds = envInt('BENCH_FRESH_ROUNDS', 2);
  const limit = envInt('BENCH_FRESH_RATE_LIMIT', 25);
  const options = {
    seconds: envInt('BENCH_FRESH_SECONDS', 60),
    callsPerSecond: envInt('BENCH_FRESH_CALLS_PER_SECOND', 50),
    intervalSeconds: envInt('BENCH_FRESH_INTERVAL', 5),
    pace: Number(process.env.BENCH_FRESH_PACE ?? 20),
    drainSeconds: envInt('BENCH_FRESH_DRAIN_SECONDS', 180),
    limit,
  };
  const ways = (process.env.BENCH_FRESH_WAYS ?? 'batched,per_window').split(',').map((w) => w.trim()) as Way[];
  for (const kind of benchDatabases()) {
    const server = await startStripeServer({ port: 0, startAt: Math.floor(Date.now() / 1000) });
    const database = await openDatabase(kind);
    try {
      const setup = await setUp(server, database.knex, large);
      const figures = new Map<string, PhaseFigures[]>();
      for (let round = 0; round < rounds; round += 1) {
        for (const size of [small, large]) {
          for (const way of ways) {
            const f = await phase(setup, way, size, options, round);
            figures.set(`${way}:${size}`, [...(figures.get(`${way}:${size}`) ?? []), f]);
            process.stderr.write(`fresh ${kind} round ${round + 1} ${way} ${size} subscriptions: ${JSON.stringify(f)}\n`);
          }
        }
      }
      for (const way of ways) {
        const at = (size: number, pick: (f: PhaseFigures) => number) => median((figures.get(`${way}:${size}`) ?? []).map(pick));
        const p99Large = at(large, (f) => f.p99Seconds);
        const p99Small = at(small, (f) => f.p99Seconds);
        report({
          benchmark: 'fresh usage',
          database: kind,
          way,
          callsPerSecond: options.callsPerSecond,
          seconds: options.seconds,
          intervalSeconds: options.intervalSeconds,
          pacedAt: options.pace,
          rounds,
          sizes: { small, large },
          p50Seconds: { small: round1(at(small, (f) => f.p50Seconds)), large: round1(at(large, (f) => f.p50Seconds)) },
          p99Seconds: { small: round1(p99Small), large: round1(p99Large) },
          p99Growth: round3(p99Large / p99Small),
          acceptedCalls: { small: at(small, (f) => f.accepted), large: at(large, (f) => f.accepted) },
          calls: { small: at(small, (f) => f.calls), large: at(large, (f) => f.calls) },
          requestsPerSecond: { mean: round1(at(large, (f) => f.meanRequestsPerSecond)), peakInOneSecond: at(large, (f) => f.peakRequestsPerSecond), limit },
          rateLimited429s: at(large, (f) => f.rateLimited429s),
          ratio: round3(p99Large / 60),
          target: 'p99 ≤ 60 s at 1,000 subscriptions and 50 calls/s within 25 requests/s (ratio = p99 ÷ 60 s ≤ 1)',
          met: p99Large <= 60 && at(large, (f) => f.peakRequestsPerSecond) <= limit && at(large, (f) => f.rateLimited429s) === 0,
        });
      }
    } finally {
      await database.destroy();
      await server.close();
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
