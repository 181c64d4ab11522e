import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { BatchResult, UsageEventInput } from '../usage/ingest';

/**
 * Where recorded events go: the local store (`UsageIngestion`, embedded use) or a remote
 * Meterline (`httpUsageSink`, ./http-usage-sink.ts). `ingest` resolves once the batch is stored
 * (per-event results in the answer) and rejects when it is not, so the recorder keeps it.
 */
export interface UsageSink {
  ingest(events: readonly unknown[]): Promise<BatchResult>;
  /** Releases what the sink holds open (sockets); called by `UsageRecorder.close()` after the last flush. */
  close?(): Promise<void> | void;
}

/** Who made a call, as the gateway knows it after authenticating the request. */
export type CallIdentity = Pick<UsageEventInput, 'apiId' | 'applicationId' | 'tenant'> & { subscriptionId?: string; consumerKey?: string };

/** The most events a batch may carry (the ingestion endpoint's limit). */
export const MAX_RECORDER_BATCH = 1000;

export interface UsageRecorderOptions {
  /** Identifies the caller of a request, or undefined for requests that are not API calls. */
  identify(req: Request): CallIdentity | undefined;
  /** Flush when this many events are buffered, and the size of each batch (default 500, at most 1,000). */
  batchSize?: number;
  /** Flush at least this often (default 1,000 ms): on a hard crash at most this much is lost. */
  flushIntervalMs?: number;
  /** Events held (recorded but not yet stored); calls beyond it are not recorded, and counted as dropped (default 100,000). */
  maxBuffered?: number;
  /**
   * A flush failed and its events are kept (`dropped` 0); or events are lost, `dropped` of them:
   * calls not recorded while the buffer was full (`UsageBufferFullError`), a batch the sink refused
   * for good (an error with `retryable: false`, e.g. `UsageBatchRefusedError` for a 400), or what
   * `close()` could not hand over (`UsageRecorderClosedError`).
   */
  onError?(error: unknown, dropped: number): void;
  /** Epoch milliseconds of a call (default `Date.now`). */
  now?: () => number;
  /** @deprecated use `now`; kept for existing callers. */
  clock?: () => Date;
  /** Prefix of the event ids (default a random UUID per recorder): ids are `<prefix>-<sequence>`. */
  eventIdPrefix?: string;
}

/** An event as built at flush time, with its id fixed from then on (a retried batch carries the same ids). */
type BuiltEvent = CallIdentity & { eventId: string; timestamp: number; httpStatus: number };

/**
 * Records a Node.js gateway's own traffic. On the request path the middleware only pushes three
 * values (the caller's identity object, the time, the status) onto an array when the response
 * finishes: no object, id or Date is made per call. A timer (and a full batch) turns them into
 * events with fixed ids (`<random prefix>-<sequence>`) and sends batches to the sink one at a
 * time, so the request path never waits on Meterline. A failed batch stays at the head of the
 * queue with the same ids and is sent again on the next flush, so a batch Meterline stored but
 * whose answer was lost counts once (the repeat answers `duplicate`).
 *
 * Backpressure: at most `maxBuffered` events are held; while the sink is down and the buffer is
 * full, further calls are not recorded and are counted and reported through `onError`.
 *
 * Loss bound: events not yet flushed live only in memory. A graceful shutdown (`close()`)
 * flushes them; a hard crash (SIGKILL, OOM) loses at most the last `flushIntervalMs` of traffic
 * or `batchSize` events, whichever is smaller, plus any backlog held while the sink was down.
 *
 * @example
 *   const recorder = new UsageRecorder(httpUsageSink({ url, token }), { identify: (req) => req.apiCall });
 *   app.use(recorder.middleware());
 *   process.on('SIGTERM', () => recorder.close().then(() => server.close()));
 */
export class UsageRecorder {
  /** Flat triples (identity, epoch ms, status) of calls not yet built into events. */
  private raw: unknown[] = [];
  /** Built batches waiting to be sent, oldest first; their ids are fixed. */
  private readonly outbox: BuiltEvent[][] = [];
  private outboxEvents = 0;
  private flushing: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly batchSize: number;
  private readonly maxBuffered: number;
  private readonly now: () => number;
  private readonly prefix: string;
  private sequence = 0;
  private droppedSinceReport = 0;
  private droppedTotal = 0;
  private closed = false;

  constructor(
    private readonly sink: UsageSink,
    private readonly options: UsageRecorderOptions,
  ) {
    this.batchSize = Math.max(1, Math.min(options.batchSize ?? 500, MAX_RECORDER_BATCH));
    this.maxBuffered = options.maxBuffered ?? 100_000;
    const clock = options.clock;
    this.now = options.now ?? (clock ? () => clock().getTime() : Date.now);
    this.prefix = options.eventIdPrefix ?? randomUUID();
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  middleware(): RequestHandler {
    const record = (req: Request, res: Response) => {
      if (this.closed) return;
      const identity = this.options.identify(req);
      if (!identity) return;
      if (this.pending >= this.maxBuffered) {
        this.droppedSinceReport += 1;
        this.droppedTotal += 1;
        return;
      }
      this.raw.push(identity, this.now(), res.statusCode);
      if (this.raw.length === this.batchSize * 3) void this.flush();
    };
    // One listener function for every response (it finds the request on `res.req`): no closure per call.
    function onFinish(this: Response) {
      record(this.req, this);
    }
    return (_req: Request, res: Response, next: NextFunction) => {
      res.on('finish', onFinish);
      next();
    };
  }

  /**
   * Sends everything recorded so far, batch after batch, until the sink fails. Flushes run one at
   * a time; while one runs, callers share the single next one (which takes every call recorded
   * before it starts).
   */
  flush(): Promise<void> {
    if (this.queued) return this.queued;
    const next = this.flushing.then(() => {
      this.queued = undefined;
      return this.flushOnce();
    });
    this.queued = next;
    this.flushing = next;
    return next;
  }

  /**
   * Stops recording and flushes everything held (call on graceful shutdown). Keeps flushing while
   * each attempt makes progress; when the sink stops taking events, gives up rather than hang the
   * shutdown, reporting how many events are left through `onError`. Then closes the sink.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    while (this.pending > 0) {
      const before = this.pending;
      await this.flush();
      if (this.pending >= before) {
        this.options.onError?.(new UsageRecorderClosedError(this.pending), this.pending);
        break;
      }
    }
    await this.sink.close?.();
  }

  /** Events recorded and not yet stored. */
  get pending(): number {
    return this.raw.length / 3 + this.outboxEvents;
  }

  /** Calls not recorded because the buffer was full, since the recorder started. */
  get dropped(): number {
    return this.droppedTotal;
  }

  private build(): void {
    const raw = this.raw;
    if (raw.length === 0) return;
    this.raw = [];
    let batch: BuiltEvent[] = [];
    for (let i = 0; i < raw.length; i += 3) {
      this.sequence += 1;
      batch.push({ eventId: `${this.prefix}-${this.sequence}`, timestamp: raw[i + 1] as number, httpStatus: raw[i + 2] as number, ...(raw[i] as CallIdentity) });
      if (batch.length === this.batchSize) {
        this.outbox.push(batch);
        batch = [];
      }
    }
    if (batch.length > 0) this.outbox.push(batch);
    this.outboxEvents += raw.length / 3;
  }

  private async flushOnce(): Promise<void> {
    this.build();
    if (this.droppedSinceReport > 0) {
      const dropped = this.droppedSinceReport;
      this.droppedSinceReport = 0;
      this.options.onError?.(new UsageBufferFullError(dropped, this.maxBuffered), dropped);
    }
    while (this.outbox.length > 0) {
      const batch = this.outbox[0]!;
      let refused: unknown;
      try {
        await this.sink.ingest(batch);
      } catch (error) {
        if ((error as { retryable?: unknown } | null)?.retryable !== false) {
          this.options.onError?.(error, 0);
          return; // kept, ids unchanged, for the next flush
        }
        refused = error;
      }
      this.outbox.shift();
      this.outboxEvents -= batch.length;
      // The sink says sending this batch again cannot help (e.g. 400): reported with its size, and not left to block the rest.
      if (refused !== undefined) this.options.onError?.(refused, batch.length);
    }
  }
}

/** Calls were not recorded because `maxBuffered` events were already held (the sink is slower than the traffic, or down). */
export class UsageBufferFullError extends Error {
  constructor(
    readonly dropped: number,
    readonly maxBuffered: number,
  ) {
    super(`${dropped} calls were not recorded: ${maxBuffered} events are already waiting for the usage sink`);
    this.name = 'UsageBufferFullError';
  }
}

/** `close()` gave up: the sink stopped taking events; these are lost with the process. */
export class UsageRecorderClosedError extends Error {
  constructor(readonly unsent: number) {
    super(`the usage recorder closed with ${unsent} events the sink did not take`);
    this.name = 'UsageRecorderClosedError';
  }
}
