import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * `MyFatoorah-Signature` (https://docs.myfatoorah.com/docs/webhook-signature): the event type's
 * documented data properties, in their documented order, as `key=value` pairs joined by commas (a
 * null property is the empty string), HMAC-SHA256 with the webhook secret key (both UTF-8), base64.
 *
 * The properties per Webhook V2 event code:
 * - 1 PAYMENT_STATUS_CHANGED (https://docs.myfatoorah.com/docs/webhook-v2-payment-status-data-model):
 *   Invoice.Id, Invoice.Status, Transaction.Status, Transaction.PaymentId, Invoice.ExternalIdentifier;
 * - 2 REFUND_STATUS_CHANGED (its data model under https://docs.myfatoorah.com/docs/webhook-v2):
 *   Refund.Id, Refund.Status, Amount.ValueInBaseCurrency, ReferencedInvoice.Id (verified, then
 *   ignored: Meterline does not follow refunds).
 * An event of another code cannot be verified here, so it is refused.
 */
export const SIGNED_PROPERTIES: Readonly<Record<number, readonly string[]>> = {
  1: ['Invoice.Id', 'Invoice.Status', 'Transaction.Status', 'Transaction.PaymentId', 'Invoice.ExternalIdentifier'],
  2: ['Refund.Id', 'Refund.Status', 'Amount.ValueInBaseCurrency', 'ReferencedInvoice.Id'],
};

/** The value at a dotted path of the event's Data, as signed: strings as they are, numbers and booleans as text, anything else empty. */
export function signedValue(data: unknown, path: string): string {
  let value: unknown = data;
  for (const key of path.split('.')) {
    if (typeof value !== 'object' || value === null) return '';
    value = (value as Record<string, unknown>)[key];
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

/** The signed string of an event's Data: `Invoice.Id=…,Invoice.Status=…,…`; null for an event code with no documented properties. */
export function signedString(code: number, data: unknown): string | null {
  const properties = SIGNED_PROPERTIES[code];
  return properties ? properties.map((p) => `${p}=${signedValue(data, p)}`).join(',') : null;
}

/** The base64 HMAC-SHA256 of `signed` with `secret`, as MyFatoorah puts it in the header. */
export function sign(signed: string, secret: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(Buffer.from(signed, 'utf8')).digest('base64');
}

/** Constant-time comparison of a header's signature with the expected one. */
export function signatureMatches(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given.trim(), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
