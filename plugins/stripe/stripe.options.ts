import { z } from 'zod';
import { EngineOptionsError } from '../../src/monetization/monetization';

/**
 * `[apim.monetization.stripe]`. The api_* keys exist only to point the SDK at a Stripe-compatible
 * local server (tests, the demo); against real Stripe leave them out.
 */
export const stripeOptionsSchema = z.strictObject({
  api_host: z.string().min(1).optional(),
  api_port: z.number().int().min(1).max(65535).optional(),
  api_protocol: z.enum(['http', 'https']).optional(),
  /** Retries of one call on network errors, 409, 429 and 5xx, with the same idempotency key. */
  max_network_retries: z.number().int().min(0).max(10).default(3),
  timeout_ms: z.number().int().min(1000).max(600_000).default(80_000),
  /** Re-sends of a request Stripe answered 429 (rate limited), with exponential backoff. */
  rate_limit_retries: z.number().int().min(0).max(20).default(6),
  rate_limit_initial_delay_ms: z.number().int().min(1).max(60_000).default(500),
  rate_limit_max_delay_ms: z.number().int().min(1).max(300_000).default(8_000),
  /** `send_invoice` subscriptions (no saved payment method): days the subscriber has to pay. */
  days_until_due: z.number().int().min(0).max(365).default(30),
});

export type StripeOptions = z.infer<typeof stripeOptionsSchema>;

export function parseStripeOptions(raw: unknown): StripeOptions {
  const result = stripeOptionsSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = ['apim', 'monetization', 'stripe', ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${key}.${k}: unknown key`).join('; ');
    return `${key}: ${issue.message}`;
  });
  throw new EngineOptionsError(`invalid Stripe options: ${problems.join('; ')}`);
}
