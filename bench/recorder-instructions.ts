/**
 * What the gateway recorder adds to a route, counted in instructions rather than timed: on a VM
 * whose speed moves by more than the 5 % the recorder's target resolves (two identical routes,
 * twelve paired rounds of 2 s: 0.87-1.30 × each other), valgrind's callgrind counts the same work
 * the same way run after run (within 0.1 % here). Not run by `npm run bench` (each way takes
 * about two minutes under valgrind): `node dist/bench/recorder-instructions.js`, needs `valgrind`
 * and `callgrind_control` (Debian's valgrind).
 *
 * For each way (BENCH_WAYS, default all: `alone,attach,middleware,remote`: the route alone;
 * `recorder.attach(server)` and `app.use(recorder.middleware())` with the spool sink;
 * `recorder.attach(server)` with `httpUsageSink` to `meterline serve` in its own process, not
 * under valgrind, on CPU 1, the callers seeded subscriptions) the route's process runs under
 * callgrind on CPU 0, the load generator of bench/middleware.ts on CPU 1 (BENCH_CONNECTIONS,
 * default 32): BENCH_WARM_REQUESTS (3,000) to warm up, then the counters are zeroed,
 * BENCH_COUNTED_REQUESTS (8,000) are served and the counters dumped, one file per thread:
 * instructions per request of every thread of the process (the main thread, V8's collector
 * helpers, libuv's pool), and of the main thread alone. The all-threads figure moves by a few
 * per cent with whether one of V8's major collections (concurrent marking and sweeping, every few
 * thousand requests in every way) lands inside the window (printed: `majorCollectionsInWindow`);
 * the main thread's, where the route, the recorder and the sink run, moves by about 1 %. The
 * recorder flushes by batch size only (each sink's: 500 for the spool sink, 1,000 for the HTTP
 * sink; the timer set to 10 minutes, since under valgrind a second is a few dozen requests). 10,000
 * caller identities exist in every way, as flat strings (`callerOf`). Ratio: the route alone
 * over each way (the throughput the route would keep if instructions were time). The remote way
 * counts the gateway's side only (Meterline's ingestion runs elsewhere in production); afterwards
 * the bench checks that Meterline stored the calls served (all but the batch being filled and at
 * most one in flight when the route stops). One JSON line.
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import express from 'express';
import { migrationsFor } from '../src/composition';
import { migrateLatest } from '../src/db/migrator';
import { httpUsageSink } from '../src/gateway-kit/http-usage-sink';
import { spoolUsageSink } from '../src/gateway-kit/spool-usage-sink';
import { MAX_RECORDER_BATCH, UsageRecorder, type CallIdentity } from '../src/gateway-kit/usage-recorder';
import { startMeterline } from './meterline-process';
import { callerOf, envInt, openDatabase, report, seedBilledSubscriptions } from './support';

type Way = 'alone' | 'attach' | 'middleware' | 'remote';
const WAYS: readonly Way[] = ['alone', 'attach', 'middleware', 'remote'];
const CALLERS = 10_000;
/** The remote way's batches: the HTTP sink's preferred size (the spool sink's ways keep the recorder's 500). */
const REMOTE_BATCH_SIZE = MAX_RECORDER_BATCH;

/** Where the remote way's recorder sends: Meterline's URL, a gateway token and the seeded callers. */
interface RemoteTarget {
  url: string;
  token: string;
  callers: CallIdentity[];
}

/** The child under valgrind: the hello-world route with the recorder hooked one way; prints its port. */
function serve(way: Way, dir: string): void {
  const remote = way === 'remote' ? (JSON.parse(readFileSync(join(dir, 'remote.json'), 'utf8')) as RemoteTarget) : undefined;
  const callers = remote?.callers ?? Array.from({ length: CALLERS }, () => callerOf({ uuid: randomUUID(), apiUuid: randomUUID(), applicationUuid: randomUUID() }));
  // Major collections so far, printed when the parent asks (a line on stdin) before and after its window.
  let majorCollections = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as Array<{ detail?: { kind?: number } }>) if (entry.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) majorCollections += 1;
  }).observe({ entryTypes: ['gc'] });
  process.stdin.on('data', () => process.stdout.write(`MAJOR ${majorCollections}\n`));
  const sink = remote ? httpUsageSink({ url: remote.url, token: () => remote.token }) : spoolUsageSink({ directory: join(dir, 'spool') });
  let turn = 0;
  const recorder = new UsageRecorder(sink, { identify: () => callers[(turn++) % callers.length], flushIntervalMs: 600_000 });
  const app = express();
  if (way === 'middleware') app.use(recorder.middleware());
  app.get('/hello', (_req, res) => {
    res.send('Hello World!');
  });
  const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`));
  if (way === 'attach' || way === 'remote') recorder.attach(server);
}

function load(url: string, requests: number, connections: number): Promise<void> {
  const loader = join(__dirname, 'middleware.js');
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', '1', process.execPath, loader, '--load', url, '3600', String(connections), String(requests)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', (code) => {
      const answer = code === 0 ? (JSON.parse(out) as { done: number; failed: number }) : undefined;
      if (answer && answer.done === requests && answer.failed === 0) resolve();
      else reject(new Error(`the load generator served ${out || `nothing (exit ${code})`} of ${requests} requests`));
    });
  });
}

/**
 * Instructions a request: of every thread of the route's process, and of its main (JavaScript)
 * thread; and how many of V8's major collections the window held.
 */
interface Counts {
  all: number;
  main: number;
  majorCollections: number;
}

/** Waits for the next line of the child's output that matches, dropping what came before it. */
function outputOf(child: ChildProcessByStdio<Writable, Readable, Readable>) {
  let text = '';
  let waiting: { pattern: RegExp; resolve: (match: RegExpExecArray) => void } | undefined;
  const check = () => {
    const match = waiting?.pattern.exec(text);
    if (!waiting || !match) return;
    text = text.slice(match.index + match[0].length);
    const { resolve } = waiting;
    waiting = undefined;
    resolve(match);
  };
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    check();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return (pattern: RegExp, timeoutMs: number, failure: string) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${failure}: ${text.slice(-500)}`)), timeoutMs);
      waiting = { pattern, resolve: (match) => (clearTimeout(timer), resolve(match)) };
      check();
    });
}

async function instructionsPerRequest(way: Way, warm: number, counted: number, connections: number, remote?: RemoteTarget): Promise<Counts> {
  const dir = mkdtempSync(join(os.tmpdir(), 'meterline-callgrind-'));
  try {
    if (remote) writeFileSync(join(dir, 'remote.json'), JSON.stringify(remote));
    const out = join(dir, 'callgrind.out');
    const child = spawn('taskset', ['-c', '0', 'valgrind', '--tool=callgrind', '--separate-threads=yes', `--callgrind-out-file=${out}`, process.execPath, __filename, '--serve', way, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    const nextOutput = outputOf(child);
    const port = Number((await nextOutput(/PORT (\d+)/, 120_000, 'the route under valgrind did not start'))[1]);
    const majorCollections = async () => {
      child.stdin.write('\n');
      return Number((await nextOutput(/MAJOR (\d+)\n/, 60_000, 'the route did not say how many major collections it ran'))[1]);
    };
    const url = `http://127.0.0.1:${port}/hello`;
    await load(url, warm, connections);
    const majorBefore = await majorCollections();
    spawnSync('callgrind_control', ['-z', String(child.pid)], { stdio: 'ignore' });
    await load(url, counted, connections);
    spawnSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });
    const majorInWindow = (await majorCollections()) - majorBefore;
    child.kill('SIGTERM');
    await exited;
    // The dump asked for is one file per thread, <out>.1-01 (the main thread), <out>.1-02, ...;
    // the files the process wrote at its end hold what came after it.
    const dumps = readdirSync(dir).filter((name) => name.startsWith('callgrind.out.1-'));
    if (!dumps.includes('callgrind.out.1-01')) throw new Error(`callgrind wrote no dump of the main thread (${dumps.join(', ') || 'none'})`);
    const total = (name: string) => {
      const totals = /^(?:summary|totals): (\d+)/m.exec(readFileSync(join(dir, name), 'utf8'));
      if (!totals) throw new Error(`no totals in the callgrind dump ${name}`);
      return Number(totals[1]);
    };
    return { all: dumps.reduce((sum, name) => sum + total(name), 0) / counted, main: total('callgrind.out.1-01') / counted, majorCollections: majorInWindow };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  for (const tool of ['valgrind', 'callgrind_control', 'taskset']) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) throw new Error(`${tool} is needed (Debian: valgrind, util-linux)`);
  }
  const warm = envInt('BENCH_WARM_REQUESTS', 3_000);
  const counted = envInt('BENCH_COUNTED_REQUESTS', 8_000);
  const connections = envInt('BENCH_CONNECTIONS', 32);
  const ways = (process.env.BENCH_WAYS ?? WAYS.join(',')).split(',') as Way[];
  if (ways.some((way) => !WAYS.includes(way)) || !ways.includes('alone')) throw new Error(`BENCH_WAYS must list alone and any of ${WAYS.join(', ')}`);
  const perRequest = {} as Record<Way, Counts>;
  for (const way of ways) {
    if (way !== 'remote') perRequest[way] = await instructionsPerRequest(way, warm, counted, connections);
    else perRequest[way] = await withMeterline((target) => instructionsPerRequest(way, warm, counted, connections, target), warm + counted);
  }
  const ratio = (way: Way, of: keyof Counts) => Number((perRequest.alone[of] / perRequest[way][of]).toFixed(3));
  const recorded = ways.filter((way) => way !== 'alone');
  report({
    benchmark: 'recorder-instructions',
    route: 'GET /hello (express, "Hello World!")',
    sinks: { attach: 'spoolUsageSink', middleware: 'spoolUsageSink', remote: 'httpUsageSink to `meterline serve` (SQLite) on the other CPU, attached' },
    warmRequests: warm,
    countedRequests: counted,
    instructionsPerRequest: Object.fromEntries(ways.map((way) => [way, Math.round(perRequest[way].all)])),
    ratio: Object.fromEntries(recorded.map((way) => [way, ratio(way, 'all')])),
    mainThreadInstructionsPerRequest: Object.fromEntries(ways.map((way) => [way, Math.round(perRequest[way].main)])),
    mainThreadRatio: Object.fromEntries(recorded.map((way) => [way, ratio(way, 'main')])),
    majorCollectionsInWindow: Object.fromEntries(ways.map((way) => [way, perRequest[way].majorCollections])),
    target: 0.95,
  });
}

/**
 * Runs `measure` against Meterline in its own process on CPU 1 (a fresh SQLite file, CALLERS
 * seeded subscriptions), then checks that it stored the calls the route served, all but the
 * batch the recorder was filling and the one it may have been sending when the route was stopped.
 */
async function withMeterline(measure: (target: RemoteTarget) => Promise<Counts>, served: number): Promise<Counts> {
  const database = await openDatabase('sqlite');
  const dir = mkdtempSync(join(os.tmpdir(), 'meterline-instructions-'));
  let meterline: Awaited<ReturnType<typeof startMeterline>> | undefined;
  try {
    await migrateLatest(database.knex, migrationsFor(undefined));
    const { subscriptions } = await seedBilledSubscriptions(database.knex, CALLERS);
    meterline = await startMeterline((args) => ['taskset', ['-c', '1', process.execPath, ...args]], database, dir);
    const perRequest = await measure({ url: meterline.serving.url, token: meterline.token, callers: subscriptions.map(callerOf) });
    const stored = Number((await database.knex('ML_USAGE_EVENT').count({ N: '*' }).first())?.N);
    // Not sent when the route stops: the calls of the batch being filled, and at most one full batch in flight.
    if (stored > served || stored <= served - 2 * REMOTE_BATCH_SIZE) throw new Error(`Meterline stored ${stored} events of the ${served} calls served (at most the last ${2 * REMOTE_BATCH_SIZE - 1} may be unsent)`);
    return perRequest;
  } finally {
    await meterline?.serving.stop();
    await database.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') serve(process.argv[3] as Way, process.argv[4]!);
else
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
