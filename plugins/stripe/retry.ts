import { setTimeout as delay } from 'node:timers/promises';
import Stripe from 'stripe';
import { attemptKey } from './idempotency';

export interface RetryPolicy {
  /** Re-sends of one request after the first attempt. */
  retries: number;
  /** The first wait; each further wait doubles, up to `maxDelayMs`, with jitter. */
  initialDelayMs: number;
  /** The longest wait, also the cap on a `Retry-After` Stripe asks for. */
  maxDelayMs: number;
}

/**
 * The one retry layer for the Stripe engine's calls. Every request the SDK makes goes through
 * this HTTP client; the SDK's own retries are off (`maxNetworkRetries: 0`, see stripe.clients.ts)
 * and nothing above the engine retries a call (the usage publisher leaves a failed record
 * PENDING for its next job). After the last attempt the SDK raises the answer as usual and
 * stripe.errors.ts maps it (429, 5xx, no answer → ENGINE_UNAVAILABLE).
 *
 * Which requests are sent again (https://docs.stripe.com/error-low-level,
 * https://docs.stripe.com/rate-limits):
 * - whatever Stripe marks `Stripe-Should-Retry: true`, and nothing it marks `false`, whatever
 *   the status;
 * - otherwise a 429 (rate limit, or a lock timeout on one object), a 409 (a conflicting
 *   concurrent request), any 5xx, and a request that got no answer (connection failure or
 *   timeout: Stripe may or may not have done it);
 * - never any other 4xx: the same request would fail the same way.
 * How: the very same request, headers included, so a POST carries the same `Idempotency-Key`
 * (the SDK sets one on every POST; ours derive theirs from what the call means) and Stripe
 * replays what it already did instead of doing it twice.
 * How many and how long: `retries` re-sends (default 6), waiting `Retry-After` seconds when
 * Stripe sends that header, else an exponential backoff from `initialDelayMs` (0.5 s) doubling
 * up to `maxDelayMs` (8 s), each wait drawn between half and all of it so that workers do not
 * retry in step.
 * One exception the SDK keeps: a request whose connection was closed (ECONNRESET, EPIPE) after
 * this layer gave up is sent once more by the SDK itself, with the same key.
 *
 * Stored server errors. Stripe saves the first answer to a key once the endpoint began, 500s
 * included, and replays it to every repeat for at least 24 h
 * (https://docs.stripe.com/api/idempotent_requests). Such a 500 comes with
 * `Stripe-Should-Retry: false` (and a repeat with `Idempotent-Replayed: true`, which this layer
 * never re-sends either): the call fails now (ENGINE_UNAVAILABLE, which callers answer with a
 * retryable 503 or keep for the publisher's next job). Since our keys are derived from meaning,
 * the next attempt of the same intent would get that 500 replayed for a day; so writes go through
 * {@link sendPastStoredErrors}, which on a replayed server error moves on to the next key of a
 * deterministic chain (idempotency.ts `attemptKey`), after first looking for the object by its
 * metadata when the write creates one (a Stripe 500 may have done part of the work). Creates also
 * look by metadata before their first send, which is what protects a retry made after Stripe
 * forgot the key.
 */
export function retryingHttpClient(
  policy: RetryPolicy,
  inner: Stripe.HttpClient = Stripe.createNodeHttpClient(),
  /** How a wait is spent (tests record it instead of waiting). */
  sleep: (ms: number) => Promise<unknown> = delay,
): Stripe.HttpClient {
  class RetryingClient extends Stripe.HttpClient {
    override getClientName(): string {
      return inner.getClientName();
    }

    override async makeRequest(...args: Parameters<Stripe.HttpClient['makeRequest']>): Promise<Stripe.HttpClientResponse> {
      for (let attempt = 0; ; attempt += 1) {
        let response: Stripe.HttpClientResponse;
        try {
          response = (await inner.makeRequest(...args)) as Stripe.HttpClientResponse;
        } catch (error) {
          if (attempt >= policy.retries) throw error;
          await sleep(backoff(policy, attempt));
          continue;
        }
        if (attempt >= policy.retries || !shouldRetry(response)) return response;
        const wait = retryAfterMs(response, policy) ?? backoff(policy, attempt);
        discard(response);
        await sleep(wait);
      }
    }
  }
  return new RetryingClient();
}

function header(response: Stripe.HttpClientResponse, name: string): string | undefined {
  const value = (response.getHeaders() as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
}

export function shouldRetry(response: Stripe.HttpClientResponse): boolean {
  // A saved answer comes back the same however often the same key is sent.
  if (header(response, 'idempotent-replayed') === 'true') return false;
  const advice = header(response, 'stripe-should-retry');
  if (advice === 'true') return true;
  if (advice === 'false') return false;
  const status = response.getStatusCode();
  return status === 409 || status === 429 || status >= 500;
}

/** `Retry-After: <seconds>` as a wait, capped at the policy's longest; undefined when absent or not seconds. */
function retryAfterMs(response: Stripe.HttpClientResponse, policy: RetryPolicy): number | undefined {
  const value = header(response, 'retry-after');
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  return Math.min(Number(value) * 1000, policy.maxDelayMs);
}

function backoff(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.initialDelayMs * 2 ** attempt, policy.maxDelayMs);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Reads and drops a response body we will not use, so its socket returns to the pool. */
function discard(response: { getRawResponse(): unknown }): void {
  const raw = response.getRawResponse() as { resume?: () => void } | undefined;
  raw?.resume?.();
}

/** How many keys of one intent's chain are tried before its failure is final (each failed key held a saved 5xx). */
export const MAX_KEYS_PER_INTENT = 16;

/** A server error Stripe replayed from a saved earlier answer: re-sending that key cannot change it. */
export function isReplayedServerError(error: unknown): boolean {
  if (!(error instanceof Stripe.errors.StripeAPIError)) return false;
  const headers = (error.headers ?? {}) as Record<string, string | undefined>;
  return (error.statusCode ?? 500) >= 500 && headers['idempotent-replayed'] === 'true';
}

/**
 * Sends one write under the intent's meaning-derived `key`; when Stripe answers with a replayed
 * saved server error, looks the object up with `find` (for creates; returns it when found) and
 * sends again under the next key of the chain, up to {@link MAX_KEYS_PER_INTENT} keys. A first,
 * not yet replayed, server error is the call's answer: the caller reports it as retryable, and its
 * next attempt gets here past the saved key without waiting a day. Any other error is thrown as is.
 */
export async function sendPastStoredErrors<T>(key: string, send: (key: string) => Promise<T>, find?: () => Promise<T | undefined>): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await send(attemptKey(key, attempt));
    } catch (error) {
      if (!isReplayedServerError(error) || attempt + 1 >= MAX_KEYS_PER_INTENT) throw error;
    }
    const found = await find?.();
    if (found !== undefined) return found;
  }
}
