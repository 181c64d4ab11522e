import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Request, Response } from 'express';
import { spoolUsageSink, SpoolWriteError } from '../../src/gateway-kit/spool-usage-sink';
import { UsageRecorder, type CallIdentity } from '../../src/gateway-kit/usage-recorder';

/** The spool sink under the recorder, on the file system only (no database: the intake's suite is test/usage/sources-spool.test.ts). */
describe('spoolUsageSink', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(path.join(tmpdir(), 'spool-sink-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const identity: CallIdentity = { apiId: 'api-1', applicationId: 'app-1', subscriptionId: 'sub-1', tenant: 'carbon.super' };
  const call = (recorder: UsageRecorder, middleware = recorder.middleware()) => {
    const res = new EventEmitter() as unknown as Response;
    Object.assign(res, { req: {} as Request, statusCode: 200 });
    middleware({} as Request, res, () => undefined);
    res.emit('finish');
  };
  const lines = (dir: string) =>
    readdirSync(dir)
      .sort()
      .flatMap((name) => readFileSync(path.join(dir, name), 'utf8').split('\n').filter(Boolean))
      .map((line) => JSON.parse(line) as { eventId: string; timestamp: number; httpStatus: number; apiId: string });

  it('writes each batch as whole NDJSON lines with the recorder\'s ids; a failed write keeps the batch (same ids) for the next flush; close finishes the file', async () => {
    const dir = path.join(root, 'spool');
    const errors: unknown[] = [];
    const recorder = new UsageRecorder(spoolUsageSink({ directory: dir, now: () => 1_800_000_000_000 }), {
      identify: () => identity,
      now: () => 1_800_000_000_123,
      eventIdPrefix: 'gw',
      onError: (error) => errors.push(error),
    });
    const middleware = recorder.middleware();
    for (let i = 0; i < 3; i += 1) call(recorder, middleware);
    await recorder.flush();
    expect(lines(dir)).toEqual([1, 2, 3].map((n) => ({ eventId: `gw-${n}`, timestamp: 1_800_000_000_123, httpStatus: 200, ...identity })));

    // The file is gone under the writer (a cleanup, a full disk): the next file cannot be made.
    await recorder.close().catch(() => undefined);
    rmSync(dir, { recursive: true });
    const broken = new UsageRecorder(spoolUsageSink({ directory: dir }), { identify: () => identity, eventIdPrefix: 'b', onError: (error) => errors.push(error) });
    rmSync(dir, { recursive: true });
    call(broken);
    await broken.flush();
    expect(errors.at(-1)).toBeInstanceOf(SpoolWriteError);
    expect((errors.at(-1) as SpoolWriteError).retryable).toBe(true);
    expect(broken.pending).toBe(1);
    // Back: the kept batch is written, with its id, once.
    mkdirSync(dir);
    await broken.close();
    expect(readdirSync(dir)).toEqual([expect.stringMatching(/^usage-\d{13}-[0-9a-z]+-\d{6}\.ndjson\.done$/)]);
    expect(lines(dir).map((e) => e.eventId)).toEqual(['b-1']);
  });

  it('writes every call held past its columns\' first room with its own identity, time and status, in order, in batches', async () => {
    const dir = path.join(root, 'spool');
    const identities: CallIdentity[] = ['a', 'b', 'c'].map((name) => ({ apiId: `api-${name}`, applicationId: `app-${name}`, subscriptionId: `sub-${name}`, tenant: 'carbon.super' }));
    const statuses = [200, 404, 503, 201];
    let n = 0;
    let time = 1_800_000_000_000;
    const written: number[] = [];
    const sink = spoolUsageSink({ directory: dir });
    const recorder = new UsageRecorder(
      { ingest: (events) => (written.push(events.length), sink.ingest(events)), close: () => sink.close?.() },
      { flushIntervalMs: 60_000, batchSize: 1000, identify: () => identities[n % 3], now: () => (time += 7), eventIdPrefix: 'gw' },
    );
    const middleware = recorder.middleware();
    // 2,500 calls in one turn of the event loop: the flush asked for at 1,000 starts after them, so all are held at once.
    for (n = 0; n < 2500; n += 1) {
      const res = new EventEmitter() as unknown as Response;
      Object.assign(res, { req: {} as Request, statusCode: statuses[n % 4] });
      middleware({} as Request, res, () => undefined);
      res.emit('finish');
    }
    expect(recorder.pending).toBe(2500);
    await recorder.close();
    expect(written).toEqual([1000, 1000, 500]);
    expect(lines(dir)).toEqual(
      Array.from({ length: 2500 }, (_, i) => ({ eventId: `gw-${i + 1}`, timestamp: 1_800_000_000_000 + 7 * (i + 1), httpStatus: statuses[i % 4], ...identities[i % 3] })),
    );
  });

  it('writes batches larger than its first buffer, and identities beyond ASCII, as whole lines', async () => {
    const dir = path.join(root, 'spool');
    const sink = spoolUsageSink({ directory: dir });
    const wide: CallIdentity = { apiId: `api-${'日本語'.repeat(200)}`, applicationId: 'app-ü', subscriptionId: 'sub-😀', tenant: 'café.example' };
    const events = Array.from({ length: 1000 }, (_, i) => ({ eventId: `w-${i}`, timestamp: i, httpStatus: 200, ...wide }));
    expect(Buffer.byteLength(events.map((e) => JSON.stringify(e)).join('\n'))).toBeGreaterThan(256 * 1024);
    await sink.ingest(events);
    await sink.ingest(events.slice(0, 2));
    await sink.close?.();
    expect(lines(dir)).toEqual([...events, ...events.slice(0, 2)]);
  });
});
