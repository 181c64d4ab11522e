import { z } from 'zod';

/**
 * `[apim.monetization.usage_publisher]` — how the usage publisher paces itself and how long
 * its lease lasts. Every key has a default suited to Stripe's test mode (25 requests/s).
 */
export const publisherOptionsSchema = z.strictObject({
  /** Billing-engine calls per second across all workers (Stripe: 25/s test mode, 100/s live). */
  requests_per_second: z.number().positive().max(10_000).default(20),
  /** Subscriptions published in parallel; each subscription's windows go one at a time. */
  concurrency: z.number().int().min(1).max(256).default(8),
  /** Window length in hours: a divisor of 24. Windows are also cut at billing-period ends. */
  window_hours: z.union([1, 2, 3, 4, 6, 8, 12, 24].map((n) => z.literal(n)) as [z.ZodLiteral<number>, ...z.ZodLiteral<number>[]]).default(1),
  /** The lease a running job holds on the database; renewed every third of it while running. */
  lease_seconds: z.number().int().min(1).max(3600).default(60),
  /** Extra attempts of one record when the engine is unavailable (after the SDK's own retries). */
  retries: z.number().int().min(0).max(20).default(3),
  retry_delay_ms: z.number().int().min(0).max(60_000).default(1_000),
  /** Subscriptions frozen per database transaction. */
  freeze_chunk: z.number().int().min(1).max(5_000).default(500),
  /** Ingestion: how long a subscription's billability is cached (ms). */
  lookup_cache_ms: z.number().int().min(0).max(600_000).default(5_000),
});

export type PublisherOptions = z.infer<typeof publisherOptionsSchema>;

export function parsePublisherOptions(raw: unknown): PublisherOptions {
  const result = publisherOptionsSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = ['apim', 'monetization', 'usage_publisher', ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${key}.${k}: unknown key`).join('; ');
    return `${key}: ${issue.message}`;
  });
  throw new UsageOptionsError(`invalid usage publisher options: ${problems.join('; ')}`);
}

export class UsageOptionsError extends Error {
  override readonly name = 'UsageOptionsError';
}
