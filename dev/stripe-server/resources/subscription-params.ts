import { z } from 'zod';
import { bool, expand, int, list, metadata, nonNegativeInt, oneOf, paginationShape, rangeFilter, str } from '../http/params';
import { parameterInvalid, resourceMissing, invalidState } from '../http/errors';
import type { RequestContext } from '../http/route';
import type { WirePrice } from '../wire';
import { createPrice } from './prices';

/** Inline prices on subscription items (`items[n][price_data]`). */
export const itemPriceDataShape = z.strictObject({
  currency: str(),
  product: str(),
  unit_amount: nonNegativeInt().optional(),
  unit_amount_decimal: str().optional(),
  recurring: z.strictObject({ interval: oneOf(['day', 'week', 'month', 'year']), interval_count: int().optional() }),
  tax_behavior: oneOf(['exclusive', 'inclusive', 'unspecified']).optional(),
});

const createItemShape = z.strictObject({
  price: str().optional(),
  price_data: itemPriceDataShape.optional(),
  quantity: nonNegativeInt().optional(),
  metadata: metadata().optional(),
});

const updateItemShape = z.strictObject({
  id: str().optional(),
  price: str().optional(),
  price_data: itemPriceDataShape.optional(),
  quantity: nonNegativeInt().optional(),
  metadata: metadata().optional(),
  deleted: bool().optional(),
  clear_usage: bool().optional(),
});

const collection = oneOf(['charge_automatically', 'send_invoice']);
const proration = oneOf(['always_invoice', 'create_prorations', 'none']);

/** Params this server rejects as unsupported rather than silently ignoring. */
const unsupportedShape = {
  trial_period_days: z.unknown().optional(),
  trial_end: z.unknown().optional(),
  trial_from_plan: z.unknown().optional(),
  billing_cycle_anchor: z.unknown().optional(),
  backdate_start_date: z.unknown().optional(),
  discounts: z.unknown().optional(),
  transfer_data: z.unknown().optional(),
  on_behalf_of: z.unknown().optional(),
  default_tax_rates: z.unknown().optional(),
  billing_thresholds: z.unknown().optional(),
  pause_collection: z.unknown().optional(),
};

/** Modelled on create only (a new subscription's first invoice); an update still refuses it. */
const unsupportedOnUpdate = { ...unsupportedShape, add_invoice_items: z.unknown().optional() };

/**
 * `add_invoice_items`: "A list of prices and quantities that will generate invoice items appended
 * to the next invoice for this subscription. You may pass up to 20 items"
 * (https://docs.stripe.com/api/subscriptions/create#create_subscription-add_invoice_items). On a
 * create, the next invoice is the first one, so a one-off (a setup fee) is charged once.
 */
const addInvoiceItemShape = z.strictObject({
  price: str().optional(),
  price_data: z
    .strictObject({
      currency: str(),
      product: str(),
      unit_amount: nonNegativeInt().optional(),
      unit_amount_decimal: str().optional(),
      tax_behavior: oneOf(['exclusive', 'inclusive', 'unspecified']).optional(),
    })
    .optional(),
  quantity: nonNegativeInt().optional(),
  metadata: metadata().optional(),
});
const MAX_ADD_INVOICE_ITEMS = 20;

export const createSubscriptionSchema = z.strictObject({
  add_invoice_items: list(addInvoiceItemShape).optional(),
  customer: str().optional(),
  items: list(createItemShape).optional(),
  collection_method: collection.optional(),
  days_until_due: nonNegativeInt().optional(),
  default_payment_method: str().optional(),
  metadata: metadata().optional(),
  description: str().optional(),
  currency: str().optional(),
  payment_behavior: oneOf(['allow_incomplete', 'default_incomplete', 'error_if_incomplete']).optional(),
  proration_behavior: proration.optional(),
  cancel_at_period_end: bool().optional(),
  cancel_at: int().optional(),
  application_fee_percent: str().optional(),
  off_session: bool().optional(),
  payment_settings: z.record(z.string(), z.unknown()).optional(),
  automatic_tax: z.strictObject({ enabled: bool() }).optional(),
  expand: expand(),
  ...unsupportedShape,
});

export const updateSubscriptionSchema = z.strictObject({
  items: list(updateItemShape).optional(),
  collection_method: collection.optional(),
  days_until_due: nonNegativeInt().optional(),
  default_payment_method: str().optional(),
  metadata: metadata().optional(),
  description: str().optional(),
  payment_behavior: oneOf(['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'pending_if_incomplete']).optional(),
  proration_behavior: proration.optional(),
  proration_date: int().optional(),
  cancel_at_period_end: bool().optional(),
  cancel_at: z.union([z.literal(''), int()]).optional(),
  cancellation_details: z.strictObject({ comment: str().optional(), feedback: str().optional() }).optional(),
  application_fee_percent: str().optional(),
  off_session: bool().optional(),
  payment_settings: z.record(z.string(), z.unknown()).optional(),
  automatic_tax: z.strictObject({ enabled: bool() }).optional(),
  expand: expand(),
  ...unsupportedOnUpdate,
});

export const cancelSubscriptionSchema = z.strictObject({
  invoice_now: bool().optional(),
  prorate: bool().optional(),
  cancellation_details: z.strictObject({ comment: str().optional(), feedback: str().optional() }).optional(),
  expand: expand(),
});

export const listSubscriptionsSchema = z.strictObject({
  ...paginationShape,
  customer: str().optional(),
  price: str().optional(),
  status: oneOf(['active', 'all', 'canceled', 'ended', 'incomplete', 'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid']).optional(),
  collection_method: collection.optional(),
  created: rangeFilter().optional(),
});

export const retrieveSchema = z.strictObject({ expand: expand() });

/** Throws for any unsupported param that was sent (`on: 'update'` also refuses `add_invoice_items`). */
export function rejectUnsupported(params: Record<string, unknown>, on: 'create' | 'update' = 'create'): void {
  for (const key of Object.keys(on === 'update' ? unsupportedOnUpdate : unsupportedShape)) {
    if (params[key] !== undefined) {
      throw parameterInvalid(key, `${key} is not supported by the Meterline Stripe test server.`);
    }
  }
}

/**
 * Resolves the price of a subscription item (`price` or inline `price_data`)
 * and checks Stripe's rules: recurring, active, quantity only for licensed.
 */
export function itemPrice(
  ctx: RequestContext,
  item: { price?: string | undefined; price_data?: z.output<typeof itemPriceDataShape> | undefined; quantity?: number | undefined },
  param: string,
): WirePrice {
  let price: WirePrice;
  if (item.price !== undefined && item.price_data !== undefined) {
    throw parameterInvalid(`${param}[price]`, `You may only specify one of these parameters: ${param}[price], ${param}[price_data].`, 'parameters_exclusive');
  }
  if (item.price_data) {
    price = createPrice(ctx, { ...item.price_data }, `${param}[price_data]`);
  } else if (item.price !== undefined) {
    const found = ctx.account.prices.get(item.price);
    if (!found) throw resourceMissing('price', item.price, `${param}[price]`);
    price = found;
  } else {
    throw parameterInvalid(`${param}[price]`, `Missing required param: ${param}[price].`, 'parameter_missing');
  }
  if (!price.recurring) {
    throw parameterInvalid(
      `${param}[price]`,
      'The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.',
    );
  }
  if (!price.active) {
    throw parameterInvalid(`${param}[price]`, 'The price specified is inactive. This field only accepts active prices.');
  }
  if (price.recurring.usage_type === 'metered' && item.quantity !== undefined) {
    throw parameterInvalid(
      `${param}[quantity]`,
      `Quantity should not be specified where usage_type is \`metered\`. Remove quantity from \`${param}\`.`,
    );
  }
  return price;
}

/** All items of a subscription must share currency and billing interval. */
export function checkCompatible(prices: WirePrice[]): void {
  const [first, ...rest] = prices;
  if (!first) return;
  for (const price of rest) {
    if (
      price.currency !== first.currency ||
      price.recurring?.interval !== first.recurring?.interval ||
      price.recurring?.interval_count !== first.recurring?.interval_count
    ) {
      throw invalidState('Currency and interval fields must match across all plans on this subscription.', undefined, 'items');
    }
  }
}

/**
 * The one-time prices of `add_invoice_items` (an existing `price` or inline `price_data`, which
 * makes a one-time price), in the subscription's currency. Stripe takes only one-time prices here
 * (recurring ones belong in `items`).
 */
export function invoiceItemPrices(
  ctx: RequestContext,
  items: ReadonlyArray<z.output<typeof addInvoiceItemShape>> | undefined,
  currency: string,
): Array<{ price: WirePrice; quantity: number }> {
  if (!items) return [];
  if (items.length > MAX_ADD_INVOICE_ITEMS) {
    throw parameterInvalid('add_invoice_items', `You may pass up to ${MAX_ADD_INVOICE_ITEMS} add_invoice_items.`);
  }
  return items.map((item, i) => {
    const param = `add_invoice_items[${i}]`;
    if (item.price !== undefined && item.price_data !== undefined) {
      throw parameterInvalid(`${param}[price]`, `You may only specify one of these parameters: ${param}[price], ${param}[price_data].`, 'parameters_exclusive');
    }
    let price: WirePrice;
    if (item.price_data) {
      price = createPrice(ctx, { ...item.price_data }, `${param}[price_data]`);
    } else if (item.price !== undefined) {
      const found = ctx.account.prices.get(item.price);
      if (!found) throw resourceMissing('price', item.price, `${param}[price]`);
      price = found;
    } else {
      throw parameterInvalid(`${param}[price]`, `Missing required param: ${param}[price].`, 'parameter_missing');
    }
    if (price.recurring) {
      throw parameterInvalid(
        `${param}[price]`,
        'The price specified is set to `type=recurring` but this field only accepts prices with `type=one_time`.',
      );
    }
    if (!price.active) throw parameterInvalid(`${param}[price]`, 'The price specified is inactive. This field only accepts active prices.');
    if (price.currency !== currency) {
      throw parameterInvalid(`${param}[price]`, `The price's currency ${price.currency} does not match the subscription's currency ${currency}.`);
    }
    return { price, quantity: item.quantity ?? 1 };
  });
}
