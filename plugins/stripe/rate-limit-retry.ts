import { setTimeout as sleep } from 'node:timers/promises';
import Stripe from 'stripe';

export interface RateLimitRetryPolicy {
  /** Retries of one request answered 429 (Stripe's rate limit), after the first attempt. */
  retries: number;
  /** The first wait; each further wait doubles, up to `maxDelayMs`, with jitter. */
  initialDelayMs: number;
  maxDelayMs: number;
}

/**
 * The SDK's own retries cover network faults, 409 and 5xx but not 429, which is exactly what a
 * busy account sees. This HTTP client re-sends a request answered 429 after a backoff, with the
 * same headers (so the same idempotency key); Stripe did nothing for a rate-limited request, so
 * sending it again is safe. Only after the retries run out does the caller see the error.
 */
export function rateLimitRetryingHttpClient(policy: RateLimitRetryPolicy, inner = Stripe.createNodeHttpClient()): Stripe.HttpClient {
  class RetryingClient extends Stripe.HttpClient {
    override getClientName(): string {
      return inner.getClientName();
    }

    override async makeRequest(...args: Parameters<Stripe.HttpClient['makeRequest']>): Promise<Stripe.HttpClientResponse> {
      for (let attempt = 0; ; attempt += 1) {
        const response = await inner.makeRequest(...args);
        if (response.getStatusCode() !== 429 || attempt >= policy.retries) return response as Stripe.HttpClientResponse;
        discard(response);
        await sleep(backoff(policy, attempt));
      }
    }
  }
  return new RetryingClient();
}

function backoff(policy: RateLimitRetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.initialDelayMs * 2 ** attempt, policy.maxDelayMs);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** Reads and drops a response body we will not use, so its socket returns to the pool. */
function discard(response: { getRawResponse(): unknown }): void {
  const raw = response.getRawResponse() as { resume?: () => void } | undefined;
  raw?.resume?.();
}
