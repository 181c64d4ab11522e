import { createHash } from 'node:crypto';

/**
 * Idempotency keys derived from what a write means (tenant, object, step, and the content that
 * makes it different), never from counters or clock readings: a retry of the same intent
 * replays Stripe's first answer, a different intent gets a different key. Stripe keeps keys for
 * at least 24 h and allows 255 characters.
 */
export function idempotencyKey(...parts: Array<string | number>): string {
  const key = ['meterline', ...parts.map(String)].join(':');
  if (key.length <= 255) return key;
  return `meterline:sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** A short stable digest of a value, for keys that must change when the content changes. */
export function contentDigest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
