import type { AddressInfo } from 'node:net';
import express from 'express';
import { migrateLatest } from '../helpers/migrations';
import { UsageBufferFullError, UsageRecorder, type UsageSink } from '../../src/gateway-kit/usage-recorder';
import { forEachTestDatabase } from '../helpers/databases';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { monetizedWorld } from '../usage/world';

let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer({ port: 0 });
});
afterAll(() => server.close());

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  it('records every call of a gateway without a database write on the request path, and flushes all of it on close', async () => {
    const world = await monetizedWorld(server, database().knex, 1);
    const { subscription } = world.billed[0]!;
    let inFlight = 0;
    let calls = 0;
    const sink: UsageSink = {
      ingest: async (events) => {
        calls += 1;
        inFlight += 1;
        try {
          return await world.usage.ingestion.ingest(events);
        } finally {
          inFlight -= 1;
        }
      },
    };
    const recorder = new UsageRecorder(sink, {
      flushIntervalMs: 60_000, // only the batch size and close() flush in this test
      batchSize: 10,
      identify: (req) =>
        req.path === '/health'
          ? undefined
          : { apiId: subscription.api.uuid, applicationId: subscription.application.uuid, subscriptionId: subscription.uuid, tenant: 'carbon.super' },
      clock: world.clock,
    });
    const app = express();
    app.use(recorder.middleware());
    app.get('/hello', (_req, res) => res.send('hello'));
    app.get('/missing', (_req, res) => res.status(404).send('no'));
    app.get('/health', (_req, res) => res.send('ok'));
    const http = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => http.once('listening', resolve));
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

    for (let i = 0; i < 23; i += 1) expect((await fetch(`${base}/hello`)).status).toBe(200);
    await fetch(`${base}/missing`);
    await fetch(`${base}/health`);
    expect(calls).toBeGreaterThan(0); // full batches went out in the background, before close()
    await recorder.close();
    await new Promise((resolve) => http.close(resolve));

    expect(recorder.pending).toBe(0);
    expect(inFlight).toBe(0);
    const rows = await database().knex('ML_USAGE_EVENT').where({ APPLICATION_UUID: subscription.application.uuid }).select('HTTP_STATUS', 'PUBLISH_STATE');
    expect(rows).toHaveLength(24);
    expect(rows.filter((r) => Number(r.PUBLISH_STATE) === 1)).toHaveLength(23);
    expect(rows.filter((r) => Number(r.HTTP_STATUS) === 404)).toHaveLength(1);
  });

  it('keeps events through a failing sink and sends them once it recovers', async () => {
    const received: unknown[] = [];
    let down = true;
    const recorder = new UsageRecorder(
      { ingest: async (events) => { if (down) throw new Error('sink down'); received.push(...events); return { accepted: events.length, duplicates: 0, rejected: 0, results: [] }; } },
      { flushIntervalMs: 60_000, batchSize: 1000, identify: () => ({ apiId: 'a', applicationId: 'b', consumerKey: 'k', tenant: 't' }) },
    );
    const app = express().use(recorder.middleware()).get('/x', (_req, res) => res.send('x'));
    const http = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => http.once('listening', resolve));
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    for (let i = 0; i < 5; i += 1) await fetch(`${base}/x`);
    await recorder.flush();
    expect(recorder.pending).toBe(5);
    down = false;
    await recorder.close();
    await new Promise((resolve) => http.close(resolve));
    expect(received).toHaveLength(5);
  });
});

describe('bounds (no database)', () => {
  const serve = async (recorder: UsageRecorder, calls: number) => {
    const app = express().use(recorder.middleware()).get('/x', (_req, res) => res.send('x'));
    const http = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => http.once('listening', resolve));
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    for (let i = 0; i < calls; i += 1) await fetch(`${base}/x`);
    await new Promise((resolve) => http.close(resolve));
  };
  const identity = { apiId: 'a', applicationId: 'b', consumerKey: 'k', tenant: 't' };

  it('beyond maxBuffered does not record further calls, and counts and reports them', async () => {
    const errors: Array<{ error: unknown; dropped: number }> = [];
    const recorder = new UsageRecorder(
      { ingest: async () => { throw new Error('sink down'); } },
      { flushIntervalMs: 60_000, batchSize: 1000, maxBuffered: 3, identify: () => identity, onError: (error, dropped) => errors.push({ error, dropped }) },
    );
    await serve(recorder, 5);
    expect(recorder.pending).toBe(3);
    expect(recorder.dropped).toBe(2);
    await recorder.flush();
    expect(errors[0]).toEqual({ error: expect.any(UsageBufferFullError), dropped: 2 });
    expect(errors[1]).toEqual({ error: new Error('sink down'), dropped: 0 });
  });

  it("batches at the sink's preferred size unless the recorder is given one", async () => {
    const batchesOf = async (batchSize: number | undefined) => {
      const sizes: number[] = [];
      const sink = {
        preferredBatchSize: 3,
        ingest: async (events: readonly unknown[]) => (sizes.push(events.length), { accepted: events.length, duplicates: 0, rejected: 0, results: [] }),
      };
      const recorder = new UsageRecorder(sink, { flushIntervalMs: 60_000, identify: () => identity, ...(batchSize === undefined ? {} : { batchSize }) });
      await serve(recorder, 7);
      await recorder.close();
      return sizes;
    };
    expect(await batchesOf(undefined)).toEqual([3, 3, 1]);
    expect(await batchesOf(2)).toEqual([2, 2, 2, 1]);
  });

  it('drops and reports a batch the sink refuses for good, so the batches behind it still go', async () => {
    const received: string[] = [];
    const errors: Array<{ error: unknown; dropped: number }> = [];
    let first = true;
    const recorder = new UsageRecorder(
      {
        ingest: async (events) => {
          if (first) {
            first = false;
            throw Object.assign(new Error('refused'), { retryable: false });
          }
          received.push(...events.map((e) => (e as { eventId: string }).eventId));
          return { accepted: events.length, duplicates: 0, rejected: 0, results: [] };
        },
      },
      { flushIntervalMs: 60_000, batchSize: 2, eventIdPrefix: 'p', identify: () => identity, onError: (error, dropped) => errors.push({ error, dropped }) },
    );
    await serve(recorder, 5);
    await recorder.close();
    expect(errors).toEqual([{ error: new Error('refused'), dropped: 2 }]);
    expect(received).toEqual(['p-3', 'p-4', 'p-5']);
    expect(recorder.pending).toBe(0);
  });
});

describe('attach(server) (no database)', () => {
  it('records the responses of the servers it is attached to, with their statuses, and of no other server; nothing after close', async () => {
    const received: Array<{ eventId: string; httpStatus: number; apiId: string }> = [];
    const recorder = new UsageRecorder(
      { ingest: async (events) => (received.push(...(events as typeof received)), { accepted: events.length, duplicates: 0, rejected: 0, results: [] }) },
      {
        flushIntervalMs: 60_000,
        eventIdPrefix: 'at',
        // What a gateway's key validation left on the request, read once the response has finished.
        identify: (req) => (req.headers['x-api'] ? { apiId: String(req.headers['x-api']), applicationId: 'app', subscriptionId: 'sub', tenant: 'carbon.super' } : undefined),
      },
    );
    const app = express();
    app.get('/hello', (_req, res) => res.send('hello'));
    app.get('/missing', (_req, res) => res.status(404).send('no'));
    const listen = async (handler: express.Express) => {
      const server = handler.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    };
    const attached = await listen(app);
    const other = await listen(express().get('/hello', (_req, res) => res.send('other')));
    recorder.attach(attached.server);

    const call = async (base: string, path: string, api?: string) => (await fetch(`${base}${path}`, { headers: api ? { 'x-api': api } : {} })).status;
    expect(await call(attached.base, '/hello', 'api-1')).toBe(200);
    expect(await call(attached.base, '/missing', 'api-2')).toBe(404);
    expect(await call(attached.base, '/hello')).toBe(200); // not an API call: identify says so
    expect(await call(other.base, '/hello', 'api-3')).toBe(200); // another server of the process
    await recorder.close();
    expect(await call(attached.base, '/hello', 'api-4')).toBe(200); // after close
    await recorder.flush();
    await Promise.all([attached, other].map(({ server }) => new Promise((resolve) => server.close(resolve))));

    expect(received).toEqual([
      expect.objectContaining({ eventId: 'at-1', httpStatus: 200, apiId: 'api-1' }),
      expect.objectContaining({ eventId: 'at-2', httpStatus: 404, apiId: 'api-2' }),
    ]);
    expect(recorder.pending).toBe(0);
  });
});
