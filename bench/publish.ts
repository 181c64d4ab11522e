/**
 * Publishing: against the rate limit, and at scale.
 *
 * One database and one local Stripe server per database measured, seeded once with
 * BENCH_SCALE_SUBSCRIPTIONS (default 100,000) subscriptions billed per request, each with a
 * customer in the connected account (made with the SDK before any limit is switched on), the
 * gateway rows in bulk and billing cycles cached (as an earlier job would have read them), so
 * only meter events count. Each job publishes the BENCH_CALLS (default 3) calls per subscription
 * that were just written in the last full hour, i.e. one usage record each, for the first n
 * subscriptions; each job runs in a child process (the real publisher and the real Stripe engine,
 * with its 429 retry policy), which samples its own memory, so the figures are the job's alone
 * (the seeding and the Stripe server stay in this process).
 *
 * 1. Rate limit: BENCH_SUBSCRIPTIONS (default 10,000) records against the server's limit of
 *    BENCH_RATE_LIMIT requests/s (default 100, Stripe's live-mode limit, sliding one-second
 *    window), paced at BENCH_PACE (default 0.97) × the limit with BENCH_CONCURRENCY (default 16)
 *    subscriptions in parallel. Prints the achieved meter-event rate ÷ the limit (target ≥ 0.95),
 *    the 429s and whether every one was absorbed (every record SENT, the job SUCCESSFULL).
 * 2. Scale and growth: jobs of BENCH_SUBSCRIPTIONS and BENCH_SCALE_SUBSCRIPTIONS records with the
 *    server's limit raised to BENCH_SCALE_RATE_LIMIT (default 5,000/s; at 100/s 100,000 records
 *    would take 1,000 s) and the publisher paced at it, the two sizes alternating over
 *    BENCH_PUBLISH_ROUNDS (default 2) rounds, medians printed: the time per record at each size and its
 *    growth, and the job's peak memory at each size and its growth: its RSS, the heap while
 *    sending, and the live heap while sending (after a full collection, once a second; the child
 *    runs with --expose-gc), which is the target: bounded, ≤ 1.5 × for 10 × the records.
 */
import type { Knex } from 'knex';
import { stripeEngine } from '../plugins/stripe';
import { configSchema } from '../src/config/schema';
import type { DatabaseConfig } from '../src/config/schema';
import { connectDatabase } from '../src/db/connect';
import { createLogger } from '../src/logger';
import { JobStore } from '../src/usage/job-store';
import { apimCoreRecords } from '../src/apim/core-records';
import { composeUsage } from '../src/composition';
import { tenantDirectoryFrom } from '../src/monetization/tenant-directory';
import { tenantWithKey } from '../test/plugins/stripe/harness';
import { startStripeServer, type StripeServer } from '../dev/stripe-server';
import { benchDatabases, envInt, eventRow, openDatabase, report, runInChild, seedMeteredSubscriptions, type SeededSubscription, median } from './support';

const HOUR_MS = 3_600_000;
const MB = 2 ** 20;

/** What the parent hands a job's child process. */
interface JobInput {
  database: DatabaseConfig;
  host: string;
  port: number;
  key: string;
  requestsPerSecond: number;
  concurrency: number;
}

/** What the child answers: the job's outcome and its own memory. */
interface JobOutput {
  outcome: string;
  recordsSent: number;
  failures: number;
  firstFailure: string | null;
  jobSeconds: number;
  /** process.resourceUsage().maxRSS: the child's peak resident set over the whole job. */
  maxRssMb: number;
  /** Sampled every 50 ms, by the job's phase (the job row's PHASE). */
  freezePeakRssMb: number;
  sendPeakRssMb: number;
  sendPeakHeapMb: number;
  /** The heap right after a full collection, every second while sending: what the job keeps alive. */
  sendPeakLiveHeapMb: number;
}

/** The child: one publish job, memory sampled while it runs. */
async function runJob(input: JobInput): Promise<void> {
  const db = connectDatabase(input.database);
  try {
    const engine = stripeEngine.create(
      // The engine's own retry policy (6 re-sends, honouring Retry-After): what absorbs a 429.
      { api_host: input.host, api_port: input.port, api_protocol: 'http' },
      { core: apimCoreRecords(db), store: db, logger: createLogger('silent'), clock: () => new Date(), tenants: { find: (domain) => [tenantWithKey(input.key)].find((t) => t.domain === domain) } },
    );
    const config = configSchema.parse({});
    const usage = composeUsage({
      db,
      subscriptions: apimCoreRecords(db),
      engine,
      tenants: tenantDirectoryFrom(config),
      logger: createLogger('silent'),
      config,
      clock: () => new Date(),
      options: { requests_per_second: input.requestsPerSecond, concurrency: input.concurrency },
    });
    const jobs = new JobStore(db);
    let phase = 'AGGREGATING';
    const peaks = { freezeRss: 0, sendRss: 0, sendHeap: 0, sendLive: 0 };
    const sample = setInterval(() => {
      const { rss, heapUsed } = process.memoryUsage();
      if (phase === 'PUBLISHING' || phase === 'DONE') {
        peaks.sendRss = Math.max(peaks.sendRss, rss);
        peaks.sendHeap = Math.max(peaks.sendHeap, heapUsed);
      } else peaks.freezeRss = Math.max(peaks.freezeRss, rss);
    }, 50);
    // The child runs with --expose-gc: a full collection a second while sending, then the heap.
    const gc = (globalThis as { gc?: () => void }).gc;
    const live = setInterval(() => {
      if (!gc || (phase !== 'PUBLISHING' && phase !== 'DONE')) return;
      gc();
      peaks.sendLive = Math.max(peaks.sendLive, process.memoryUsage().heapUsed);
    }, 1000);
    const watch = setInterval(() => {
      void jobs.read().then((row) => {
        if (row) phase = row.phase;
      }, () => undefined);
    }, 200);
    const started = performance.now();
    if (!(await usage.publishUsage()).accepted) throw new Error('the publish job did not start');
    const summary = await usage.publisher.current();
    const jobSeconds = (performance.now() - started) / 1000;
    clearInterval(sample);
    clearInterval(live);
    clearInterval(watch);
    const output: JobOutput = {
      outcome: summary?.outcome ?? 'none',
      recordsSent: summary?.recordsSent ?? 0,
      failures: summary?.failures.length ?? 0,
      firstFailure: summary?.failures[0]?.reason.slice(0, 300) ?? null,
      jobSeconds,
      maxRssMb: (process.resourceUsage().maxRSS * 1024) / MB,
      freezePeakRssMb: peaks.freezeRss / MB,
      sendPeakRssMb: peaks.sendRss / MB,
      sendPeakHeapMb: peaks.sendHeap / MB,
      sendPeakLiveHeapMb: peaks.sendLive / MB,
    };
    process.stdout.write(`${JSON.stringify(output)}\n`);
  } finally {
    await db.destroy();
  }
}

/** Runs one job in a child process and answers what it printed. */
function jobInChild(input: JobInput): Promise<JobOutput> {
  return runInChild<JobOutput>(__filename, 'BENCH_PUBLISH_JOB', input, "the publish job's process");
}

interface World {
  server: StripeServer;
  db: Knex;
  database: DatabaseConfig;
  key: string;
  account: string;
  subscriptions: SeededSubscription[];
}

/** Seeds `count` billed subscriptions with customers in one connected account, and their meter. */
async function seedWorld(server: StripeServer, db: Knex, database: DatabaseConfig, count: number): Promise<World> {
  const { key, account, subscriptions } = await seedMeteredSubscriptions(server, db, count, 'bench');
  return { server, db, database, key, account, subscriptions };
}

let round = 0;

/**
 * One job publishing `calls` new calls of each of the first `count` subscriptions (last full hour,
 * event ids new to this job, so new records and identifiers), the earlier jobs' records removed
 * first so every job meets the same table. Answers the child's figures and what the server saw.
 */
async function publishJob(world: World, count: number, calls: number, limit: number, requestsPerSecond: number, concurrency: number) {
  const { db, server } = world;
  round += 1;
  await db('ML_USAGE_RECORD').delete();
  const now = Date.now();
  const hour = Math.floor(now / HOUR_MS) * HOUR_MS - HOUR_MS;
  for (let start = 0; start < count; start += 500) {
    const rows = world.subscriptions
      .slice(start, Math.min(count, start + 500))
      .flatMap((s, j) => Array.from({ length: calls }, (_, c) => eventRow(s, `pub-${round}-${start + j}-${c}`, hour + (((start + j) * 7 + c * 997) % HOUR_MS), now)));
    for (let i = 0; i < rows.length; i += 500) await db('ML_USAGE_EVENT').insert(rows.slice(i, i + 500));
  }
  server.requests.reset();
  server.faults.clear();
  server.faults.rateLimit({ global: limit });
  const job = await jobInChild({ database: world.database, host: server.host, port: server.port, key: world.key, requestsPerSecond, concurrency });
  const meterEvents = server.requests.list((r) => r.account === world.account && r.path === '/v1/billing/meter_events');
  server.requests.reset();
  const accepted = meterEvents.filter((r) => r.status === 200);
  const rejected = meterEvents.filter((r) => r.status === 429).length;
  const sendingSeconds = accepted.length > 1 ? (accepted.at(-1)!.timestamp - accepted[0]!.timestamp) / 1000 : Number.NaN;
  const achieved = (accepted.length - 1) / sendingSeconds;
  const states = (await db('ML_USAGE_RECORD').select('STATE').count({ N: '*' }).groupBy('STATE')) as Array<Record<string, unknown>>;
  const sent = Number(states.find((s) => String(s.STATE) === 'SENT')?.N ?? 0);
  const records = states.reduce((n, s) => n + Number(s.N), 0);
  const allSent = records === count && sent === count && accepted.length === count;
  const absorbed = allSent && job.outcome === 'SUCCESSFULL' && job.failures === 0;
  return { job, accepted: accepted.length, rejected, achieved, sendingSeconds, records, absorbed };
}

const round1 = (n: number) => Number(n.toFixed(1));
const round3 = (n: number) => Number(n.toFixed(3));

async function main() {
  const small = envInt('BENCH_SUBSCRIPTIONS', 10_000);
  const large = envInt('BENCH_SCALE_SUBSCRIPTIONS', 100_000);
  const calls = envInt('BENCH_CALLS', 3);
  const limit = envInt('BENCH_RATE_LIMIT', 100);
  const pace = Number(process.env.BENCH_PACE ?? 0.97);
  const concurrency = envInt('BENCH_CONCURRENCY', 16);
  const scaleLimit = envInt('BENCH_SCALE_RATE_LIMIT', 5_000);
  const rounds = envInt('BENCH_PUBLISH_ROUNDS', 2);
  for (const kind of benchDatabases()) {
    const server = await startStripeServer({ port: 0, startAt: Math.floor(Date.now() / 1000) });
    const database = await openDatabase(kind);
    try {
      const seedStarted = performance.now();
      const world = await seedWorld(server, database.knex, database.config, Math.max(small, large));
      const seedSeconds = (performance.now() - seedStarted) / 1000;

      // 1. Against the rate limit.
      const limited = await publishJob(world, small, calls, limit, limit * pace, concurrency);
      report({
        benchmark: 'publishing',
        database: kind,
        subscriptions: small,
        records: limited.records,
        rateLimit: limit,
        pacedAt: round1(limit * pace),
        concurrency,
        meterEventsAccepted: limited.accepted,
        achievedRequestsPerSecond: round1(limited.achieved),
        ratio: round3(limited.achieved / limit),
        target: 0.95,
        endToEndRatio: round3(small / limited.job.jobSeconds / limit),
        jobSeconds: round1(limited.job.jobSeconds),
        rateLimited429s: limited.rejected,
        all429sAbsorbed: limited.absorbed,
        jobMaxRssMb: round1(limited.job.maxRssMb),
        meetsTarget: limited.achieved / limit >= 0.95 && limited.absorbed,
      });
      if (!limited.absorbed) process.exitCode = 1;

      // 2. Scale and growth: the two sizes alternate, so both meet the same machine load.
      const runs = new Map<number, Array<Awaited<ReturnType<typeof publishJob>>>>([[small, []], [large, []]]);
      for (let r = 0; r < rounds; r += 1) {
        for (const size of r % 2 === 0 ? [small, large] : [large, small]) runs.get(size)!.push(await publishJob(world, size, calls, scaleLimit, scaleLimit, concurrency));
      }
      const figures = (size: number) => {
        const list = runs.get(size)!;
        return {
          records: size,
          msPerRecord: round3(median(list.map((x) => x.job.jobSeconds * 1000 / size))),
          sendingRecordsPerSecond: round1(median(list.map((x) => x.achieved))),
          jobSeconds: round1(median(list.map((x) => x.job.jobSeconds))),
          maxRssMb: round1(median(list.map((x) => x.job.maxRssMb))),
          freezePeakRssMb: round1(median(list.map((x) => x.job.freezePeakRssMb))),
          sendPeakRssMb: round1(median(list.map((x) => x.job.sendPeakRssMb))),
          sendPeakHeapMb: round1(median(list.map((x) => x.job.sendPeakHeapMb))),
          sendPeakLiveHeapMb: round1(median(list.map((x) => x.job.sendPeakLiveHeapMb))),
          allSent: list.every((x) => x.absorbed),
          rateLimited429s: list.reduce((n, x) => n + x.rejected, 0),
        };
      };
      const [a, b] = [figures(small), figures(large)];
      const sizeGrowth = large / small;
      const liveHeapGrowth = b.sendPeakLiveHeapMb / a.sendPeakLiveHeapMb;
      const allSent = a.allSent && b.allSent;
      report({
        benchmark: 'publishing-scale',
        database: kind,
        rateLimitNote: `the local Stripe server's limit raised to ${scaleLimit}/s for these jobs (paced at it); at ${limit}/s ${large} records would take ${Math.round(large / limit)} s`,
        rateLimit: scaleLimit,
        concurrency,
        rounds,
        sizes: [small, large],
        sizeGrowth: round1(sizeGrowth),
        small: a,
        large: b,
        ratio: round3(liveHeapGrowth),
        ratioIs: 'peak live heap while sending (after a full collection), large ÷ small',
        sendPeakHeapGrowth: round3(b.sendPeakHeapMb / a.sendPeakHeapMb),
        timePerRecordGrowth: round3(b.msPerRecord / a.msPerRecord),
        maxRssGrowth: round3(b.maxRssMb / a.maxRssMb),
        sendPeakRssGrowth: round3(b.sendPeakRssMb / a.sendPeakRssMb),
        target: 'bounded memory: the live heap while sending grows ≤ 1.5 × for 10 × the records; every record SENT once',
        meetsTarget: allSent && liveHeapGrowth <= 1.5,
        seedSeconds: round1(seedSeconds),
      });
      if (!allSent) process.exitCode = 1;
    } finally {
      await database.destroy();
      await server.close();
    }
  }
}

const childJob = process.env.BENCH_PUBLISH_JOB;
(childJob ? runJob(JSON.parse(childJob) as JobInput) : main()).catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message).slice(0, 800) : error);
  process.exitCode = 1;
});
