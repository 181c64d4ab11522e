import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The `MyFatoorah-Signature` of a webhook event, as https://docs.myfatoorah.com/docs/webhook-signature
 * describes it: take the event type's documented data properties in their documented order, write
 * them as `key=value` joined by commas (a null or absent value is the empty string), HMAC-SHA256
 * that UTF-8 string with the webhook secret key (UTF-8), and base64 the digest.
 *
 * The order for V2 PAYMENT_STATUS_CHANGED (https://docs.myfatoorah.com/docs/webhook-v2-payment-status-data-model):
 * `Invoice.Id, Invoice.Status, Transaction.Status, Transaction.PaymentId, Invoice.ExternalIdentifier`
 * (the same order every public V2 integration we checked signs; this server sends no other event type).
 */
export const SIGNED_FIELDS: Readonly<Record<number, readonly string[]>> = {
  1: ['Invoice.Id', 'Invoice.Status', 'Transaction.Status', 'Transaction.PaymentId', 'Invoice.ExternalIdentifier'],
};

function at(data: unknown, path: string): unknown {
  let value: unknown = data;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function text(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

/** The string that is signed for a V2 event: `Invoice.Id=…,Invoice.Status=…,…`. Throws for an event code with no documented fields. */
export function signedString(event: { Event: { Code: number }; Data: unknown }): string {
  const fields = SIGNED_FIELDS[event.Event.Code];
  if (!fields) throw new RangeError(`no documented signature fields for event code ${event.Event.Code}`);
  return fields.map((field) => `${field}=${text(at(event.Data, field))}`).join(',');
}

/** The base64 HMAC-SHA256 signature MyFatoorah puts in the `MyFatoorah-Signature` header of a V2 event. */
export function signWebhookEvent(event: { Event: { Code: number }; Data: unknown }, secret: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(signedString(event), 'utf8').digest('base64');
}

/** Whether a signature matches the event (constant-time comparison). */
export function verifyWebhookSignature(event: { Event: { Code: number }; Data: unknown }, secret: string, signature: string): boolean {
  const expected = Buffer.from(signWebhookEvent(event, secret));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
