import { z } from 'zod';

/**
 * The fields of Stripe's answers the engine reads (plugins/stripe), in the types it reads them
 * with. Stripe adds fields over time, so other fields are allowed; a field the engine reads that
 * is missing, renamed or of another type fails the contract, naming it.
 */
const id = (prefix: string) => z.string().startsWith(prefix);
const unix = z.int().nonnegative();
const metadata = z.record(z.string(), z.string());
const expandable = (prefix: string) => z.union([id(prefix), z.object({ id: id(prefix) })]);

/** api-plans.service.ts verifyAccount, invoices.service.ts toPendingInvoice. */
export const account = z.object({
  id: id('acct_'),
  object: z.literal('account'),
  country: z.string().nullish(),
  business_profile: z.object({ name: z.string().nullish() }).nullish(),
  settings: z.object({ dashboard: z.object({ display_name: z.string().nullish() }).nullish() }).nullish(),
});

/** archive.ts, plans.service.ts, api-plans.service.ts. */
export const product = z.object({ id: id('prod_'), object: z.literal('product'), active: z.boolean(), name: z.string(), metadata });

/** pricing.ts priceMatches, archive.ts. */
export const price = z.object({
  id: id('price_'),
  object: z.literal('price'),
  active: z.boolean(),
  currency: z.string().regex(/^[a-z]{3}$/),
  product: expandable('prod_'),
  unit_amount: z.int().nullable(),
  unit_amount_decimal: z.union([z.string(), z.object({})]).nullable(),
  recurring: z.object({ interval: z.enum(['day', 'week', 'month', 'year']), interval_count: z.int().positive(), usage_type: z.enum(['licensed', 'metered']), meter: z.string().nullable() }),
  metadata,
});

/**
 * pricing.ts priceMatches on a tiered or package price read with `expand[]=tiers`
 * (https://docs.stripe.com/api/prices/object#price_object-tiers: "This field is not included by
 * default. To include it in the response, expand the tiers field").
 */
const decimal = z.union([z.string(), z.object({})]).nullable();
export const tieredPrice = price.extend({
  billing_scheme: z.enum(['per_unit', 'tiered']),
  tiers_mode: z.enum(['graduated', 'volume']).nullable(),
  tiers: z.array(z.object({ up_to: z.int().nullable(), unit_amount: z.int().nullable(), unit_amount_decimal: decimal, flat_amount: z.int().nullable(), flat_amount_decimal: decimal })).nullish(),
  transform_quantity: z.object({ divide_by: z.int().positive(), round: z.enum(['up', 'down']) }).nullable(),
});

/** meters.ts ensureMeter. */
export const meter = z.object({ id: id('mtr_'), object: z.literal('billing.meter'), event_name: z.string(), status: z.literal('active') });

/** usage-reporter.ts. */
export const meterEvent = z.object({
  object: z.literal('billing.meter_event'),
  event_name: z.string(),
  identifier: z.string(),
  payload: z.record(z.string(), z.string()),
  timestamp: unix,
});

/** customers.service.ts, customer-reconcile.service.ts. */
export const customer = z.object({
  id: id('cus_'),
  object: z.literal('customer'),
  email: z.string().nullable(),
  balance: z.int(),
  metadata,
  invoice_settings: z.object({ default_payment_method: expandable('pm_').nullable() }),
});

export const deletedCustomer = z.object({ id: id('cus_'), object: z.literal('customer'), deleted: z.literal(true) });

/** customers.service.ts clonePaymentMethod / findAttachedClone. */
export const paymentMethod = z.object({ id: id('pm_'), object: z.literal('payment_method'), customer: expandable('cus_').nullable(), metadata });

/** subscription-workflow.ts, usage-reporter.ts billingCycle. */
export const subscription = z.object({
  id: id('sub_'),
  object: z.literal('subscription'),
  status: z.enum(['incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused']),
  billing_cycle_anchor: unix,
  metadata,
  items: z.object({
    data: z.array(z.object({ price: z.object({ id: id('price_'), recurring: z.object({ interval: z.string(), interval_count: z.int() }).nullable() }) })).min(1),
  }),
});

/** invoices.service.ts revenue (balanceMovement) and customer-reconcile.service.ts. */
export const listedInvoice = z.object({
  id: id('in_'),
  object: z.literal('invoice'),
  status: z.enum(['draft', 'open', 'paid', 'void', 'uncollectible']),
  currency: z.string(),
  amount_paid: z.int(),
  starting_balance: z.int(),
  ending_balance: z.int().nullable(),
});

/** invoices.service.ts toPendingInvoice. */
export const previewInvoice = z.object({
  id: z.string().nullish(),
  description: z.string().nullable(),
  currency: z.string(),
  account_name: z.string().nullish(),
  account_country: z.string().nullish(),
  customer_email: z.string().nullable(),
  period_start: unix,
  period_end: unix,
  due_date: unix.nullable(),
  next_payment_attempt: unix.nullable(),
  status: z.string().nullable(),
  subtotal: z.int(),
  total: z.int(),
  total_taxes: z.array(z.object({ amount: z.int() })).nullish(),
  amount_due: z.int(),
  amount_paid: z.int(),
  amount_remaining: z.int(),
  hosted_invoice_url: z.string().nullish(),
  lines: z.object({
    data: z.array(
      z.object({
        description: z.string().nullable(),
        quantity: z.int().nullable(),
        amount: z.int(),
        pricing: z.object({ unit_amount_decimal: z.union([z.string(), z.object({})]).nullable() }).nullable(),
      }),
    ),
  }),
});

/** usage-reconcile.ts counted usage. */
export const meterEventSummary = z.object({ object: z.literal('billing.meter_event_summary'), aggregated_value: z.number(), start_time: unix, end_time: unix });

/** usage-reconcile.ts invoiceOf: an invoice line. */
export const invoiceLine = z.object({
  id: z.string(),
  quantity: z.int().nullable(),
  amount: z.int(),
  period: z.object({ start: unix, end: unix }),
  pricing: z.object({ price_details: z.object({ price: expandable('price_') }).nullish() }).nullable(),
});

/** usage-reconcile.ts invoiceOf: a listed invoice with its first lines. */
export const invoiceWithLines = z.object({
  id: id('in_'),
  status: z.enum(['draft', 'open', 'paid', 'void', 'uncollectible']),
  status_transitions: z.object({ finalized_at: unix.nullable() }),
  lines: z.object({ has_more: z.boolean(), data: z.array(invoiceLine) }),
});

/** What the engine's webhook handling needs of an endpoint an operator creates (README). */
export const webhookEndpoint = z.object({ id: id('we_'), object: z.literal('webhook_endpoint'), secret: id('whsec_'), enabled_events: z.array(z.string()) });

/** The value if it has `schema`'s shape; otherwise a failure that names each wrong field. */
export function shaped<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
  throw new Error(`${what} does not have the shape the engine reads: ${problems}`);
}
