import type { Logger } from '../logger';
import type { Monetization } from './monetization';

/**
 * `meterline serve`: runs the engine's background work (`Monetization.background`, e.g. an outbox
 * of deliveries to retry) every `intervalMs`, one run at a time in this process; nothing for an
 * engine without any. Returns a stop function that waits for a run in flight.
 */
export function scheduleEngineBackground(engine: Monetization, logger: Logger): () => Promise<void> {
  const work = engine.background;
  if (!work) return async () => {};
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = work
      .runDue()
      .catch((error: unknown) => logger.error({ err: error }, "the billing engine's background work failed; the next run tries again"))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, work.intervalMs);
  timer.unref();
  tick();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
