import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { BatchResult, UsageEventInput } from '../usage/ingest';

/** Where recorded events go: the local store (`UsageIngestion`) or a remote Meterline (HTTP). */
export interface UsageSink {
  ingest(events: readonly unknown[]): Promise<BatchResult>;
}

/** Who made a call, as the gateway knows it after authenticating the request. */
export type CallIdentity = Pick<UsageEventInput, 'apiId' | 'applicationId' | 'tenant'> & { subscriptionId?: string; consumerKey?: string };

export interface UsageRecorderOptions {
  /** Identifies the caller of a request, or undefined for requests that are not API calls. */
  identify(req: Request): CallIdentity | undefined;
  /** Flush when this many events are buffered (default 500). */
  batchSize?: number;
  /** Flush at least this often (default 1,000 ms): on a hard crash at most this much is lost. */
  flushIntervalMs?: number;
  /** Events held while the sink is failing; beyond it the oldest are dropped and counted (default 100,000). */
  maxBuffered?: number;
  onError?(error: unknown, dropped: number): void;
  clock?: () => Date;
}

/**
 * Records a Node.js gateway's own traffic. The middleware only appends an event to a buffer when
 * the response finishes; a timer (and a full buffer) flushes batches to the sink, so the request
 * path never waits on the database. A failed flush keeps its events for the next one (their ids
 * are fixed, so a retried batch cannot count twice), up to `maxBuffered`.
 *
 * Loss bound: events not yet flushed live only in memory. A graceful shutdown (`close()`)
 * flushes them; a hard crash (SIGKILL, OOM) loses at most the last `flushIntervalMs` of traffic
 * or `batchSize` events, whichever is smaller, plus any backlog held while the sink was down.
 *
 * @example
 *   const recorder = new UsageRecorder(usage.ingestion, { identify: (req) => req.apiCall });
 *   app.use(recorder.middleware());
 *   process.on('SIGTERM', () => recorder.close().then(() => server.close()));
 */
export class UsageRecorder {
  private buffer: unknown[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private dropped = 0;
  private closed = false;

  constructor(
    private readonly sink: UsageSink,
    private readonly options: UsageRecorderOptions,
  ) {
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  middleware(): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      res.once('finish', () => {
        const identity = this.options.identify(req);
        if (!identity || this.closed) return;
        this.buffer.push({
          eventId: randomUUID(),
          timestamp: (this.options.clock?.() ?? new Date()).getTime(),
          httpStatus: res.statusCode,
          ...identity,
        });
        const max = this.options.maxBuffered ?? 100_000;
        if (this.buffer.length > max) {
          const excess = this.buffer.length - max;
          this.buffer.splice(0, excess);
          this.dropped += excess;
        }
        if (this.buffer.length >= (this.options.batchSize ?? 500)) void this.flush();
      });
      next();
    };
  }

  /** Sends what is buffered; concurrent calls run one after another. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushOnce());
    return this.flushing;
  }

  /** Stops recording and flushes everything buffered (call on graceful shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    while (this.buffer.length > 0) {
      const before = this.buffer.length;
      await this.flush();
      if (this.buffer.length >= before) break; // the sink is down: give up rather than hang shutdown
    }
  }

  get pending(): number {
    return this.buffer.length;
  }

  private async flushOnce(): Promise<void> {
    const batchSize = this.options.batchSize ?? 500;
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, Math.min(batchSize, 1000));
      try {
        await this.sink.ingest(batch);
        this.buffer.splice(0, batch.length);
      } catch (error) {
        this.options.onError?.(error, this.dropped);
        return;
      }
    }
  }
}
