/**
 * The UsageRecorder middleware's throughput cost on a hello-world express route: requests/s
 * with and without it, measured in the same run, alternating (plain, recorded, plain,
 * recorded...) BENCH_ROUNDS times (default 3) for BENCH_SECONDS each (default 5). The recorder
 * flushes to the real ingestion service on SQLite, in the same process as the server, so its
 * background work is part of the cost. The load comes from a child process (this script with
 * `--load`): BENCH_CONNECTIONS (default 32) keep-alive connections on 127.0.0.1, at most
 * BENCH_MAX_REQUESTS (default 2,000,000) requests per round.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { migrationsFor } from '../src/composition';
import { migrateLatest } from '../src/db/migrator';
import { stripeCapabilities } from '../plugins/stripe/capabilities';
import { UsageIngestion } from '../src/usage/ingest';
import { UsageRecorder } from '../src/gateway-kit/usage-recorder';
import { SubscriptionLookup } from '../src/usage/subscription-lookup';
import { envInt, openDatabase, report, seedBilledSubscriptions, benchEngine } from './support';
import { apimCoreRecords } from '../src/apim/core-records';

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

function runLoad(url: string, seconds: number, connections: number, maxRequests: number): Promise<{ done: number; failed: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, '--load', url, String(seconds), String(connections), String(maxRequests)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`the load generator exited with ${code}`));
      else resolve(JSON.parse(out) as { done: number; failed: number });
    });
  });
}

function listen(app: express.Express): Promise<http.Server> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function main() {
  const seconds = envInt('BENCH_SECONDS', 5);
  const rounds = envInt('BENCH_ROUNDS', 3);
  const connections = envInt('BENCH_CONNECTIONS', 32);
  const maxRequests = envInt('BENCH_MAX_REQUESTS', 2_000_000);
  const database = await openDatabase('sqlite');
  try {
    const db = database.knex;
    await migrateLatest(db, migrationsFor(undefined));
    const { subscriptions } = await seedBilledSubscriptions(db, 10);
    const recorder = new UsageRecorder(new UsageIngestion(db, new SubscriptionLookup(apimCoreRecords(db), benchEngine(db), () => -1234, 5_000), () => new Date(), stripeCapabilities.usage), {
      identify: (req) => {
        const s = subscriptions[req.path.length % subscriptions.length]!;
        return { apiId: s.apiUuid, applicationId: s.applicationUuid, subscriptionId: s.uuid, tenant: 'carbon.super' };
      },
    });
    const hello = (_req: express.Request, res: express.Response) => {
      res.send('Hello World!');
    };
    const plainApp = express();
    plainApp.get('/hello', hello);
    const recordedApp = express();
    recordedApp.use(recorder.middleware());
    recordedApp.get('/hello', hello);
    const servers = { plain: await listen(plainApp), recorded: await listen(recordedApp) };
    const url = (server: http.Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/hello`;
    const totals = { plain: 0, recorded: 0 };
    for (let round = 0; round < rounds; round += 1) {
      for (const name of ['plain', 'recorded'] as const) {
        const { done, failed } = await runLoad(url(servers[name]), seconds, connections, maxRequests);
        if (failed > 0) throw new Error(`${failed} requests failed (${name})`);
        totals[name] += done;
      }
    }
    await recorder.close();
    for (const server of Object.values(servers)) server.close();
    const recordedEvents = Number((await db('ML_USAGE_EVENT').count({ N: '*' }).first())?.N);
    if (recordedEvents !== totals.recorded) throw new Error(`the recorder stored ${recordedEvents} events for ${totals.recorded} requests`);
    const plainRate = totals.plain / (rounds * seconds);
    const recordedRate = totals.recorded / (rounds * seconds);
    report({
      benchmark: 'middleware',
      route: 'GET /hello (express, "Hello World!")',
      connections,
      seconds: rounds * seconds,
      withoutRequestsPerSecond: Math.round(plainRate),
      withRequestsPerSecond: Math.round(recordedRate),
      eventsStored: recordedEvents,
      ratio: Number((recordedRate / plainRate).toFixed(3)),
    });
  } finally {
    await database.destroy();
  }
}

if (process.argv[2] === '--load') {
  const [url, seconds, connections, maxRequests] = process.argv.slice(3);
  generateLoad(url!, Number(seconds), Number(connections), Number(maxRequests)).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
} else {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message.slice(0, 500) : error);
    process.exitCode = 1;
  });
}
