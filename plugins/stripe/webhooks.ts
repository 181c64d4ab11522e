import Stripe from 'stripe';
import {
  WebhookRejectedError,
  type BillingEvent,
  type InvoiceSnapshot,
  type WebhookVerifier,
} from '../../src/billing/billing-events';
import type { InvoiceStatus } from '../../src/billing/invoice-lifecycle';

/** Stripe's default: a delivery signed more than 5 minutes from now is refused. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const INVOICE_STATUS: Record<string, InvoiceStatus> = {
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

/**
 * Verifies a Stripe webhook delivery on its raw bytes with the tenant's signing secret (before
 * anything in it is read) and turns it into a Meterline billing event.
 */
export class StripeWebhookVerifier implements WebhookVerifier {
  verify(input: { secret: string | undefined; rawBody: Buffer; signature: string | undefined; now: Date }): BillingEvent {
    const { secret, rawBody, signature, now } = input;
    if (!secret) throw new WebhookRejectedError('no_secret', 'the tenant has no stripe_webhook_secret configured');
    if (!signature) throw new WebhookRejectedError('missing_signature', 'the Stripe-Signature header is missing');
    const signedAt = signedTimestamp(signature);
    if (signedAt === undefined) throw new WebhookRejectedError('bad_signature', 'the Stripe-Signature header has no timestamp');
    const nowSeconds = Math.floor(now.getTime() / 1000);
    if (Math.abs(nowSeconds - signedAt) > SIGNATURE_TOLERANCE_SECONDS) {
      throw new WebhookRejectedError('stale', `the delivery was signed ${nowSeconds - signedAt} s ago, beyond the ${SIGNATURE_TOLERANCE_SECONDS} s tolerance`);
    }
    let event: Stripe.Event;
    try {
      event = Stripe.webhooks.constructEvent(rawBody, signature, secret, SIGNATURE_TOLERANCE_SECONDS, undefined, nowSeconds);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
        throw new WebhookRejectedError('bad_signature', 'the Stripe-Signature does not match the body and the tenant secret');
      }
      throw new WebhookRejectedError('malformed', 'the delivery is not a Stripe event');
    }
    try {
      return toBillingEvent(event);
    } catch {
      throw new WebhookRejectedError('malformed', `the ${String(event.type)} event does not have the fields Meterline reads`);
    }
  }
}

function signedTimestamp(header: string): number | undefined {
  const part = header.split(',').find((p) => p.trim().startsWith('t='));
  const value = part ? Number(part.trim().slice(2)) : NaN;
  return Number.isSafeInteger(value) ? value : undefined;
}

function toBillingEvent(event: Stripe.Event): BillingEvent {
  const base = { id: event.id, occurredAt: new Date(event.created * 1000), account: event.account ?? null };
  if (event.type in INVOICE_CHANGES) {
    const invoice = event.data.object as Stripe.Invoice;
    return {
      ...base,
      type: 'invoice',
      change: INVOICE_CHANGES[event.type as keyof typeof INVOICE_CHANGES],
      invoice: toSnapshot(invoice),
      failure: event.type === 'invoice.payment_failed' ? (invoice.last_finalization_error?.message ?? 'the payment failed') : null,
    };
  }
  if (event.type === 'customer.subscription.updated' || event.type === 'customer.subscription.deleted') {
    const subscription = event.data.object;
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

function toSnapshot(invoice: Stripe.Invoice): InvoiceSnapshot {
  if (typeof invoice.id !== 'string' || typeof invoice.currency !== 'string') throw new TypeError('not an invoice');
  const parentSubscription = invoice.parent?.subscription_details?.subscription ?? null;
  return {
    engineInvoiceId: invoice.id,
    engineSubscriptionId: typeof parentSubscription === 'string' ? parentSubscription : (parentSubscription?.id ?? null),
    subscriptionUuid: invoice.parent?.subscription_details?.metadata?.meterline_subscription_uuid ?? null,
    status: INVOICE_STATUS[invoice.status ?? 'draft'] ?? 'DRAFT',
    currency: invoice.currency,
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
