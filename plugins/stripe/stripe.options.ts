import { z } from 'zod';
import { EngineOptionsError } from '../../src/monetization/monetization';
import { fieldProblems } from '../../src/validation/issues';

/**
 * `[apim.monetization.stripe]`. The api_* keys exist only to point the SDK at a Stripe-compatible
 * local server (tests, the demo); against real Stripe leave them out.
 */
export const stripeOptionsSchema = z.strictObject({
  api_host: z.string().min(1).optional(),
  api_port: z.number().int().min(1).max(65535).optional(),
  api_protocol: z.enum(['http', 'https']).optional(),
  /**
   * Re-sends of one request that got no answer, a 409, a 429, a 5xx or `Stripe-Should-Retry:
   * true`, with the same idempotency key (the one retry layer: retry.ts). Default 6.
   */
  retries: z.number().int().min(0).max(20).optional(),
  /** The first wait before a re-send (ms); each further wait doubles. Default 500. */
  retry_initial_delay_ms: z.number().int().min(1).max(60_000).optional(),
  /** The longest wait (ms), also the cap on Stripe's `Retry-After`. Default 8000. */
  retry_max_delay_ms: z.number().int().min(1).max(300_000).optional(),
  timeout_ms: z.number().int().min(1000).max(600_000).default(80_000),
  /** Earlier names, still read when the new ones are absent (see `withRetryPolicy`). */
  max_network_retries: z.number().int().min(0).max(10).optional(),
  rate_limit_retries: z.number().int().min(0).max(20).optional(),
  rate_limit_initial_delay_ms: z.number().int().min(1).max(60_000).optional(),
  rate_limit_max_delay_ms: z.number().int().min(1).max(300_000).optional(),
  /** `send_invoice` subscriptions (no saved payment method): days the subscriber has to pay. */
  days_until_due: z.number().int().min(0).max(365).default(30),
});

export type StripeOptions = Omit<z.infer<typeof stripeOptionsSchema>, 'max_network_retries' | 'rate_limit_retries' | 'rate_limit_initial_delay_ms' | 'rate_limit_max_delay_ms'> & {
  retries: number;
  retry_initial_delay_ms: number;
  retry_max_delay_ms: number;
};

/**
 * The retry keys as one policy. Before there was one retry layer, `max_network_retries` (the
 * SDK's: no answer, 409, 5xx) and `rate_limit_retries` (429) counted separately; a file that
 * still sets them and not `retries` gets the larger of those it sets for every retryable answer.
 */
function withRetryPolicy(parsed: z.infer<typeof stripeOptionsSchema>): StripeOptions {
  const { max_network_retries, rate_limit_retries, rate_limit_initial_delay_ms, rate_limit_max_delay_ms, ...rest } = parsed;
  const legacy = [max_network_retries, rate_limit_retries].filter((n): n is number => n !== undefined);
  const legacyCount = legacy.length === 0 ? undefined : Math.max(...legacy);
  return {
    ...rest,
    retries: parsed.retries ?? legacyCount ?? 6,
    retry_initial_delay_ms: parsed.retry_initial_delay_ms ?? rate_limit_initial_delay_ms ?? 500,
    retry_max_delay_ms: parsed.retry_max_delay_ms ?? rate_limit_max_delay_ms ?? 8_000,
  };
}

export function parseStripeOptions(raw: unknown): StripeOptions {
  const result = stripeOptionsSchema.safeParse(raw ?? {});
  if (result.success) return withRetryPolicy(result.data);
  const where = ['apim', 'monetization', 'stripe'];
  const problems = fieldProblems(result.error.issues, { whole: where.join('.'), at: where, unknownKey: 'unknown key' }).map((p) => `${p.field}: ${p.message}`);
  throw new EngineOptionsError(`invalid Stripe options: ${problems.join('; ')}`);
}
