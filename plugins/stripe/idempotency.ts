import { createHash } from 'node:crypto';

/**
 * Idempotency keys derived from what a write means (tenant, object, step, and the content that
 * makes it different), never from counters or clock readings: a retry of the same intent
 * replays Stripe's first answer, a different intent gets a different key. Stripe keeps keys for
 * at least 24 h and allows 255 characters.
 */
export function idempotencyKey(...parts: Array<string | number>): string {
  return bounded(['meterline', ...parts.map(String)].join(':'));
}

/**
 * The key of the n-th send of one intent after Stripe saved a server error under the earlier
 * keys (see `sendPastStoredErrors` in retry.ts): the meaning-derived key itself for n = 0, then
 * that key with an attempt suffix. Derived, not random, so a process that crashes and retries
 * walks the same keys and gets the answers Stripe saved for them.
 */
export function attemptKey(key: string, attempt: number): string {
  return attempt === 0 ? key : bounded(`${key}:after-stored-error:${attempt}`);
}

function bounded(key: string): string {
  if (key.length <= 255) return key;
  return `meterline:sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** A short stable digest of a value, for keys that must change when the content changes. */
export function contentDigest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}
