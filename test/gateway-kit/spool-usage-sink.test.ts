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
});
