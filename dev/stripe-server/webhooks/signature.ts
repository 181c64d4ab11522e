import { createHmac } from 'node:crypto';

/**
 * Stripe's `Stripe-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.payload">`.
 *
 * Signed with the *real* time, not the simulated clock: the SDK's
 * `constructEvent` checks the timestamp against the receiver's wall clock
 * (300 s tolerance), exactly as it would for Stripe.
 */
export function signatureHeader(payload: string, secret: string, unixSeconds: number): string {
  const signature = createHmac('sha256', secret).update(`${unixSeconds}.${payload}`, 'utf8').digest('hex');
  return `t=${unixSeconds},v1=${signature}`;
}
