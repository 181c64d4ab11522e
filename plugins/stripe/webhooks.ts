import Stripe from 'stripe';
import { z } from 'zod';
import {
  WebhookRejectedError,
  type BillingEvent,
  type InvoiceSnapshot,
  type InvoiceStatus,
  type WebhookVerifier,
} from '../../src/monetization/billing-events';
import { SIGNATURE_HEADER, WEBHOOK_SECRET_KEY } from './capabilities';
import { fieldName } from '../../src/validation/issues';

/** Stripe's default: a delivery signed more than 5 minutes from now is refused. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const INVOICE_STATUS: Record<Stripe.Invoice.Status, InvoiceStatus> = {
  draft: 'DRAFT',
  open: 'OPEN',
  paid: 'PAID',
  void: 'VOID',
  uncollectible: 'UNCOLLECTIBLE',
};

const INVOICE_CHANGES = {
  'invoice.finalized': 'finalized',
  'invoice.paid': 'paid',
  'invoice.voided': 'voided',
  'invoice.marked_uncollectible': 'marked_uncollectible',
  'invoice.payment_failed': 'payment_failed',
} as const;

/** 9999-12-31T23:59:59Z: the last second a JavaScript Date and every database here can hold. */
const LAST_UNIX_SECOND = 253_402_300_799;
const unixSeconds = z.int().min(0).max(LAST_UNIX_SECOND);
const minorUnits = z.int();
const nonEmpty = z.string().min(1);

const subscriptionRef = z.union([nonEmpty, z.object({ id: nonEmpty })]);
const metadataSchema = z.record(z.string(), z.string());
const subscriptionDetails = z.object({ subscription: subscriptionRef.nullish(), metadata: metadataSchema.nullish() });

/**
 * The parts of a Stripe event Meterline reads, checked before any is used (Stripe adds fields
 * over time, so unknown ones are allowed and dropped).
 *
 * Stripe renders an event's object at the receiving endpoint's API version, or the account's
 * default when the endpoint has none (https://docs.stripe.com/webhooks/versioning), which need not
 * be the version this engine's SDK is pinned to. So the fields read are read in every shape they
 * have had: the invoice's subscription is under `parent.subscription_details` from 2025-03-31.basil
 * on and top-level `subscription`/`subscription_details` before
 * (https://docs.stripe.com/changelog/basil/2025-03-31/adds-new-parent-field-to-invoicing-objects).
 * The other fields read (amounts, status, periods, `hosted_invoice_url`, `billing_reason`,
 * `last_finalization_error`; a subscription's `id` and `status`) kept their shape. Reading both
 * shapes, rather than re-reading each object at the pinned version, needs no API call per event.
 */
const eventSchema = z.object({
  id: nonEmpty,
  type: nonEmpty,
  created: unixSeconds,
  account: nonEmpty.nullish(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

const invoiceSchema = z.object({
  id: nonEmpty,
  currency: z.string().regex(/^[a-z]{3}$/i, 'expected a three-letter currency code'),
  status: z.enum(['draft', 'open', 'paid', 'void', 'uncollectible']).nullish(),
  total: minorUnits,
  amount_due: minorUnits,
  amount_paid: minorUnits,
  amount_remaining: minorUnits,
  period_start: unixSeconds,
  period_end: unixSeconds,
  hosted_invoice_url: z.string().nullish(),
  billing_reason: z.string().nullish(),
  last_finalization_error: z.object({ message: z.string().nullish() }).nullish(),
  /** From 2025-03-31.basil on. */
  parent: z.object({ subscription_details: subscriptionDetails.nullish() }).nullish(),
  /** Before 2025-03-31.basil (an endpoint on an older version still gets these). */
  subscription: subscriptionRef.nullish(),
  subscription_details: z.object({ metadata: metadataSchema.nullish() }).nullish(),
});

const subscriptionSchema = z.object({ id: nonEmpty, status: nonEmpty });

/**
 * Verifies a Stripe webhook delivery on its raw bytes with the tenant's signing secret (before
 * anything in it is read), checks the fields Meterline reads, and turns it into a Meterline
 * billing event. A signed delivery that is not a well-formed Stripe event is refused as
 * `malformed`, naming the first bad field.
 */
export class StripeWebhookVerifier implements WebhookVerifier {
  verify(input: { secret: string | undefined; rawBody: Buffer; signature: string | undefined; now: Date }): BillingEvent {
    const { secret, rawBody, signature, now } = input;
    if (!secret) throw new WebhookRejectedError('no_secret', `the tenant has no ${WEBHOOK_SECRET_KEY} configured`);
    if (!signature) throw new WebhookRejectedError('missing_signature', `the ${SIGNATURE_HEADER} header is missing`);
    const signedAt = signedTimestamp(signature);
    if (signedAt === undefined) throw new WebhookRejectedError('bad_signature', `the ${SIGNATURE_HEADER} header has no timestamp`);
    const nowSeconds = Math.floor(now.getTime() / 1000);
    if (Math.abs(nowSeconds - signedAt) > SIGNATURE_TOLERANCE_SECONDS) {
      throw new WebhookRejectedError('stale', `the delivery was signed ${nowSeconds - signedAt} s ago, beyond the ${SIGNATURE_TOLERANCE_SECONDS} s tolerance`);
    }
    let parsed: unknown;
    try {
      parsed = Stripe.webhooks.constructEvent(rawBody, signature, secret, SIGNATURE_TOLERANCE_SECONDS, undefined, nowSeconds);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
        throw new WebhookRejectedError('bad_signature', `the ${SIGNATURE_HEADER} does not match the body and the tenant secret`);
      }
      throw new WebhookRejectedError('malformed', 'the delivery is not JSON');
    }
    return toBillingEvent(parsed);
  }
}

function signedTimestamp(header: string): number | undefined {
  const part = header.split(',').find((p) => p.trim().startsWith('t='));
  const value = part ? Number(part.trim().slice(2)) : NaN;
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Parses `input` with `schema`, or refuses the delivery naming the first bad field. */
function read<T>(schema: z.ZodType<T>, input: unknown, what: string, prefix: readonly PropertyKey[] = []): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = fieldName([...prefix, ...issue.path], '');
  throw new WebhookRejectedError('malformed', `${what}${path ? ` field ${path}` : ''} is invalid: ${issue.message}`);
}

function toBillingEvent(input: unknown): BillingEvent {
  const event = read(eventSchema, input, 'the Stripe event');
  const base = { id: event.id, occurredAt: new Date(event.created * 1000), account: event.account ?? null };
  const object = event.data.object;
  if (event.type in INVOICE_CHANGES) {
    const invoice = read(invoiceSchema, object, `the ${event.type} event's`, ['data', 'object']);
    return {
      ...base,
      type: 'invoice',
      change: INVOICE_CHANGES[event.type as keyof typeof INVOICE_CHANGES],
      invoice: toSnapshot(invoice),
      failure: event.type === 'invoice.payment_failed' ? (invoice.last_finalization_error?.message ?? 'the payment failed') : null,
    };
  }
  if (event.type === 'customer.subscription.updated' || event.type === 'customer.subscription.deleted') {
    const subscription = read(subscriptionSchema, object, `the ${event.type} event's`, ['data', 'object']);
    return {
      ...base,
      type: 'subscription',
      change: event.type === 'customer.subscription.updated' ? 'updated' : 'deleted',
      engineSubscriptionId: subscription.id,
      status: subscription.status,
    };
  }
  return { ...base, type: 'ignored', engineType: event.type };
}

function toSnapshot(invoice: z.infer<typeof invoiceSchema>): InvoiceSnapshot {
  const details = invoice.parent?.subscription_details;
  const subscription = details?.subscription ?? invoice.subscription ?? null;
  const metadata = details?.metadata ?? invoice.subscription_details?.metadata;
  return {
    engineInvoiceId: invoice.id,
    engineSubscriptionId: typeof subscription === 'string' ? subscription : (subscription?.id ?? null),
    subscriptionUuid: metadata?.meterline_subscription_uuid ?? null,
    status: INVOICE_STATUS[invoice.status ?? 'draft'],
    currency: invoice.currency.toLowerCase(),
    total: BigInt(invoice.total),
    amountDue: BigInt(invoice.amount_due),
    amountPaid: BigInt(invoice.amount_paid),
    amountRemaining: BigInt(invoice.amount_remaining),
    periodStart: new Date(invoice.period_start * 1000),
    periodEnd: new Date(invoice.period_end * 1000),
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
    billingReason: invoice.billing_reason ?? null,
  };
}
