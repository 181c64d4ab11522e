import type { Logger } from '../logger';
import type { BillingRecords } from './billing-records.service';

/** How often `serve` looks for payment grace periods that ran out (they last days: a minute late is fine). */
export const GRACE_CHECK_INTERVAL_MS = 60_000;

/**
 * `meterline serve`: blocks the subscriptions whose payment grace period ran out and tells it
 * (`BillingRecords.applyGraceExpiries`), every `intervalMs`, one run at a time in this process.
 * Several processes may run it: each change is a transaction, and the event id is deterministic.
 * Returns a stop function that waits for a run in flight.
 */
export function scheduleGraceExpiry(records: BillingRecords, intervalMs: number, clock: () => Date, logger: Logger): () => Promise<void> {
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = records
      .applyGraceExpiries(clock())
      .then((blocked) => {
        if (blocked > 0) logger.info({ blocked }, 'payment grace periods ran out: subscriptions blocked');
      })
      .catch((error: unknown) => logger.error({ err: error }, 'the grace-expiry check failed; the next run tries again'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  tick();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
