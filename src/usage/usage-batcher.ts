import type { Monetization, UsageReport, UsageReportOutcome } from '../monetization/monetization';
import type { Pacer } from './pacer';

type BatchSender = NonNullable<Monetization['reportUsageBatch']>;

interface Waiting {
  report: UsageReport;
  resolve(outcome: UsageReportOutcome): void;
  reject(error: unknown): void;
}

/**
 * Gathers the publisher's one-window reports into batches for an engine that takes many at once
 * (`reportUsageBatch`): the reports that arrive while a batch is on its way go in the next one,
 * one batch at a time, every engine request paced by the shared pacer. Each caller gets its own
 * report's outcome (or its request's error), so the publisher marks records exactly as when it
 * sends them one by one.
 */
export class UsageBatcher {
  private queue: Waiting[] = [];
  private flushing = false;

  constructor(
    private readonly send: BatchSender,
    private readonly pacer: Pacer,
    /** The most reports handed to the engine in one call (the engine splits them into its requests). */
    private readonly maxBatch = 1_000,
  ) {}

  report(report: UsageReport): Promise<UsageReportOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ report, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // Let the other workers' reports of this turn join the first batch.
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const outcomes = await this.send(
            batch.map((w) => w.report),
            () => this.pacer.slot(),
          );
          batch.forEach((waiting, i) => {
            const outcome = outcomes[i];
            if (outcome === undefined) waiting.reject(new Error('the engine answered fewer reports than it was given'));
            else if (outcome instanceof Error) waiting.reject(outcome);
            else waiting.resolve(outcome);
          });
        } catch (error) {
          for (const waiting of batch) waiting.reject(error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}

/**
 * The engine as the publisher sees it when sending in batches: `reportUsage` goes through the
 * batcher, `billingCycleOf` is paced by the same pacer (the publisher's own pacer then no longer
 * paces each window), everything else is the engine itself.
 */
export function batchingEngine(engine: Monetization, pacer: Pacer): Monetization {
  const send = engine.reportUsageBatch;
  if (!send) return engine;
  const batcher = new UsageBatcher(send.bind(engine), pacer);
  return new Proxy(engine, {
    get(target, property, receiver) {
      if (property === 'reportUsage') return (report: UsageReport) => batcher.report(report);
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
