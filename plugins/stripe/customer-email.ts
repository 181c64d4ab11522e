/**
 * The subscriber's e-mail as Meterline may send it to Stripe, or undefined.
 *
 * The address comes from the subscriber's token (its `email` claim, stored with the subscriber),
 * not from a request Meterline could refuse, and Stripe answers a customer create with an address
 * it considers malformed with 400 `email_invalid` (https://docs.stripe.com/error-codes#email-invalid).
 * Sending it would fail the subscription for a field Stripe only uses for receipts and invoice
 * e-mails, so a malformed address is left out: the customer is created without one (Meterline
 * keeps the address with the subscriber). Stripe does not publish its exact rule; this is the
 * common shape (one `@`, a non-empty local part, a dotted domain, no spaces or control
 * characters, at most 512 characters).
 */
export function usableCustomerEmail(email: string | null | undefined): string | undefined {
  if (!email) return undefined;
  if (email.length > 512 || !EMAIL.test(email)) return undefined;
  return email;
}

const EMAIL = /^[^\s@\p{Cc}]+@[^\s@.\p{Cc}]+(\.[^\s@.\p{Cc}]+)+$/u;
