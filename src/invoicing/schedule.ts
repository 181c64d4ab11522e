import type { Logger } from '../logger';
import type { OwnInvoicing } from './own-invoicing';

/**
 * `meterline serve`: closes due billing periods and submits waiting drafts every `intervalMs`
 * (`[apim.monetization.invoicing] check_interval_seconds`), one check at a time in this process.
 * Several processes may check at once: an invoice's deterministic id and its period's unique key
 * keep one invoice per period, and the engine's submission is idempotent by that id. Nothing is
 * scheduled for an engine that makes its own invoices. Returns a stop function that waits for a
 * check in flight.
 */
export function scheduleOwnInvoicing(invoicing: OwnInvoicing, intervalMs: number, logger: Logger): () => Promise<void> {
  if (!invoicing.enabled) return async () => {};
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = invoicing
      .check()
      .then((result) => {
        if (result.closed > 0) logger.info({ closed: result.closed }, 'billing periods closed');
        if (result.waiting) logger.info({ reason: result.waiting }, 'due billing periods wait for the next check');
      })
      .catch((error: unknown) => logger.error({ err: error }, 'invoicing check failed; the next one tries again'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  tick();
  logger.info({ intervalMs }, 'own invoicing scheduled');
  return async () => {
    clearInterval(timer);
    await running;
  };
}
