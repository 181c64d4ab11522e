/**
 * An invoice's lifecycle as Meterline records it: DRAFT (generated, not yet sent to the billing
 * engine) → OPEN (finalized in the engine) → PAID, or VOID / UNCOLLECTIBLE.
 */
export const INVOICE_STATUSES = ['DRAFT', 'OPEN', 'PAID', 'VOID', 'UNCOLLECTIBLE'] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];

/**
 * Billing-engine events in Meterline's own terms, so the core never reads an engine's payloads.
 * An engine that pushes events (Stripe's webhooks) turns each verified delivery into one of these.
 */
export interface InvoiceSnapshot {
  engineInvoiceId: string;
  engineSubscriptionId: string | null;
  /** Meterline's subscription UUID, when the engine carries it on the invoice (Stripe: metadata). */
  subscriptionUuid: string | null;
  status: InvoiceStatus;
  currency: string;
  /** Minor units. */
  total: bigint;
  amountDue: bigint;
  amountPaid: bigint;
  amountRemaining: bigint;
  periodStart: Date;
  periodEnd: Date;
  /** The engine's payment page for the invoice, as the engine's invoice object gives it. */
  hostedInvoiceUrl: string | null;
  /**
   * The engine's PDF of the invoice (Stripe: `invoice_pdf`), for paid and unpaid invoices alike.
   * Undefined: the engine does not say (a recorded link is kept); null: it has none.
   */
  invoicePdfUrl?: string | null;
  /** Why the engine issued it: subscription_create, subscription_cycle, subscription_update... */
  billingReason: string | null;
  /**
   * Minor units of the invoice's own amount left on the customer's balance instead of being
   * collected (e.g. below the engine's minimum charge), and of an earlier carried amount collected
   * with it. Undefined or null: the engine does not say (or the invoice is not final yet).
   */
  carriedToBalance?: bigint | null;
  collectedFromBalance?: bigint | null;
}

interface EventBase {
  /** The engine's event id: deliveries are deduplicated by it. */
  id: string;
  /** When the engine says it happened (not when it arrived). */
  occurredAt: Date;
  /** The connected account the event comes from; null for the platform account. */
  account: string | null;
}

export type BillingEvent =
  | (EventBase & {
      type: 'invoice';
      change: 'finalized' | 'paid' | 'voided' | 'marked_uncollectible' | 'payment_failed';
      invoice: InvoiceSnapshot;
      /** The engine's reason for a failed payment, safe to show. */
      failure: string | null;
    })
  | (EventBase & {
      type: 'subscription';
      change: 'updated' | 'deleted';
      engineSubscriptionId: string;
      /** The engine's subscription status (active, past_due, unpaid, canceled, ...). */
      status: string;
    })
  | (EventBase & { type: 'ignored'; engineType: string });

/** Why a delivery was refused; nothing is read from a refused delivery. */
export class WebhookRejectedError extends Error {
  override readonly name = 'WebhookRejectedError';

  constructor(
    readonly reason: 'missing_signature' | 'bad_signature' | 'stale' | 'no_secret' | 'malformed',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Usage the engine accepted and later reported it could not bill (Stripe: a meter error report),
 * each named by the identifier Meterline sent it with.
 */
export interface UsageErrorReport {
  /** The engine's event id. */
  id: string;
  occurredAt: Date;
  /** The connected account the report comes from; null for the platform account. */
  account: string | null;
  errors: Array<{ identifier: string; reason: string }>;
  /**
   * Errors the engine counted in the report without naming the usage they concern (Stripe lists
   * only samples of each error code); absent when every error is named.
   */
  unnamed?: number;
}

/** Verifies a raw delivery with the tenant's secret and translates it. */
export interface WebhookVerifier {
  /**
   * `header` reads any header of the delivery (case-insensitive), for a scheme that signs more
   * than the signature header carries (Standard Webhooks: `webhook-id`, `webhook-timestamp`).
   */
  verify(input: { secret: string | undefined; rawBody: Buffer; signature: string | undefined; now: Date; header?: (name: string) => string | undefined }): BillingEvent;
  /**
   * For an engine that reports usage errors by webhook: the report a verified delivery carries
   * (read from the engine with the tenant's credentials when the delivery only notifies), or null
   * when the delivery is not one.
   */
  usageErrors?(event: BillingEvent, tenantDomain: string): Promise<UsageErrorReport | null>;
  /**
   * For an engine whose payment system asks the receiver to confirm a notification with its API
   * before trusting it (MyFatoorah: GetPaymentStatus): called after `verify` and before the event
   * is applied, it answers the event to apply, replaced by what the payment system says now (e.g.
   * a delivery saying Paid for an invoice the API still says is unpaid changes nothing). A
   * MonetizationError (the payment system unreachable, the tenant's credentials refused) answers
   * 502 and nothing is applied, so the payment system delivers it again.
   */
  confirm?(event: BillingEvent, tenantDomain: string): Promise<BillingEvent>;
}

/**
 * The pay link (or PDF link) Meterline shows for an invoice: an absolute https URL, or none. A link in any
 * other form (http, javascript:, relative) is dropped, except plain http to this machine's
 * loopback address: only a billing engine running on the same machine (the local
 * Stripe-compatible test server) serves such pages, and the link reaches no other host.
 */
export function payLink(url: string | null): string | null {
  if (url === null) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol === 'https:') return url;
  return parsed.protocol === 'http:' && LOOPBACK.test(parsed.hostname) ? url : null;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;
