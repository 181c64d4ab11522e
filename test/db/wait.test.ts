import { Writable } from 'node:stream';
import { waitForDatabase, type Sleep } from '../../src/db/wait';
import { createLogger } from '../../src/logger';

/** A logger writing JSON lines into an array, and the parsed lines. */
function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const logger = createLogger('info', stream);
  return { logger, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), lines };
}

/** An attempt that fails `failures` times with a driver-like error, then succeeds. */
function flakyPing(failures: number) {
  let calls = 0;
  const attempt = async () => {
    calls += 1;
    if (calls <= failures) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5999'), { code: 'ECONNREFUSED' });
  };
  return { attempt, calls: () => calls };
}

/** A sleep that returns at once and records what it was asked to wait. */
function recordingSleep() {
  const delays: number[] = [];
  const sleep: Sleep = async (ms) => {
    delays.push(ms);
  };
  return { sleep, delays };
}

const database = 'postgres 127.0.0.1:5999/apim_db';

describe('waitForDatabase', () => {
  it('answers at once when the first attempt succeeds, logging nothing', async () => {
    const { logger, lines } = capturingLogger();
    const { sleep, delays } = recordingSleep();
    const outcome = await waitForDatabase(flakyPing(0).attempt, { logger, database, signal: new AbortController().signal, sleep });
    expect(outcome).toBe('answered');
    expect(delays).toEqual([]);
    expect(lines).toEqual([]);
  });

  it('retries with a delay doubling from 1 s up to 30 s', async () => {
    const { logger } = capturingLogger();
    const { sleep, delays } = recordingSleep();
    const ping = flakyPing(8);
    const outcome = await waitForDatabase(ping.attempt, { logger, database, signal: new AbortController().signal, sleep });
    expect(outcome).toBe('answered');
    expect(ping.calls()).toBe(9);
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('logs one line per failed attempt: number, driver message, next delay, and no stack', async () => {
    const { logger, records, lines } = capturingLogger();
    const { sleep } = recordingSleep();
    await waitForDatabase(flakyPing(2).attempt, { logger, database, signal: new AbortController().signal, sleep });
    expect(records()).toEqual([
      expect.objectContaining({ level: 40, msg: 'database is not reachable; retrying', database, attempt: 1, error: 'connect ECONNREFUSED 127.0.0.1:5999', nextDelayMs: 1000 }),
      expect.objectContaining({ attempt: 2, nextDelayMs: 2000 }),
    ]);
    expect(lines.join('\n')).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
  });

  it('takes its pace from the backoff it is given', async () => {
    const { logger } = capturingLogger();
    const { sleep, delays } = recordingSleep();
    await waitForDatabase(flakyPing(4).attempt, { logger, database, signal: new AbortController().signal, sleep, backoff: { firstDelayMs: 10, maxDelayMs: 25 } });
    expect(delays).toEqual([10, 20, 25, 25]);
  });

  it('stops, without another attempt, when aborted during a delay', async () => {
    const { logger } = capturingLogger();
    const stop = new AbortController();
    const ping = flakyPing(Infinity);
    // The delay never ends by itself: only the abort can end the wait.
    let delayStarted!: () => void;
    const inDelay = new Promise<void>((resolve) => (delayStarted = resolve));
    const sleep: Sleep = (_ms, signal) =>
      new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason));
        delayStarted();
      });
    const waiting = waitForDatabase(ping.attempt, { logger, database, signal: stop.signal, sleep });
    await inDelay;
    stop.abort();
    expect(await waiting).toBe('stopped');
    expect(ping.calls()).toBe(1);
  });

  it('stops when aborted during an attempt that hangs', async () => {
    const { logger, lines } = capturingLogger();
    const stop = new AbortController();
    const { sleep } = recordingSleep();
    const waiting = waitForDatabase(() => new Promise<void>(() => undefined), { logger, database, signal: stop.signal, sleep });
    stop.abort();
    expect(await waiting).toBe('stopped');
    expect(lines).toEqual([]);
  });

  it('does not start when already aborted', async () => {
    const { logger } = capturingLogger();
    const stop = new AbortController();
    stop.abort();
    const ping = flakyPing(0);
    expect(await waitForDatabase(ping.attempt, { logger, database, signal: stop.signal, sleep: recordingSleep().sleep })).toBe('stopped');
    expect(ping.calls()).toBe(0);
  });
});
