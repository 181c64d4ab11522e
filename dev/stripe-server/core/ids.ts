import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(bytes: Uint8Array, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[(bytes[i] ?? 0) % ALPHABET.length];
  return out;
}

/** A fresh Stripe-style id: `prefix_` followed by 24 base62 characters. */
export function newId(prefix: string, length = 24): string {
  return `${prefix}_${base62(randomBytes(length), length)}`;
}

/** A stable id derived from a value (so the same API key always maps to the same account). */
export function stableId(prefix: string, seed: string, length = 16): string {
  return `${prefix}_${base62(createHash('sha256').update(seed).digest(), length)}`;
}

/** Stripe's random secrets look like ids; webhook secrets are `whsec_` + 32 chars. */
export function newSecret(prefix: string): string {
  return newId(prefix, 32);
}
