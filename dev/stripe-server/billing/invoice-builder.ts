import { newId } from '../core/ids';
import type { AccountState } from '../state/account-state';
import type { World } from '../state/world';
import type { WireCustomer, WireInvoice, WireInvoiceLine, WirePrice, WireSubscription } from '../wire';
import { graduatedParts, priceLine } from './pricing';

/** One line to bill: `quantity` units of `price` for `period`. */
export interface LineSpec {
  price: WirePrice;
  quantity: number;
  period: { start: number; end: number };
  subscriptionItemId: string | null;
  /** A line from an invoice item (`add_invoice_items`) rather than a subscription item. */
  invoiceItemId?: string;
}

export interface InvoiceSpec {
  customer: WireCustomer;
  subscription: WireSubscription | null;
  lines: LineSpec[];
  billingReason: NonNullable<WireInvoice['billing_reason']>;
  collectionMethod: 'charge_automatically' | 'send_invoice';
  daysUntilDue: number | null;
  period: { start: number; end: number };
  currency: string;
  defaultPaymentMethod: string | null;
  description?: string | null;
  metadata?: Record<string, string>;
  /** Previews get an `upcoming_in_` id and are never stored. */
  preview?: boolean;
}

function describe(account: AccountState, line: LineSpec): string {
  const productId = typeof line.price.product === 'string' ? line.price.product : line.price.product.id;
  const name = account.products.get(productId)?.name ?? productId;
  return line.price.recurring?.usage_type === 'metered' ? `${line.quantity} × ${name} (usage)` : `${line.quantity} × ${name}`;
}

function isGraduated(price: WirePrice): boolean {
  return price.billing_scheme === 'tiered' && price.tiers_mode !== 'volume';
}

/**
 * A line per tier touched, and one per flat fee, for a graduated price with usage (see
 * `graduatedParts`); otherwise the one line. Each tier's line keeps the price, the period and the
 * parent, its quantity the units in the tier and its `unit_amount_decimal` the tier's; a flat fee
 * line has quantity 0 and no unit amount. Order: tier by tier, each tier's units before its flat fee.
 */
function splitByTier(account: AccountState, line: WireInvoiceLine, price: WirePrice, quantity: number, preview: boolean): WireInvoiceLine[] {
  if (!isGraduated(price) || quantity <= 0) return [line];
  const name = productName(account, price);
  return graduatedParts(price, quantity).map((part, index) => ({
    ...line,
    id: index === 0 ? line.id : newId(preview ? 'il_tmp' : 'il'),
    amount: part.amount,
    subtotal: part.amount,
    quantity: part.units,
    quantity_decimal: String(part.units),
    description: part.kind === 'units' ? `${part.units} × ${name} (Tier ${part.tier})` : `${name} (Tier ${part.tier} flat fee)`,
    pricing: line.pricing ? { ...line.pricing, unit_amount_decimal: part.unitAmountDecimal } : null,
    period: { ...line.period },
  }));
}

function productName(account: AccountState, price: WirePrice): string {
  const productId = typeof price.product === 'string' ? price.product : price.product.id;
  return account.products.get(productId)?.name ?? productId;
}

function buildLines(account: AccountState, invoiceId: string, spec: InvoiceSpec, line: LineSpec): WireInvoiceLine[] {
  return splitByTier(account, buildLine(account, invoiceId, spec, line), line.price, line.quantity, spec.preview === true);
}

function buildLine(account: AccountState, invoiceId: string, spec: InvoiceSpec, line: LineSpec): WireInvoiceLine {
  const priced = priceLine(line.price, line.quantity);
  const productId = typeof line.price.product === 'string' ? line.price.product : line.price.product.id;
  return {
    id: newId(spec.preview ? 'il_tmp' : 'il'),
    object: 'line_item',
    amount: priced.amount,
    currency: spec.currency,
    description: describe(account, line),
    discount_amounts: [],
    discountable: true,
    discounts: [],
    invoice: spec.preview ? null : invoiceId,
    livemode: false,
    metadata: {},
    parent: line.invoiceItemId
      ? {
          type: 'invoice_item_details',
          invoice_item_details: {
            invoice_item: line.invoiceItemId,
            proration: false,
            proration_details: { credited_items: null },
            subscription: spec.subscription?.id ?? null,
          },
          subscription_item_details: null,
        }
      : spec.subscription && line.subscriptionItemId
        ? {
            type: 'subscription_item_details',
            invoice_item_details: null,
            subscription_item_details: {
              invoice_item: null,
              proration: false,
              proration_details: { credited_items: null },
              subscription: spec.subscription.id,
              subscription_item: line.subscriptionItemId,
            },
          }
        : null,
    period: { start: line.period.start, end: line.period.end },
    pretax_credit_amounts: [],
    pricing: {
      type: 'price_details',
      price_details: { price: line.price.id, product: productId },
      unit_amount_decimal: priced.unitAmountDecimal,
    },
    quantity: line.quantity,
    quantity_decimal: String(line.quantity),
    subscription: spec.subscription?.id ?? null,
    subtotal: priced.amount,
    taxes: [],
  };
}

/**
 * A draft invoice for the given lines, with Stripe's current (2025+) shape:
 * the subscription under `parent.subscription_details`, prices under each
 * line's `pricing.price_details`. No tax, discounts or customer balance: total
 * = subtotal = sum of line amounts.
 */
export function draftInvoice(world: World, account: AccountState, spec: InvoiceSpec): WireInvoice {
  const now = world.clock.now();
  const id = spec.preview ? `upcoming_in_${newId('x').slice(2)}` : newId('in');
  const lines = spec.lines.flatMap((line) => buildLines(account, id, spec, line));
  const total = lines.reduce((sum, line) => sum + line.amount, 0);
  const customer = spec.customer;
  return {
    id,
    object: 'invoice',
    account_country: account.account.country ?? 'US',
    account_name: account.account.business_profile?.name ?? null,
    account_tax_ids: null,
    amount_due: total,
    amount_overpaid: 0,
    amount_paid: 0,
    amount_remaining: total,
    amount_shipping: 0,
    application: null,
    attempt_count: 0,
    attempted: false,
    auto_advance: !spec.preview,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: null,
    billing_reason: spec.billingReason,
    collection_method: spec.collectionMethod,
    created: now,
    currency: spec.currency,
    custom_fields: null,
    customer: customer.id,
    customer_account: null,
    customer_address: customer.address ?? null,
    customer_email: customer.email,
    customer_name: customer.name ?? null,
    customer_phone: customer.phone ?? null,
    customer_shipping: null,
    customer_tax_exempt: customer.tax_exempt ?? 'none',
    customer_tax_ids: [],
    default_payment_method: spec.defaultPaymentMethod,
    default_source: null,
    default_tax_rates: [],
    description: spec.description ?? null,
    discounts: [],
    due_date: null,
    effective_at: null,
    ending_balance: null,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: null,
    invoice_pdf: null,
    issuer: { type: 'self' },
    last_finalization_error: null,
    latest_revision: null,
    lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${id}/lines` },
    livemode: false,
    metadata: spec.metadata ?? {},
    next_payment_attempt: null,
    number: null,
    on_behalf_of: null,
    parent: spec.subscription
      ? {
          type: 'subscription_details',
          quote_details: null,
          subscription_details: { metadata: { ...spec.subscription.metadata }, subscription: spec.subscription.id },
        }
      : null,
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    period_end: spec.period.end,
    period_start: spec.period.start,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: 'draft',
    status_transitions: { finalized_at: null, marked_uncollectible_at: null, paid_at: null, voided_at: null },
    subtotal: total,
    subtotal_excluding_tax: total,
    test_clock: null,
    total,
    total_discount_amounts: [],
    total_excluding_tax: total,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: null,
  };
}

/**
 * The lines that bill `quantity` units of `price` in place of `lines` (one line, or a graduated
 * price's tier lines), from the first of them: a draft's usage updated at finalization.
 */
export function repriceLines(account: AccountState, lines: readonly WireInvoiceLine[], price: WirePrice, quantity: number): WireInvoiceLine[] {
  const line = structuredClone(lines[0]!);
  const priced = priceLine(price, quantity);
  line.quantity = quantity;
  line.quantity_decimal = String(quantity);
  line.amount = priced.amount;
  line.subtotal = priced.amount;
  if (line.pricing) line.pricing.unit_amount_decimal = priced.unitAmountDecimal;
  line.description = describe(account, { price, quantity, period: line.period, subscriptionItemId: null });
  return splitByTier(account, line, price, quantity, line.id.startsWith('il_tmp'));
}

/** Recomputes the amounts of a draft after its lines changed. */
export function recomputeTotals(invoice: WireInvoice): void {
  const total = invoice.lines.data.reduce((sum, line) => sum + line.amount, 0);
  invoice.subtotal = total;
  invoice.subtotal_excluding_tax = total;
  invoice.total = total;
  invoice.total_excluding_tax = total;
  invoice.amount_due = total;
  invoice.amount_remaining = total - invoice.amount_paid;
}
