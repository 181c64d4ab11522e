import type { Monetization, UsageReport, UsageReportOutcome } from '../monetization/monetization';
import { BatchQueue } from './batch-queue';
import type { Pacer } from './pacer';

/**
 * The engine as the publisher sees it when sending in batches: `reportUsage` goes through a batch
 * queue to the engine's `reportUsageBatch` (the reports that arrive while a batch is on its way go
 * in the next one, every engine request paced by the shared pacer; each caller gets its own
 * report's outcome or its request's error, so the publisher marks records exactly as when it sends
 * them one by one), `billingCycleOf` is paced by the same pacer (the publisher's own pacer then no longer
 * paces each window), everything else is the engine itself.
 */
export function batchingEngine(engine: Monetization, pacer: Pacer): Monetization {
  const send = engine.reportUsageBatch;
  if (!send) return engine;
  // The most reports handed to the engine in one call (the engine splits them into its requests).
  // The workers' reports of one turn join the first batch.
  const batches = new BatchQueue<UsageReport, UsageReportOutcome>((reports) => send.call(engine, reports, () => pacer.slot()), { maxBatch: 1_000, gatherFirst: true });
  return new Proxy(engine, {
    get(target, property, receiver) {
      if (property === 'reportUsage') return (report: UsageReport) => batches.add(report);
      if (property === 'billingCycleOf') {
        return async (...args: Parameters<Monetization['billingCycleOf']>) => {
          await pacer.slot();
          return target.billingCycleOf(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
