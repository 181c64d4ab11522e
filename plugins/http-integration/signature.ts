import { createHmac, timingSafeEqual } from 'node:crypto';

/** Standard Webhooks' signature header (https://www.standardwebhooks.com/, "Signature scheme"). */
export const SIGNATURE_HEADER = 'webhook-signature';

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com/, "Signature scheme"): the
 * secret is `whsec_` + base64 of the key bytes; the signed content is `${id}.${timestamp}.${body}`
 * (timestamp in unix seconds); `webhook-signature` is a space-separated list of `v1,` + base64 of
 * its HMAC-SHA256, any one of which may match (secret rotation).
 */
export function secretBytes(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secretBytes(secret)).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

/** Whether one of the header's `v1,` signatures is the expected one (compared in constant time). */
export function signatureMatches(header: string, expected: string): boolean {
  const want = Buffer.from(expected, 'utf8');
  return header
    .split(' ')
    .filter((part) => part.startsWith('v1,'))
    .some((part) => {
      const got = Buffer.from(part, 'utf8');
      return got.length === want.length && timingSafeEqual(got, want);
    });
}

/** The three headers of one attempt: the same id on every attempt, a fresh timestamp and signature. */
export function signedHeaders(secret: string, id: string, now: Date, body: string): Record<string, string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': sign(secret, id, timestamp, body) };
}
