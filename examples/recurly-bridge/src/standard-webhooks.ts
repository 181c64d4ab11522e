import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks (https://www.standardwebhooks.com/, "Signature scheme"), as docs/custom-billing.md
 * asks: the secret is `whsec_` + base64 of the key; the signed content `${id}.${timestamp}.${raw body}`;
 * `webhook-signature` a space-separated list of `v1,<base64 HMAC-SHA256>`. Written here, not imported
 * from Meterline: an integration is a separate program that only shares the protocol.
 */
export const TOLERANCE_SECONDS = 300;

function key(secret: string): Buffer {
  return Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
}

export function signature(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', key(secret)).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64')}`;
}

export function signedHeaders(secret: string, id: string, now: Date, body: string): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature(secret, id, timestamp, body) };
}

export type Verification = { ok: true; id: string } | { ok: false; reason: string };

/** Verifies the headers over the raw body before anything reads it; a timestamp 5 minutes away is refused. */
export function verify(secret: string, headers: Record<string, string | string[] | undefined>, rawBody: string, now: Date): Verification {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sig = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sig !== 'string') return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature' };
  const timestamp = Number(ts);
  if (!Number.isInteger(timestamp) || Math.abs(now.getTime() / 1000 - timestamp) > TOLERANCE_SECONDS) return { ok: false, reason: 'timestamp outside the tolerance' };
  const want = Buffer.from(signature(secret, id, timestamp, rawBody), 'utf8');
  const matches = sig.split(' ').some((part) => {
    const got = Buffer.from(part, 'utf8');
    return got.length === want.length && timingSafeEqual(got, want);
  });
  return matches ? { ok: true, id } : { ok: false, reason: 'no signature matches' };
}
