import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../logger';
import { connectionFailureMessage } from './connect';

/** Waits between attempts: the first delay, doubled after each failure, never more than the maximum. */
export interface Backoff {
  firstDelayMs: number;
  maxDelayMs: number;
}

/** `meterline serve`: 1 s, 2 s, 4 s ... 30 s, 30 s ... */
export const DATABASE_BACKOFF: Backoff = { firstDelayMs: 1_000, maxDelayMs: 30_000 };

/** Resolves after `ms`, or rejects as soon as `signal` aborts (tests pass one that records and returns). */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

const realSleep: Sleep = (ms, signal) => delay(ms, undefined, { signal });

export interface WaitOptions {
  logger: Logger;
  /** `describeDatabase`'s text, for the log lines. */
  database: string;
  /** Aborting stops the wait promptly, even in the middle of an attempt or a delay. */
  signal: AbortSignal;
  backoff?: Backoff;
  sleep?: Sleep;
}

/**
 * Tries `attempt` (a ping) until it succeeds, so that a service started before its database
 * keeps running instead of exiting. Each failure is one warn line: the attempt number, the
 * driver's message and the delay before the next attempt, never a stack trace. Resolves
 * `answered`, or `stopped` when `signal` aborted first.
 */
export async function waitForDatabase(attempt: () => Promise<void>, options: WaitOptions): Promise<'answered' | 'stopped'> {
  const { logger, database, signal, backoff = DATABASE_BACKOFF, sleep = realSleep } = options;
  for (let n = 1; !signal.aborted; n++) {
    try {
      await untilAborted(attempt(), signal);
      return signal.aborted ? 'stopped' : 'answered';
    } catch (error) {
      if (signal.aborted) return 'stopped';
      const nextDelayMs = Math.min(backoff.firstDelayMs * 2 ** (n - 1), backoff.maxDelayMs);
      logger.warn({ database, attempt: n, error: connectionFailureMessage(error), nextDelayMs }, 'database is not reachable; retrying');
      try {
        await sleep(nextDelayMs, signal);
      } catch (sleepError) {
        if (signal.aborted) return 'stopped';
        throw sleepError;
      }
    }
  }
  return 'stopped';
}

/**
 * Settles like `work`, or rejects as soon as `signal` aborts: a connection attempt to a host that
 * drops packets can take a minute to fail, and a shutdown should not wait for it.
 */
function untilAborted(work: Promise<void>, signal: AbortSignal): Promise<void> {
  work.catch(() => undefined); // its failure after an abort is no longer anyone's concern
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
