import http from 'node:http';
import https from 'node:https';
import type { BatchResult, EventResult } from '../usage/ingest';
import { JsonBatchBuffer, type JsonBatchFraming } from './json-batch-buffer';
import { MAX_RECORDER_BATCH, type UsageSink } from './usage-recorder';

/** Meterline's ingestion endpoint (src/http/usage/ingest-route.ts; gateway-kit may not import http). */
export const USAGE_EVENTS_PATH = '/api/am/usage/v1/events';

export interface HttpUsageSinkOptions {
  /** Meterline's base URL, e.g. `http://meterline.internal:9763` (a path prefix, behind a proxy, is kept). */
  url: string;
  /** A bearer token with the scope `apim:usage_ingest`; asked before every POST, so it may be refreshed. */
  token(): string;
  /** Attempts per batch before the recorder keeps it for its next flush (default 3). */
  attempts?: number;
  /** First pause between attempts, doubled each time (default 200 ms). */
  retryDelayMs?: number;
  /** A POST that has not answered by then is abandoned and retried (default 30 s). */
  timeoutMs?: number;
  /** Keep-alive sockets to Meterline (default 2: the recorder sends one batch at a time). */
  maxSockets?: number;
  /**
   * Ask Meterline for a result per event (default false): without it the sink sends `Prefer:
   * return=minimal`, and the answer's `results` holds only the rejected events (each with its
   * `index` in the batch), which is all a recorder acts on; the counts are always there.
   */
  perEventResults?: boolean;
  /** Events Meterline stored nothing of, each with its problems (malformed, another tenant, too old). */
  onRejected?(rejected: Array<Extract<EventResult, { status: 'rejected' }>>): void;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Meterline answered a batch with an error status. `retryable` for 408, 429 and 5xx (and 401/403,
 * which a refreshed token can cure): the recorder keeps the batch. Otherwise (400, 413, other 4xx)
 * the batch itself is refused and sending it again cannot help.
 */
export class UsageBatchRefusedError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly status: number,
    readonly body: string,
    readonly events: number,
  ) {
    super(`Meterline answered ${status} to a batch of ${events} usage events: ${body.slice(0, 300)}`);
    this.name = 'UsageBatchRefusedError';
    this.retryable = status === 401 || status === 403 || status === 408 || status === 429 || status >= 500;
  }
}

/** The start of Meterline's answer to a batch with nothing rejected (src/http/usage/ingest-route.ts writes its keys in this order). */
const CLEAN_ANSWER_HEAD = /^\{"accepted":(\d+),"duplicates":(\d+),"rejected":0,"results":\[/;

/**
 * Meterline's 200 answer. When nothing was rejected (the common batch) the counts are read from
 * the answer's head and its per-event results are parsed only if asked for: a gateway recording
 * usage never reads them, and parsing an answer per batch was a visible part of its cost.
 */
function readAnswer(text: string): BatchResult {
  const head = CLEAN_ANSWER_HEAD.exec(text);
  if (head === null) return JSON.parse(text) as BatchResult;
  let results: EventResult[] | undefined;
  return {
    accepted: Number(head[1]),
    duplicates: Number(head[2]),
    rejected: 0,
    get results() {
      results ??= (JSON.parse(text) as BatchResult).results;
      return results;
    },
  };
}

/** `{"events":[...]}`. */
const EVENTS_BODY: JsonBatchFraming = { open: '{"events":[', separator: 0x2c, terminated: false, close: ']}' };

/**
 * A `UsageSink` that POSTs batches to a Meterline in another process (`POST
 * /api/am/usage/v1/events`) over keep-alive sockets. A batch is retried `attempts` times with
 * backoff on network errors, timeouts, 401/403, 408, 429 and 5xx, with the same body: the event
 * ids are fixed, so a batch Meterline stored but whose answer was lost counts once (the repeat
 * answers `duplicate`). When every attempt fails the error goes back to the recorder, which keeps
 * the batch for its next flush. A batch over Meterline's body limit (413) is sent again as two
 * halves. A batch otherwise refused (400, another 4xx) is thrown as a `UsageBatchRefusedError`
 * with `retryable` false: the recorder reports it with its size and drops it rather than let it
 * block the batches behind it. Events Meterline rejected one by one
 * inside a 200 are reported through `onRejected` and not sent again.
 */
export function httpUsageSink(options: HttpUsageSinkOptions): UsageSink {
  const target = new URL(`${options.url.replace(/\/+$/, '')}${USAGE_EVENTS_PATH}`);
  const secure = target.protocol === 'https:';
  const agent = new (secure ? https : http).Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 2 });
  const attempts = Math.max(1, options.attempts ?? 3);
  const retryDelayMs = options.retryDelayMs ?? 200;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const prefer = options.perEventResults ? {} : { prefer: 'return=minimal' };

  // Bodies are written into kept Buffers, one per batch in flight (the recorder sends one at a
  // time; a caller of `ingest` may send more): a body must stay as it is until its POST is over.
  const spareBodies: JsonBatchBuffer[] = [];

  const post = (body: Buffer) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const request = (secure ? https : http).request(
        target,
        {
          method: 'POST',
          agent,
          timeout: timeoutMs,
          headers: { authorization: `Bearer ${options.token()}`, 'content-type': 'application/json', 'content-length': body.length, ...prefer },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`no answer from ${target.origin} within ${timeoutMs} ms`)));
      request.on('error', reject);
      request.end(body);
    });

  const send = async (events: readonly unknown[]): Promise<BatchResult> => {
    const buffer = spareBodies.pop() ?? new JsonBatchBuffer();
    try {
      return await sendBody(events, buffer.write(events, EVENTS_BODY));
    } finally {
      // Its POSTs are over: answered, or their sockets destroyed (nothing more is written from it).
      if (spareBodies.length < 2) spareBodies.push(buffer);
    }
  };

  const sendBody = async (events: readonly unknown[], body: Buffer): Promise<BatchResult> => {
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      if (attempt > 1) await sleep(retryDelayMs * 2 ** (attempt - 2));
      let answer: { status: number; text: string };
      try {
        answer = await post(body);
      } catch (error) {
        lastError = error; // connection refused or reset, timeout: the batch may or may not be stored; same ids again
        continue;
      }
      if (answer.status === 200) {
        const result = readAnswer(answer.text);
        if (result.rejected > 0 && options.onRejected) {
          options.onRejected(result.results.filter((r): r is Extract<EventResult, { status: 'rejected' }> => r.status === 'rejected'));
        }
        return result;
      }
      if (answer.status === 413 && events.length > 1) {
        // Over Meterline's body limit (events with long fields): each half on its own, results in order.
        const half = Math.ceil(events.length / 2);
        const first = await send(events.slice(0, half));
        const second = await send(events.slice(half));
        return {
          accepted: first.accepted + second.accepted,
          duplicates: first.duplicates + second.duplicates,
          rejected: first.rejected + second.rejected,
          results: [...first.results, ...second.results.map((r) => ({ ...r, index: r.index + half }))],
        };
      }
      lastError = new UsageBatchRefusedError(answer.status, answer.text, events.length);
      if (!(lastError as UsageBatchRefusedError).retryable) break;
    }
    throw lastError;
  };

  return {
    ingest: send,
    // A POST costs the gateway about 0.3 ms whatever its size: 1,000 events a batch cost 3.3-4.5 µs
    // of CPU a call against 5.2-6.3 µs at 500 (the recorder's default), in the route's process.
    preferredBatchSize: MAX_RECORDER_BATCH,
    close() {
      agent.destroy();
    },
  };
}
