import type { UsagePublisherConfig } from '../config/schema';

/**
 * `[apim.monetization.usage_publisher]`, validated with the rest of the configuration at start-up
 * (`usagePublisherSchema` in src/config/schema.ts: strict, every key with a default).
 */
export type PublisherOptions = UsagePublisherConfig;

/** A usage-publisher setting the configuration schema cannot check alone (e.g. an unknown source). */
export class UsageOptionsError extends Error {
  override readonly name = 'UsageOptionsError';
}
