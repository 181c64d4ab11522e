/**
 * What recording usage costs a Node gateway: requests/s of a hello-world express route without
 * `UsageRecorder` and with it, in the same run, rounds interleaved (plain, remote, in-process,
 * rotating the order each round) and medians reported. Two ways of recording, one JSON line each:
 *
 * - **remote** (production): the recorder sends batches with `httpUsageSink` to Meterline running
 *   as its own process (`node dist/src/cli/main.js serve` on a temporary SQLite database, the
 *   production composition). Target: ≥ 0.95 × the route without it. After the rounds the recorder
 *   is closed and the events Meterline stored are counted: the bench fails unless every recorded
 *   call is stored exactly once.
 * - **in-process** (embedded): the recorder writes through `UsageIngestion` in the route's own
 *   process (another temporary SQLite database), so ingestion shares the route's core.
 * - **spool** (production, no HTTP in the route's process): the recorder appends batches with
 *   `spoolUsageSink` to NDJSON spool files; after the rounds the spool intake (what Meterline runs
 *   before each publish) reads them into a third SQLite database, and the bench fails unless every
 *   recorded call is stored exactly once. Target: ≥ 0.95 × the route without it.
 *
 * The recorder hooks the route's server with `recorder.attach(server)` (Node's response-finish
 * diagnostics channel, no router layer), or with BENCH_RECORDER_HOOK=middleware with
 * `app.use(recorder.middleware())` (a `finish` listener per response); each line names it (`hook`).
 *
 * Each is measured at two sizes, the number of subscriptions the calls spread over
 * (BENCH_MIDDLEWARE_SUBSCRIPTIONS, default "10,10000"), with the growth factor of the time per
 * recorded request between them. The load comes from a child process (this script with `--load`):
 * BENCH_CONNECTIONS (default 32) keep-alive connections on 127.0.0.1, BENCH_SECONDS (default 5) per
 * round, BENCH_ROUNDS (default 3) rounds per size, at most BENCH_MAX_REQUESTS (default 2,000,000)
 * requests per round. After each round the recorder's backlog is flushed before the next round
 * starts (untimed), so one way's catching up does not land in another's round; the largest backlog
 * seen at a round's end is printed (`maxPendingAtRoundEnd`).
 *
 * Beside requests/s each size prints CPU time: the route process's per request, without and with
 * the recorder (round and its flush), and Meterline's per event stored (from /proc). They separate
 * the recorder's own cost in the gateway from Meterline's ingestion, which on a machine of two
 * cores competes with the route and the load generator for the same CPUs (in production it runs
 * elsewhere), and they move less than requests/s when other work shares the machine. The route
 * process's kernel (system) time per request is printed apart: callgrind's counts
 * (bench/recorder-instructions.ts) see user space only, and over loopback the kernel does the
 * receiving side's TCP work in the sender's process too; beside it, the process's minor page
 * faults and context switches per 1,000 requests (`process.resourceUsage()`).
 *
 * A fifth way, **plainBusy**, is the plain route while Meterline ingests as much as in the remote
 * rounds, fed by another child (this script with `--feed`, on Meterline's CPU, at the lowest
 * priority) at the request rate of this size's last remote round, in batches of 1,000: the remote
 * line prints its figures against it too (`againstMeterlineBusy`). On a VM whose two vCPUs share
 * a core, work on CPU 1 slows the route on CPU 0 (a `nice -n 19` busy loop there raised the
 * route's CPU per request by up to a quarter), so the remote way's ratio to the idle plain route
 * holds Meterline's own ingestion as well as the recorder; against plainBusy it holds the
 * recorder's cost alone. The target is still judged by the ratio to the idle plain route.
 *
 * The remote and spool lines also print `recorderCpuMicrosPerCall`: the recorder's own CPU per call in the
 * route's process (target ≤ 5 µs), measured without HTTP serving around it (below, after the rounds).
 *
 * Pinning (BENCH_PIN, default on): with `taskset` (util-linux) and at least two CPUs, the route's
 * process (this one: the three routes and their recorders) runs alone on CPU 0, and the load
 * generator and Meterline share CPU 1, the same for every way, so Meterline's work in another
 * process does not take the route's core, as it would not in production. Without `taskset`, or
 * with BENCH_PIN=0, nothing is pinned; each line says which (`pinning`). Meterline runs at the
 * lowest priority (`nice -n 19`): it takes the CPU time the load generator leaves, so its
 * ingestion does not slow the load of the remote way's rounds (in production it runs on another
 * host); what it has not taken in by a round's end waits in the recorder (`maxPendingAtRoundEnd`)
 * and is sent after the round, untimed, as the spool way's files are read after the rounds.
 */
import { spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { channel as diagnosticsChannel } from 'node:diagnostics_channel';
import type { AddressInfo, Server } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { migrationsFor } from '../src/composition';
import { migrateLatest } from '../src/db/migrator';
import { stripeCapabilities } from '../plugins/stripe/capabilities';
import type { BatchResult } from '../src/usage/ingest';
import { UsageIngestion } from '../src/usage/ingest';
import { httpUsageSink } from '../src/gateway-kit/http-usage-sink';
import { spoolUsageSink } from '../src/gateway-kit/spool-usage-sink';
import { createLogger } from '../src/logger';
import { SourcePositions } from '../src/usage/source-positions';
import { SpoolIntake } from '../src/usage/sources/spool';
import { UsageRecorder, type CallIdentity, type UsageSink } from '../src/gateway-kit/usage-recorder';
import { SubscriptionLookup } from '../src/usage/subscription-lookup';
import { apimCoreRecords } from '../src/apim/core-records';
import type { TestDatabase } from '../test/helpers/databases';
import { benchEngine, callerOf, envInt, openDatabase, report, seedBilledSubscriptions, type SeededSubscription, median } from './support';
import { startMeterline } from './meterline-process';

const TARGET = 0.95;
/** What the brief asks of the recorder's own work in the route's process, per call. */
const RECORDER_CPU_TARGET_MICROS = 5;

/** Where the processes run: `taskset -c <cpu>` prefixes for the children, or nothing. */
interface Pinning {
  /** What each line prints. */
  description: string;
  /** The command and arguments that start `node <args>` on the other CPU. */
  command(args: string[]): [string, string[]];
}

function choosePinning(): Pinning {
  const unpinned = (why: string): Pinning => ({ description: `none: ${why}`, command: (args) => [process.execPath, args] });
  if (process.env.BENCH_PIN === '0') return unpinned('BENCH_PIN=0');
  if (os.cpus().length < 2) return unpinned('fewer than two CPUs');
  if (spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status !== 0) return unpinned('taskset (util-linux) not found');
  // -a: every thread of this process (libuv's pool and V8's helpers too), before any child starts.
  if (spawnSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' }).status !== 0) return unpinned('taskset could not pin this process');
  return {
    description: 'taskset: the route process alone on CPU 0; the load generator and Meterline on CPU 1',
    command: (args) => ['taskset', ['-c', '1', process.execPath, ...args]],
  };
}

/** The child: keep `connections` requests in flight for `seconds`, then print how many completed. */
async function generateLoad(url: string, seconds: number, connections: number, maxRequests: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  let failed = 0;
  let issued = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) done += 1;
          else failed += 1;
          resolve();
        });
      });
      req.on('error', () => {
        failed += 1;
        resolve();
      });
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline && issued < maxRequests) {
        issued += 1;
        await one();
      }
    }),
  );
  agent.destroy();
  process.stdout.write(JSON.stringify({ done, failed, seconds }));
}

/** Runs a child of this script and resolves with the JSON it printed; killed after `timeoutSeconds`. */
function childJson<T>(name: string, command: string, args: string[], timeoutSeconds: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutSeconds * 1000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`the ${name} exited with ${code}`));
      else resolve(JSON.parse(out) as T);
    });
  });
}

function runLoad(pinning: Pinning, url: string, seconds: number, connections: number, maxRequests: number): Promise<{ done: number; failed: number }> {
  const [command, args] = pinning.command([__filename, '--load', url, String(seconds), String(connections), String(maxRequests)]);
  return childJson('load generator', command, args, seconds + 30);
}

/**
 * The child: posts `rate` billable events a second to Meterline for `seconds` (batches of 1,000
 * with `httpUsageSink`, each at its time, the callers taken in turn from `callersFile`'s first
 * `active`), then prints what Meterline answered. It keeps Meterline as busy as a remote round's
 * recorder does while the plain route is measured (`plainBusy`).
 */
async function feedMeterline(url: string, token: string, rate: number, seconds: number, callersFile: string, active: number, prefix: string): Promise<void> {
  const callers = (JSON.parse(readFileSync(callersFile, 'utf8')) as CallIdentity[]).slice(0, active);
  const sink = httpUsageSink({ url, token: () => token });
  const counts = { sent: 0, accepted: 0, duplicates: 0, rejected: 0 };
  const started = performance.now();
  for (let batch = 0; ; batch += 1) {
    const due = started + (batch * FEED_BATCH * 1000) / rate;
    if (due - started >= seconds * 1000) break;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const timestamp = Date.now();
    const events = Array.from({ length: FEED_BATCH }, (_, i) => ({ ...callers[(counts.sent + i) % callers.length]!, eventId: `${prefix}-${counts.sent + i}`, timestamp, httpStatus: 200 }));
    const result = await sink.ingest(events);
    counts.sent += events.length;
    counts.accepted += result.accepted;
    counts.duplicates += result.duplicates;
    counts.rejected += result.rejected;
  }
  await sink.close?.();
  process.stdout.write(JSON.stringify(counts));
}

const FEED_BATCH = 1_000;

/** `feedMeterline` in a child on Meterline's CPU, at its priority; resolves with its counts. */
function runFeeder(pinning: Pinning, args: { url: string; token: string; rate: number; seconds: number; callersFile: string; active: number; prefix: string }) {
  const [program, rest] = pinning.command([__filename, '--feed', args.url, args.token, String(args.rate), String(args.seconds), args.callersFile, String(args.active), args.prefix]);
  return childJson<{ sent: number; accepted: number; duplicates: number; rejected: number }>('feeder', 'nice', ['-n', '19', program, ...rest], args.seconds + 60);
}

function listen(app: express.Express): Promise<http.Server> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const micros = (seconds: number, count: number) => (count === 0 ? null : Number(((seconds * 1e6) / count).toFixed(1)));
const per1000 = (events: number, requests: number) => (requests === 0 ? null : Number(((events * 1000) / requests).toFixed(1)));


/** A sink that counts what the real sink's answers said, to check nothing was counted twice or rejected. */
function counting(sink: UsageSink) {
  const counts = { accepted: 0, duplicates: 0, rejected: 0 };
  const wrapped: UsageSink = {
    async ingest(events) {
      const result: BatchResult = await sink.ingest(events);
      counts.accepted += result.accepted;
      counts.duplicates += result.duplicates;
      counts.rejected += result.rejected;
      return result;
    },
    close: () => sink.close?.(),
    ...(sink.preferredBatchSize === undefined ? {} : { preferredBatchSize: sink.preferredBatchSize }),
  };
  return { sink: wrapped, counts };
}

type Way = 'plain' | 'plainBusy' | 'remote' | 'inProcess' | 'spool';
type Recording = Exclude<Way, 'plain' | 'plainBusy'>;
const RECORDINGS: readonly Recording[] = ['remote', 'inProcess', 'spool'];

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined elsewhere. */
function cpuSecondsOf(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ, 100 on Linux)
  } catch {
    return undefined;
  }
}

const ownCpuSeconds = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};
/**
 * What this process has used so far, read once: its CPU, the kernel's share of it (system time:
 * sockets, and on loopback the receiving side's TCP work too), page faults (heap growth) and
 * context switches (wake-ups).
 */
const ownUsage = () => {
  const usage = process.resourceUsage();
  return {
    seconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
    systemSeconds: usage.systemCPUTime / 1e6,
    minorFaults: usage.minorPageFault,
    switches: usage.voluntaryContextSwitches + usage.involuntaryContextSwitches,
  };
};

async function main() {
  const seconds = envInt('BENCH_SECONDS', 5);
  const rounds = envInt('BENCH_ROUNDS', 3);
  const connections = envInt('BENCH_CONNECTIONS', 32);
  const maxRequests = envInt('BENCH_MAX_REQUESTS', 2_000_000);
  const sizes = (process.env.BENCH_MIDDLEWARE_SUBSCRIPTIONS ?? '10,10000').split(',').map(Number);
  if (sizes.length !== 2 || sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('BENCH_MIDDLEWARE_SUBSCRIPTIONS must be two sizes, e.g. "10,10000"');
  const loadAtStart = os.loadavg()[0]!;
  const hook = process.env.BENCH_RECORDER_HOOK ?? 'attach';
  if (hook !== 'attach' && hook !== 'middleware') throw new Error('BENCH_RECORDER_HOOK must be "attach" or "middleware"');
  const pinning = choosePinning();
  const remoteDb = await openDatabase('sqlite');
  const localDb = await openDatabase('sqlite');
  const spoolDb = await openDatabase('sqlite');
  const configDir = mkdtempSync(join(os.tmpdir(), 'meterline-bench-'));
  let meterline: Awaited<ReturnType<typeof startMeterline>> | undefined;
  const servers: http.Server[] = [];
  try {
    const seeded: Record<Recording, SeededSubscription[]> = { remote: [], inProcess: [], spool: [] };
    for (const [way, database] of [['remote', remoteDb], ['inProcess', localDb], ['spool', spoolDb]] as const) {
      await migrateLatest(database.knex, migrationsFor(undefined));
      seeded[way] = (await seedBilledSubscriptions(database.knex, Math.max(...sizes))).subscriptions;
    }
    // What a gateway's key validation hands the recorder: one identity object per subscription, made once.
    const callers = { remote: seeded.remote.map(callerOf), inProcess: seeded.inProcess.map(callerOf), spool: seeded.spool.map(callerOf) };
    // The feeder's callers: the remote way's, so its events are billed as the recorder's are.
    const callersFile = join(configDir, 'callers.json');
    writeFileSync(callersFile, JSON.stringify(callers.remote));
    let active = sizes[0]!;
    let turn = 0;
    const identify = (list: CallIdentity[]) => () => list[(turn++) % active]!;

    // At the lowest priority: Meterline takes the CPU time the load generator leaves, as on its own host it takes none of it.
    meterline = await startMeterline((args) => {
      const [program, rest] = pinning.command(args);
      return ['nice', ['-n', '19', program, ...rest]];
    }, remoteDb, configDir);
    const { token } = meterline;
    const remote = counting(httpUsageSink({ url: meterline.serving.url, token: () => token }));
    const spoolDir = join(configDir, 'spool');
    const spool = counting(spoolUsageSink({ directory: spoolDir }));
    const problems: string[] = [];
    const onError = (error: unknown, dropped: number) => problems.push(`${dropped} dropped: ${error instanceof Error ? error.message : String(error)}`);
    const recorders = {
      remote: new UsageRecorder(remote.sink, { identify: identify(callers.remote), onError }),
      inProcess: new UsageRecorder(
        new UsageIngestion(localDb.knex, new SubscriptionLookup(apimCoreRecords(localDb.knex), benchEngine(localDb.knex), () => -1234, 5_000), () => new Date(), stripeCapabilities.usage),
        { identify: identify(callers.inProcess), onError },
      ),
      spool: new UsageRecorder(spool.sink, { identify: identify(callers.spool), onError }),
    };
    const hello = (_req: express.Request, res: express.Response) => {
      res.send('Hello World!');
    };
    const app = (recorder?: UsageRecorder) => {
      const a = express();
      if (recorder && hook === 'middleware') a.use(recorder.middleware());
      a.get('/hello', hello);
      return a;
    };
    const urls = {} as Record<Way, string>;
    for (const [way, recorder] of [['plain', undefined], ['remote', recorders.remote], ['inProcess', recorders.inProcess], ['spool', recorders.spool]] as const) {
      const server = await listen(app(recorder));
      if (recorder && hook === 'attach') recorder.attach(server);
      servers.push(server);
      urls[way] = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hello`;
    }
    urls.plainBusy = urls.plain;

    const ways: Way[] = ['plain', 'remote', 'inProcess', 'spool', 'plainBusy'];
    const recorded = { remote: 0, inProcess: 0, spool: 0 };
    const maxPending = { remote: 0, inProcess: 0, spool: 0 };
    const perSize = sizes.map(() => ({ plain: [] as number[], plainBusy: [] as number[], remote: [] as number[], inProcess: [] as number[], spool: [] as number[] }));
    // What the feeder sent in the plainBusy rounds, and at what rate (events/s asked, per round).
    const fed = { sent: 0, accepted: 0, duplicates: 0, rejected: 0 };
    const feedRates = sizes.map(() => [] as number[]);
    // CPU per request in the route's process (and Meterline's per event), less sensitive to other load than requests/s.
    const routeCpu = () => ({ seconds: 0, systemSeconds: 0, minorFaults: 0, switches: 0, requests: 0 });
    const cpu = sizes.map(() => ({
      plain: routeCpu(),
      plainBusy: routeCpu(),
      remote: routeCpu(),
      inProcess: routeCpu(),
      spool: routeCpu(),
      meterline: { seconds: 0, events: 0, idleSeconds: 0, busySeconds: 0, busyEvents: 0 },
    }));
    const meterlinePid = meterline.serving.pid;
    for (const [s, size] of sizes.entries()) {
      active = size;
      for (let round = 0; round < rounds; round += 1) {
        const order = ways.map((_, i) => ways[(i + round) % ways.length]!);
        for (const way of order) {
          const before = ownUsage();
          const meterlineBefore = cpuSecondsOf(meterlinePid);
          // plainBusy: Meterline as busy as in the remote rounds, at this size's last remote rate.
          const remoteRates = perSize[s]!.remote;
          const feedRate = Math.round(remoteRates[remoteRates.length - 1] ?? median(perSize[s]!.plain.length > 0 ? perSize[s]!.plain : [1_000]));
          const feeding =
            way === 'plainBusy'
              ? runFeeder(pinning, { url: meterline.serving.url, token, rate: feedRate, seconds, callersFile, active, prefix: `neighbour-${s}-${round}` })
              : undefined;
          const { done, failed } = await runLoad(pinning, urls[way], seconds, connections, maxRequests);
          if (failed > 0) throw new Error(`${failed} requests failed (${way})`);
          perSize[s]![way].push(done / seconds);
          let fedThisRound = 0;
          if (feeding) {
            const counts = await feeding;
            fedThisRound = counts.sent;
            for (const key of ['sent', 'accepted', 'duplicates', 'rejected'] as const) fed[key] += counts[key];
            feedRates[s]!.push(feedRate);
          }
          if (way !== 'plain' && way !== 'plainBusy') {
            recorded[way] += done;
            maxPending[way] = Math.max(maxPending[way], recorders[way].pending);
            // Outside the timed round: the next round starts without this one's backlog. Inside the CPU figures.
            await recorders[way].flush();
          }
          const c = cpu[s]!;
          const after = ownUsage();
          c[way].seconds += after.seconds - before.seconds;
          c[way].systemSeconds += after.systemSeconds - before.systemSeconds;
          c[way].minorFaults += after.minorFaults - before.minorFaults;
          c[way].switches += after.switches - before.switches;
          c[way].requests += done;
          const meterlineAfter = cpuSecondsOf(meterlinePid);
          if (way === 'remote' && meterlineBefore !== undefined && meterlineAfter !== undefined) {
            c.meterline.seconds += meterlineAfter - meterlineBefore;
            c.meterline.events += done;
          } else if (way === 'plainBusy' && meterlineBefore !== undefined && meterlineAfter !== undefined) {
            c.meterline.busySeconds += meterlineAfter - meterlineBefore;
            c.meterline.busyEvents += fedThisRound;
          } else if (meterlineBefore !== undefined && meterlineAfter !== undefined) {
            c.meterline.idleSeconds += meterlineAfter - meterlineBefore; // what Meterline spends when no usage comes (should be ~0)
          }
        }
      }
    }
    // The recorder's own CPU per call in the route's process, without HTTP serving around it:
    // BENCH_RECORDER_CALLS synthetic responses finish, paced at about 20,000 calls/s so Meterline
    // keeps up, through each recorder as the bench hooked it (attached: the message Node publishes
    // on its response-finish channel, to a stand-in server the recorder is attached to; or its
    // middleware), building, sending, reading answers, and through nothing, alternately in
    // rounds; the medians' difference. These calls are stored too.
    const recorderCalls = envInt('BENCH_RECORDER_CALLS', 100_000);
    const recorderCpu = { without: [] as number[], remote: [] as number[], spool: [] as number[] };
    const middlewares = { remote: recorders.remote.middleware(), spool: recorders.spool.middleware() };
    const standIns = { remote: new EventEmitter() as unknown as Server, spool: new EventEmitter() as unknown as Server };
    if (hook === 'attach') for (const kind of ['remote', 'spool'] as const) recorders[kind].attach(standIns[kind]);
    const responseFinished = diagnosticsChannel('http.server.response.finish');
    active = sizes[sizes.length - 1]!;
    for (let round = 0; round < rounds && recorderCalls > 0; round += 1) {
      const kinds = ['without', 'remote', 'spool'] as const;
      for (const kind of kinds.map((_, i) => kinds[(i + round) % kinds.length]!)) {
        const middleware = kind !== 'without' && hook === 'middleware' ? middlewares[kind] : undefined;
        const before = ownCpuSeconds();
        for (let done = 0; done < recorderCalls; done += 200) {
          for (let i = 0; i < 200 && done + i < recorderCalls; i += 1) {
            const res = new EventEmitter() as unknown as express.Response;
            const req = {} as express.Request;
            Object.assign(res, { req, statusCode: 200 });
            if (middleware) middleware(req, res, () => undefined);
            res.emit('finish');
            if (kind !== 'without' && hook === 'attach') responseFinished.publish({ request: req, response: res, socket: undefined, server: standIns[kind] });
          }
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        if (kind !== 'without') {
          await recorders[kind].flush();
          recorded[kind] += recorderCalls;
        }
        recorderCpu[kind].push(((ownCpuSeconds() - before) * 1e6) / recorderCalls);
      }
    }
    await recorders.remote.close();
    await recorders.inProcess.close();
    await recorders.spool.close();
    for (const server of servers) server.close();
    // Meterline's side of the spool, after the rounds (in production another process on another
    // core): the spool intake reads every file into the event store; its CPU per event is printed.
    const spoolIngestion = new UsageIngestion(spoolDb.knex, new SubscriptionLookup(apimCoreRecords(spoolDb.knex), benchEngine(spoolDb.knex), () => -1234, 5_000), () => new Date(), stripeCapabilities.usage);
    const spoolReadStart = ownCpuSeconds();
    const spoolRead = await new SpoolIntake({ directory: spoolDir, positions: new SourcePositions(spoolDb.knex), ingest: (events, how) => spoolIngestion.ingest(events, how), logger: createLogger('silent'), now: Date.now }).read();
    const spoolReadCpuSeconds = ownCpuSeconds() - spoolReadStart;

    const count = async (database: TestDatabase) => Number((await database.knex('ML_USAGE_EVENT').count({ N: '*' }).first())?.N);
    const stored = { remote: await count(remoteDb), inProcess: await count(localDb), spool: await count(spoolDb) };
    const lost: string[] = [];
    for (const way of RECORDINGS) {
      const line = (subject: string) => `${way}: ${subject}`;
      const expected = recorded[way] + (way === 'remote' ? fed.sent : 0);
      if (stored[way] !== expected) lost.push(line(`Meterline stored ${stored[way]} events for ${recorded[way]} recorded calls${way === 'remote' ? ` and ${fed.sent} fed` : ''}`));
      if (recorders[way].dropped > 0) lost.push(line(`${recorders[way].dropped} calls were not recorded (buffer full)`));
    }
    if (remote.counts.accepted !== recorded.remote || remote.counts.rejected > 0) {
      lost.push(`remote: Meterline answered ${remote.counts.accepted} accepted, ${remote.counts.duplicates} duplicate, ${remote.counts.rejected} rejected for ${recorded.remote} calls`);
    }
    if (fed.accepted !== fed.sent || fed.rejected > 0) lost.push(`plainBusy: Meterline answered ${fed.accepted} accepted, ${fed.duplicates} duplicate, ${fed.rejected} rejected for ${fed.sent} fed events`);
    if (spool.counts.accepted !== recorded.spool || spoolRead.accepted !== recorded.spool || spoolRead.malformed > 0 || spoolRead.rejected > 0) {
      lost.push(`spool: ${spool.counts.accepted} events spooled, ${spoolRead.accepted} read and stored (${spoolRead.duplicates} duplicate, ${spoolRead.rejected} rejected, ${spoolRead.malformed} malformed) for ${recorded.spool} calls`);
    }

    // The remote way against the plain route while the feeder kept Meterline as busy (plainBusy).
    const againstBusy = (s: number) => {
      const r = perSize[s]!;
      const ratios = r.remote.map((rate, i) => rate / r.plainBusy[i]!);
      const c = cpu[s]!;
      return {
        withoutRequestsPerSecond: Math.round(median(r.plainBusy)),
        ratio: Number(median(ratios).toFixed(3)),
        roundRatios: ratios.map((x) => Number(x.toFixed(3))),
        idlePlainOverBusyPlain: Number(median(r.plain.map((rate, i) => rate / r.plainBusy[i]!)).toFixed(3)),
        routeProcessCpuMicrosPerRequest: micros(c.plainBusy.seconds, c.plainBusy.requests),
        routeProcessKernelMicrosPerRequest: micros(c.plainBusy.systemSeconds, c.plainBusy.requests),
        fedEventsPerSecond: feedRates[s]!.map((rate) => rate),
        meterlineCpuSeconds: { busyRounds: Number(c.meterline.busySeconds.toFixed(2)), remoteRounds: Number(c.meterline.seconds.toFixed(2)) },
        meterlineCpuMicrosPerEvent: micros(c.meterline.busySeconds, c.meterline.busyEvents),
      };
    };
    for (const way of RECORDINGS) {
      const figures = sizes.map((size, s) => {
        const r = perSize[s]!;
        // Each round's ratio against the plain run of the same round, then the median of those.
        const ratios = r[way].map((rate, i) => rate / r.plain[i]!);
        return {
          subscriptions: size,
          withoutRequestsPerSecond: Math.round(median(r.plain)),
          withRequestsPerSecond: Math.round(median(r[way])),
          ratio: Number(median(ratios).toFixed(3)),
          roundRatios: ratios.map((x) => Number(x.toFixed(3))),
          routeProcessCpuMicrosPerRequest: { without: micros(cpu[s]!.plain.seconds, cpu[s]!.plain.requests), with: micros(cpu[s]![way].seconds, cpu[s]![way].requests) },
          routeProcessKernelMicrosPerRequest: { without: micros(cpu[s]!.plain.systemSeconds, cpu[s]!.plain.requests), with: micros(cpu[s]![way].systemSeconds, cpu[s]![way].requests) },
          routeProcessPer1000Requests: {
            minorFaults: { without: per1000(cpu[s]!.plain.minorFaults, cpu[s]!.plain.requests), with: per1000(cpu[s]![way].minorFaults, cpu[s]![way].requests) },
            contextSwitches: { without: per1000(cpu[s]!.plain.switches, cpu[s]!.plain.requests), with: per1000(cpu[s]![way].switches, cpu[s]![way].requests) },
          },
          ...(way === 'remote'
            ? {
                meterlineCpuMicrosPerEvent: micros(cpu[s]!.meterline.seconds, cpu[s]!.meterline.events),
                meterlineCpuSecondsInOtherRounds: Number(cpu[s]!.meterline.idleSeconds.toFixed(2)),
                againstMeterlineBusy: againstBusy(s),
              }
            : {}),
        };
      });
      const [small, large] = figures as [(typeof figures)[0], (typeof figures)[0]];
      const remoteLike = way !== 'inProcess';
      report({
        benchmark: way === 'remote' ? 'middleware-remote' : way === 'spool' ? 'middleware-spool' : 'middleware-in-process',
        route: 'GET /hello (express, "Hello World!")',
        hook: hook === 'attach' ? 'recorder.attach(server)' : 'app.use(recorder.middleware())',
        sink:
          way === 'remote'
            ? 'httpUsageSink to `meterline serve` (SQLite) in another process'
            : way === 'spool'
              ? 'spoolUsageSink (NDJSON spool files), read after the rounds by the spool intake into SQLite'
              : 'UsageIngestion on SQLite in the route\'s process',
        connections,
        pinning: pinning.description,
        secondsPerRound: seconds,
        rounds,
        sizes: figures,
        ratio: Math.min(small.ratio, large.ratio),
        ...(remoteLike ? { target: TARGET, meetsTarget: Math.min(small.ratio, large.ratio) >= TARGET } : {}),
        growthTimePerRecordedRequest: { from: small.subscriptions, to: large.subscriptions, factor: Number((small.withRequestsPerSecond / large.withRequestsPerSecond).toFixed(3)) },
        callsRecorded: recorded[way],
        eventsStored: stored[way],
        ...(way === 'remote' ? { answered: remote.counts } : {}),
        ...(way === 'spool' ? { spooled: spool.counts.accepted, spoolRead: { ...spoolRead, cpuMicrosPerEvent: micros(spoolReadCpuSeconds, spoolRead.lines) } } : {}),
        maxPendingAtRoundEnd: maxPending[way],
        ...((way === 'remote' || way === 'spool') && recorderCpu[way].length > 0
          ? {
              recorderCpuMicrosPerCall: {
                calls: recorderCalls,
                rounds: recorderCpu[way].length,
                median: Number((median(recorderCpu[way]) - median(recorderCpu.without)).toFixed(2)),
                target: RECORDER_CPU_TARGET_MICROS,
                withoutRecorder: Number(median(recorderCpu.without).toFixed(2)),
                withRecorder: Number(median(recorderCpu[way]).toFixed(2)),
              },
            }
          : {}),
        loadAverageAtStart: Number(loadAtStart.toFixed(2)),
      });
    }
    if (problems.length > 0) console.error(`recorder problems:\n${problems.slice(0, 10).join('\n')}`);
    if (lost.length > 0) throw new Error(`EVENTS LOST OR MISCOUNTED:\n${lost.join('\n')}`);
  } finally {
    for (const server of servers) server.close();
    if (meterline) await meterline.serving.stop();
    await remoteDb.destroy();
    await localDb.destroy();
    await spoolDb.destroy();
    rmSync(configDir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--feed') {
  const [url, token, rate, seconds, callersFile, active, prefix] = process.argv.slice(3);
  feedMeterline(url!, token!, Number(rate), Number(seconds), callersFile!, Number(active), prefix!).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
} else if (process.argv[2] === '--load') {
  const [url, seconds, connections, maxRequests] = process.argv.slice(3);
  generateLoad(url!, Number(seconds), Number(connections), Number(maxRequests)).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
} else {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message.slice(0, 2000) : error);
    process.exitCode = 1;
  });
}
