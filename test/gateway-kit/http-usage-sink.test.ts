import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { httpUsageSink, UsageBatchRefusedError } from '../../src/gateway-kit/http-usage-sink';
import { UsageRecorder, type CallIdentity, type UsageRecorderOptions } from '../../src/gateway-kit/usage-recorder';
import type { EventResult } from '../../src/usage/ingest';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { startRestHarness, type RestHarness } from '../helpers/rest-harness';

/**
 * The remote sink against Meterline's real REST app (the production composition, `startService`,
 * on SQLite: nothing here depends on the database's SQL). Between the sink and Meterline sits a
 * small forwarding proxy that can fail a POST the way a network does: answer 503 without
 * forwarding, or forward it (Meterline stores the batch) and then cut the connection before the
 * answer reaches the gateway.
 */
type Fault = 'unavailable' | 'lose-answer';

interface Proxy {
  url: string;
  /** Consumed one per POST, in order; when empty, POSTs are forwarded untouched. */
  faults: Fault[];
  /** The event ids of every POST that reached the proxy, in order. */
  posts: string[][];
  close(): Promise<void>;
}

function startProxy(target: string): Promise<Proxy> {
  const faults: Fault[] = [];
  const posts: string[][] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      try {
        posts.push((JSON.parse(body.toString()) as { events: Array<{ eventId: string }> }).events.map((e) => e.eventId));
      } catch {
        posts.push([]);
      }
      const fault = faults.shift();
      if (fault === 'unavailable') return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"code":503,"message":"Service Unavailable"}');
      const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        const answered: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => answered.push(chunk));
        answer.on('end', () => {
          if (fault === 'lose-answer') return void req.socket.destroy(); // stored by Meterline, never heard of by the gateway
          res.writeHead(answer.statusCode ?? 502, answer.headers).end(Buffer.concat(answered));
        });
      });
      upstream.end(body);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        faults,
        posts,
        close: () => {
          server.closeAllConnections();
          return new Promise((done) => server.close(() => done()));
        },
      }),
    );
  });
}

/** Meterline's time and the gateway's: every event is stamped with it, whatever today's date. */
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);

let stripe: StripeServer;
let database: TestDatabase;
let meterline: RestHarness;
let proxy: Proxy;
let gatewayToken: string;

beforeAll(async () => {
  stripe = await startStripeServer({ port: 0 });
  database = await createTestDatabase({ kind: 'sqlite' });
  meterline = await startRestHarness(database, stripe, { clock: () => new Date(NOW) });
  proxy = await startProxy(meterline.url);
  gatewayToken = meterline.token({ sub: 'gateway', scopes: ['apim:usage_ingest'] });
});
afterAll(async () => {
  await proxy?.close();
  await meterline?.close();
  await database?.destroy();
  await stripe?.close();
});

const caller: CallIdentity = { apiId: 'api-sink-test', applicationId: 'app-sink-test', subscriptionId: 'sub-sink-test', tenant: 'carbon.super' };

/** A gateway: the recorder in front of a hello route (and a /health it does not record). */
async function gateway(prefix: string, sinkOptions: Partial<Parameters<typeof httpUsageSink>[0]>, recorderOptions: Partial<UsageRecorderOptions> = {}) {
  const errors: Array<{ error: unknown; dropped: number }> = [];
  const recorder = new UsageRecorder(httpUsageSink({ url: proxy.url, token: () => gatewayToken, retryDelayMs: 5, ...sinkOptions }), {
    identify: (req) => (req.path === '/health' ? undefined : caller),
    flushIntervalMs: 60_000, // only full batches, flush() and close() send in these tests
    eventIdPrefix: prefix,
    now: () => NOW,
    onError: (error, dropped) => errors.push({ error, dropped }),
    ...recorderOptions,
  });
  const app = express().use(recorder.middleware());
  app.get('/hello', (_req, res) => res.send('hello'));
  app.get('/health', (_req, res) => res.send('ok'));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    recorder,
    errors,
    async call(times: number, path = '/hello') {
      for (let i = 0; i < times; i += 1) expect((await fetch(`${base}${path}`)).status).toBe(200);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const stored = (prefix: string) => database.knex('ML_USAGE_EVENT').where('EVENT_ID', 'like', `${prefix}-%`).select('EVENT_ID', 'HTTP_STATUS');
const postsOf = (prefix: string) => proxy.posts.filter((ids) => ids[0]?.startsWith(`${prefix}-`));

it('sends full batches as they fill and the rest on close, each call stored once under its own id', async () => {
  const gw = await gateway('batches', {}, { batchSize: 10 });
  await gw.call(25);
  await gw.call(2, '/health');
  await gw.recorder.close();
  await gw.close();

  expect(postsOf('batches').map((ids) => ids.length)).toEqual([10, 10, 5]);
  const rows = await stored('batches');
  expect(rows).toHaveLength(25);
  expect(new Set(rows.map((r) => r.EVENT_ID)).size).toBe(25);
  expect(gw.recorder.pending).toBe(0);
  expect(gw.errors).toEqual([]);
});

it('fills batches of 1,000 when the recorder is given no batch size (one POST costs the gateway about what 100 events do)', async () => {
  const gw = await gateway('thousand', {});
  await gw.call(1_001);
  await gw.recorder.close();
  await gw.close();

  expect(postsOf('thousand').map((ids) => ids.length)).toEqual([1_000, 1]);
  expect(await stored('thousand')).toHaveLength(1_001);
  expect(gw.errors).toEqual([]);
});

it('resends a batch whose answer was lost with the same ids, and Meterline counts it once', async () => {
  const gw = await gateway('lost-answer', {}, { batchSize: 5 });
  proxy.faults.push('lose-answer');
  await gw.call(5);
  await gw.recorder.close();
  await gw.close();

  const posts = postsOf('lost-answer');
  expect(posts).toHaveLength(2);
  expect(posts[1]).toEqual(posts[0]);
  expect(await stored('lost-answer')).toHaveLength(5);
  expect(gw.errors).toEqual([]); // absorbed by the sink's retry
});

it('keeps a batch Meterline could not take through every attempt, and stores it once on a later flush', async () => {
  const gw = await gateway('unavailable', { attempts: 2 });
  proxy.faults.push('unavailable', 'unavailable');
  await gw.call(4);
  await gw.recorder.flush();

  expect(gw.recorder.pending).toBe(4);
  expect(gw.errors).toHaveLength(1);
  expect(gw.errors[0]!.dropped).toBe(0);
  expect(gw.errors[0]!.error).toBeInstanceOf(UsageBatchRefusedError);
  expect(gw.errors[0]!.error).toMatchObject({ status: 503, retryable: true, events: 4 });
  expect(await stored('unavailable')).toHaveLength(0);

  proxy.faults.push('lose-answer'); // and the next answer is lost too
  await gw.recorder.close();
  await gw.close();
  expect(gw.recorder.pending).toBe(0);
  expect(new Set(postsOf('unavailable').map((ids) => ids.join()))).toHaveProperty('size', 1); // every attempt carried the same ids
  expect(await stored('unavailable')).toHaveLength(4);
});

it('reports a batch Meterline refuses (403, a token without the scope) and keeps it until the token is right', async () => {
  let token = meterline.token({ sub: 'gateway', scopes: ['apim:subscribe'] });
  const gw = await gateway('forbidden', { attempts: 1, token: () => token });
  await gw.call(3);
  await gw.recorder.flush();

  expect(gw.errors).toHaveLength(1);
  expect(gw.errors[0]!.error).toMatchObject({ name: 'UsageBatchRefusedError', status: 403, retryable: true });
  expect((gw.errors[0]!.error as Error).message).toContain('403');
  expect(gw.recorder.pending).toBe(3);

  token = gatewayToken;
  await gw.recorder.close();
  await gw.close();
  expect(await stored('forbidden')).toHaveLength(3);
});

it('reports the events Meterline rejects one by one, and splits a batch over the body limit (413) into halves', async () => {
  const rejected: Array<Extract<EventResult, { status: 'rejected' }>> = [];
  const sink = httpUsageSink({ url: meterline.url, token: () => gatewayToken, onRejected: (r) => rejected.push(...r) });
  const foreign = await sink.ingest([
    { eventId: 'rejects-1', timestamp: NOW, httpStatus: 200, ...caller },
    { eventId: 'rejects-2', timestamp: NOW, httpStatus: 200, ...caller, tenant: 'acme.com' },
  ]);
  expect(foreign).toMatchObject({ accepted: 1, rejected: 1 });
  expect(rejected).toEqual([expect.objectContaining({ index: 1, eventId: 'rejects-2', errors: [expect.objectContaining({ field: 'events[1].tenant' })] })]);

  // 1,000 events with every field at its widest: about 1.3 MB, over the endpoint's 1 MB.
  const wide = (s: string, width: number) => s.padEnd(width, 'x');
  // One event of another tenant in each half: the minimal answers (only rejected events) keep
  // their places in the whole batch.
  const events = Array.from({ length: 1000 }, (_, i) => ({
    eventId: wide(`split-${i}-`, 128),
    timestamp: NOW,
    httpStatus: 200,
    apiId: wide('api-', 256),
    applicationId: wide('app-', 256),
    subscriptionId: wide('sub-', 256),
    consumerKey: wide('key-', 256),
    tenant: i === 300 || i === 700 ? 'acme.com' : 'carbon.super',
  }));
  expect(Buffer.byteLength(JSON.stringify({ events }))).toBeGreaterThan(1024 * 1024);
  rejected.length = 0;
  const result = await sink.ingest(events);
  expect(result).toMatchObject({ accepted: 998, duplicates: 0, rejected: 2 });
  expect(result.results).toEqual([
    expect.objectContaining({ index: 300, status: 'rejected', eventId: events[300]!.eventId }),
    expect.objectContaining({ index: 700, status: 'rejected', eventId: events[700]!.eventId }),
  ]);
  expect(rejected.map((r) => r.eventId)).toEqual([events[300]!.eventId, events[700]!.eventId]);
  expect(await stored('split')).toHaveLength(998);

  // Asked for a result per event, the halves' results come back as one batch's, in order.
  const full = httpUsageSink({ url: meterline.url, token: () => gatewayToken, perEventResults: true });
  const again = await full.ingest(events);
  await full.close?.();
  await sink.close?.();
  expect(again).toMatchObject({ accepted: 0, duplicates: 998, rejected: 2 });
  expect(again.results.map((r) => r.index)).toEqual(events.map((_, i) => i));
});

it('keeps the bodies of batches sent at once apart (each written into its own kept buffer)', async () => {
  const sink = httpUsageSink({ url: meterline.url, token: () => gatewayToken });
  const batch = (name: string, size: number) => Array.from({ length: size }, (_, i) => ({ eventId: `apart-${name}-${i}`, timestamp: NOW, httpStatus: 200, ...caller }));
  const [first, second, third] = await Promise.all([sink.ingest(batch('a', 300)), sink.ingest(batch('b', 200)), sink.ingest(batch('c', 1))]);
  // Sent again one after another, from the kept buffers: every event a duplicate, none mixed up.
  const again = await sink.ingest(batch('a', 300));
  await sink.close?.();
  expect([first.accepted, second.accepted, third.accepted, again.duplicates]).toEqual([300, 200, 1, 300]);
  const ids = (await stored('apart')).map((row: { EVENT_ID: string }) => row.EVENT_ID).sort();
  expect(ids).toEqual([...batch('a', 300), ...batch('b', 200), ...batch('c', 1)].map((e) => e.eventId).sort());
});

it("answers a batch with Meterline's counts (and, asked for, its per-event results), and the same batch again as duplicates", async () => {
  const minimal = httpUsageSink({ url: meterline.url, token: () => gatewayToken });
  const clean = await minimal.ingest([{ eventId: 'answers-minimal', timestamp: NOW, httpStatus: 200, ...caller }]);
  await minimal.close?.();
  expect(clean).toEqual({ accepted: 1, duplicates: 0, rejected: 0, results: [] });

  const sink = httpUsageSink({ url: meterline.url, token: () => gatewayToken, perEventResults: true });
  const events = [1, 2, 3].map((i) => ({ eventId: `answers-${i}`, timestamp: NOW, httpStatus: i === 3 ? 500 : 200, ...caller }));
  const first = await sink.ingest(events);
  const again = await sink.ingest(events);
  await sink.close?.();
  // Nothing rejected: the counts come from the answer's head, the results are read when asked for.
  expect(first).toMatchObject({ accepted: 3, duplicates: 0, rejected: 0 });
  expect(first.results).toEqual([
    { index: 0, eventId: 'answers-1', status: 'accepted', billable: false, reason: 'UNKNOWN_SUBSCRIPTION' },
    { index: 1, eventId: 'answers-2', status: 'accepted', billable: false, reason: 'UNKNOWN_SUBSCRIPTION' },
    { index: 2, eventId: 'answers-3', status: 'accepted', billable: false, reason: 'UNKNOWN_SUBSCRIPTION' },
  ]);
  expect(again).toMatchObject({ accepted: 0, duplicates: 3, rejected: 0 });
  expect(again.results.map((r) => r.status)).toEqual(['duplicate', 'duplicate', 'duplicate']);
  expect(await stored('answers')).toHaveLength(4);
});
