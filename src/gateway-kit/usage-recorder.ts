import { randomUUID } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpServer } from 'node:net';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { BatchResult, UsageEventInput } from '../usage/ingest';

/**
 * Where recorded events go: the local store (`UsageIngestion`, embedded use) or a remote
 * Meterline (`httpUsageSink`, ./http-usage-sink.ts). `ingest` resolves once the batch is stored
 * (per-event results in the answer) and rejects when it is not, so the recorder keeps it.
 */
export interface UsageSink {
  ingest(events: readonly unknown[]): Promise<BatchResult>;
  /** The batch size this sink sends most cheaply: the recorder's when its `batchSize` is not given (else 500). */
  readonly preferredBatchSize?: number;
  /** Releases what the sink holds open (sockets); called by `UsageRecorder.close()` after the last flush. */
  close?(): Promise<void> | void;
}

/** Who made a call, as the gateway knows it after authenticating the request. */
export type CallIdentity = Pick<UsageEventInput, 'apiId' | 'applicationId' | 'tenant'> & { subscriptionId?: string; consumerKey?: string };

/**
 * Node publishes each response an HTTP server finished here once something subscribes (in every
 * Node this project runs on, 20 and later; Node's documentation still marks its built-in HTTP
 * channels experimental, so the test suite checks it and the middleware stays).
 */
const RESPONSE_FINISHED = 'http.server.response.finish';
interface ResponseFinished {
  request: IncomingMessage;
  response: ServerResponse;
  server: HttpServer;
}

/** The most events a batch may carry (the ingestion endpoint's limit). */
export const MAX_RECORDER_BATCH = 1000;

export interface UsageRecorderOptions {
  /** Identifies the caller of a request, or undefined for requests that are not API calls. */
  identify(req: Request): CallIdentity | undefined;
  /** Flush when this many events are buffered, and the size of each batch (default the sink's `preferredBatchSize`, else 500; at most 1,000). */
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
 * Records a Node.js gateway's own traffic. When a response finishes (heard through `attach(server)`
 * or the express `middleware()`), it stores three values (the caller's identity object, the time,
 * the status) in preallocated columns: nothing is allocated per call (no object, id, Date or boxed
 * number). A timer (and a full batch) turns them into events with fixed ids
 * (`<random prefix>-<sequence>`) and sends batches to the sink one at a time, so the request path
 * never waits on Meterline. A failed batch stays at the head of the queue with the same ids and is
 * sent again on the next flush, so a batch Meterline stored but whose answer was lost counts once
 * (the repeat answers `duplicate`).
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
 *   const server = app.listen(8280);
 *   recorder.attach(server);
 *   process.on('SIGTERM', () => server.close(() => void recorder.close()));
 */
export class UsageRecorder {
  /** Calls not yet built into events. */
  private readonly calls = new CallColumns();
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
  /** Servers passed to `attach`, and the one channel subscriber that serves them all. */
  private readonly servers = new Set<HttpServer>();
  private onResponseFinished: ((message: unknown) => void) | undefined;

  constructor(
    private readonly sink: UsageSink,
    private readonly options: UsageRecorderOptions,
  ) {
    this.batchSize = Math.max(1, Math.min(options.batchSize ?? sink.preferredBatchSize ?? 500, MAX_RECORDER_BATCH));
    this.maxBuffered = options.maxBuffered ?? 100_000;
    const clock = options.clock;
    this.now = options.now ?? (clock ? () => clock().getTime() : Date.now);
    this.prefix = options.eventIdPrefix ?? randomUUID();
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /**
   * An express middleware that records the calls it sees: it adds a `finish` listener to each
   * response. `attach(server)` records without a middleware and costs less per call.
   */
  middleware(): RequestHandler {
    // One listener function for every response (it finds the request on `res.req`): no closure per call.
    const recorder = this;
    function onFinish(this: Response) {
      recorder.record(this.req, this.statusCode);
    }
    return (_req: Request, res: Response, next: NextFunction) => {
      res.on('finish', onFinish);
      next();
    };
  }

  /**
   * Records every response `server` finishes (any Node HTTP server: express's `app.listen`,
   * fastify's `server`, `http.createServer`), as `identify` decides, through Node's
   * `http.server.response.finish` diagnostics channel: nothing is added to the request path, no
   * router layer and no listener per response. `identify` gets the request as the framework left
   * it (with express, its `Request`). Attach each server once; `close()` detaches them all.
   */
  attach(server: HttpServer): void {
    if (!this.onResponseFinished) {
      this.onResponseFinished = (message) => {
        const finished = message as ResponseFinished;
        if (this.servers.has(finished.server)) this.record(finished.request as Request, finished.response.statusCode);
      };
      subscribe(RESPONSE_FINISHED, this.onResponseFinished);
    }
    this.servers.add(server);
  }

  private record(req: Request, status: number): void {
    if (this.closed) return;
    const identity = this.options.identify(req);
    if (!identity) return;
    if (this.pending >= this.maxBuffered) {
      this.droppedSinceReport += 1;
      this.droppedTotal += 1;
      return;
    }
    if (this.calls.add(identity, this.now(), status) === this.batchSize) void this.flush();
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
    if (this.onResponseFinished) unsubscribe(RESPONSE_FINISHED, this.onResponseFinished);
    this.servers.clear();
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
    return this.calls.length + this.outboxEvents;
  }

  /** Calls not recorded because the buffer was full, since the recorder started. */
  get dropped(): number {
    return this.droppedTotal;
  }

  private build(): void {
    const { identities, times, statuses, length } = this.calls;
    if (length === 0) return;
    let batch: BuiltEvent[] = [];
    for (let i = 0; i < length; i += 1) {
      this.sequence += 1;
      const identity = identities[i]!;
      // The event's fields named one by one (not a spread): every event has one shape, and only the
      // identity's event fields are sent.
      batch.push({
        eventId: `${this.prefix}-${this.sequence}`,
        timestamp: times[i]!,
        httpStatus: statuses[i]!,
        apiId: identity.apiId,
        applicationId: identity.applicationId,
        tenant: identity.tenant,
        subscriptionId: identity.subscriptionId,
        consumerKey: identity.consumerKey,
      });
      if (batch.length === this.batchSize) {
        this.outbox.push(batch);
        batch = [];
      }
    }
    if (batch.length > 0) this.outbox.push(batch);
    this.outboxEvents += length;
    this.calls.clear();
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

/**
 * Recorded calls in three columns that grow by doubling and are reused after each build. A number
 * pushed onto an array that also holds objects is boxed (a heap object per call, kept until the
 * flush, long enough to be promoted): typed columns keep the time and status unboxed.
 */
class CallColumns {
  identities: (CallIdentity | undefined)[] = new Array<CallIdentity | undefined>(1024).fill(undefined);
  times = new Float64Array(1024);
  statuses = new Uint16Array(1024);
  length = 0;

  /** Returns the number of calls held. */
  add(identity: CallIdentity, time: number, status: number): number {
    const i = this.length;
    if (i === this.times.length) this.grow();
    this.identities[i] = identity;
    this.times[i] = time;
    this.statuses[i] = status;
    this.length = i + 1;
    return this.length;
  }

  /** Forgets the calls (the identities are released; the columns' room is kept). */
  clear(): void {
    this.identities.fill(undefined, 0, this.length);
    this.length = 0;
  }

  private grow(): void {
    const size = this.times.length * 2;
    const times = new Float64Array(size);
    times.set(this.times);
    this.times = times;
    const statuses = new Uint16Array(size);
    statuses.set(this.statuses);
    this.statuses = statuses;
    for (let i = this.identities.length; i < size; i += 1) this.identities.push(undefined);
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
