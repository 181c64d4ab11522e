import type { Logger } from '../logger';
import type { SpendWatcher } from './spend-watcher';

/**
 * `meterline serve`: evaluates every subscription with a spend limit every `intervalMs`, one run
 * at a time in this process. Several processes may run at once: a notification's id is
 * deterministic (the outbox records it once) and a state row is the same whoever writes it.
 * Returns a stop function that waits for a run in flight.
 */
export function scheduleSpendWatching(watcher: SpendWatcher, intervalMs: number, logger: Logger): () => Promise<void> {
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = watcher
      .evaluateAll()
      .then((result) => {
        if (result.failed > 0) logger.warn(result, 'some subscriptions’ spend could not be evaluated');
      })
      .catch((error: unknown) => logger.error({ err: error }, 'spend evaluation failed; the next run tries again'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  tick();
  logger.info({ intervalMs }, 'spend limits watched');
  return async () => {
    clearInterval(timer);
    await running;
    await watcher.settled();
  };
}
