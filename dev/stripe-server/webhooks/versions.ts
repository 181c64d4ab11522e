import Stripe from 'stripe';

/**
 * API versions of events.
 *
 * Stripe renders an event's `data.object` at the receiving webhook endpoint's `api_version`, or,
 * for an endpoint created without one, at the account's default API version
 * (https://docs.stripe.com/webhooks/versioning, https://docs.stripe.com/upgrades). An account's
 * default is the version current when it made its first request; this server's accounts are all
 * made at the version its objects are shaped in (the pinned version of the stripe-node it is built
 * with), which is therefore every account's default here, and the version `GET /v1/events`
 * shows.
 *
 * Older versions are rendered for the breaking changes of 2025-03-31.basil that touch what this
 * server emits (https://docs.stripe.com/changelog/basil):
 * - invoices and invoice lines gained `parent`, replacing the invoice's `subscription`,
 *   `subscription_details` and `quote` and the line's `type`, `subscription_item`, `proration`,
 *   `proration_details` and `invoice_item`
 *   (https://docs.stripe.com/changelog/basil/2025-03-31/adds-new-parent-field-to-invoicing-objects);
 * - invoices lost `paid`, `paid_out_of_band`, `payment_intent` and `charge` for `payments`
 *   (https://docs.stripe.com/changelog/basil/2025-03-31/add-support-for-multiple-partial-payments-on-invoices);
 * - subscriptions' `current_period_start`/`current_period_end` moved onto their items
 *   (https://docs.stripe.com/changelog/basil/2025-03-31/deprecate-subscription-current-period-start-and-end).
 * Fields other versions changed are rendered as today.
 */
export const ACCOUNT_DEFAULT_API_VERSION: string = Stripe.API_VERSION;

const BASIL = '2025-03-31';

/** A Stripe API version: a date, with the release's name from 2024-09-30.acacia on. */
export const API_VERSION_FORMAT = /^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/;

function before(version: string, date: string): boolean {
  return version.slice(0, 10) < date;
}

type Json = Record<string, unknown>;

/** `object` (a snapshot of a wire object, not shared) as an endpoint on `version` receives it. */
export function renderAtVersion(object: unknown, version: string): unknown {
  if (!before(version, BASIL) || typeof object !== 'object' || object === null) return object;
  const shaped = structuredClone(object) as Json;
  if (shaped.object === 'invoice') preBasilInvoice(shaped);
  if (shaped.object === 'subscription') preBasilSubscription(shaped);
  return shaped;
}

function preBasilInvoice(invoice: Json): void {
  const parent = invoice.parent as { subscription_details?: { subscription?: unknown; metadata?: unknown } | null; quote_details?: { quote?: unknown } | null } | null;
  const details = parent?.subscription_details ?? null;
  delete invoice.parent;
  invoice.subscription = details?.subscription ?? null;
  invoice.subscription_details = details ? { metadata: details.metadata ?? null } : null;
  invoice.quote = parent?.quote_details?.quote ?? null;
  invoice.paid = invoice.status === 'paid';
  invoice.paid_out_of_band = false;
  // This server keeps no PaymentIntent or Charge per invoice.
  invoice.payment_intent = null;
  invoice.charge = null;
  delete invoice.payments;
  const lines = (invoice.lines as { data?: Json[] } | undefined)?.data ?? [];
  for (const line of lines) preBasilLine(line);
}

function preBasilLine(line: Json): void {
  const parent = line.parent as { subscription_item_details?: Json | null; invoice_item_details?: Json | null } | null;
  const item = parent?.subscription_item_details ?? null;
  const invoiceItem = parent?.invoice_item_details ?? null;
  delete line.parent;
  line.type = item ? 'subscription' : 'invoiceitem';
  line.subscription = item?.subscription ?? line.subscription ?? null;
  line.subscription_item = item?.subscription_item ?? null;
  line.invoice_item = invoiceItem?.invoice_item ?? item?.invoice_item ?? null;
  line.proration = Boolean(item?.proration ?? invoiceItem?.proration ?? false);
  line.proration_details = item?.proration_details ?? invoiceItem?.proration_details ?? { credited_items: null };
}

function preBasilSubscription(subscription: Json): void {
  const first = (subscription.items as { data?: Json[] } | undefined)?.data?.[0];
  subscription.current_period_start = first?.current_period_start ?? null;
  subscription.current_period_end = first?.current_period_end ?? null;
}
