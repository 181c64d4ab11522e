import { z } from 'zod';
import { formatDecimal, parseDecimal } from '../core/decimal';
import { chargeAmountProblem, isSupportedCurrency } from '../core/currencies';
import { newId } from '../core/ids';
import { invalidState, parameterInvalid, parameterMissing, parametersExclusive, resourceMissing, unsupported } from '../http/errors';
import { paginate } from '../http/list';
import {
  bool,
  decimal,
  expand,
  int,
  list,
  metadata,
  nonNegativeInt,
  oneOf,
  paginationShape,
  parseParams,
  rangeFilter,
  str,
} from '../http/params';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import type { WirePrice, WireProduct } from '../wire';
import { initialMetadata, listUrl, mergeMetadata, render } from './common';
import { inRange } from './products';

const recurringShape = {
  interval: oneOf(['day', 'week', 'month', 'year']),
  interval_count: int().optional(),
  usage_type: oneOf(['licensed', 'metered']).optional(),
  meter: str().optional(),
  trial_period_days: int().optional(),
};

const tierShape = z.strictObject({
  up_to: z.union([z.literal('inf'), int()]),
  unit_amount: nonNegativeInt().optional(),
  unit_amount_decimal: decimal().optional(),
  flat_amount: nonNegativeInt().optional(),
  flat_amount_decimal: decimal().optional(),
});

/** The params shared by `POST /v1/prices` and `default_price_data` / `price_data` elsewhere. */
export const priceDataShape = {
  currency: str(),
  unit_amount: nonNegativeInt().optional(),
  unit_amount_decimal: decimal().optional(),
  recurring: z.strictObject(recurringShape).optional(),
  metadata: metadata().optional(),
  tax_behavior: oneOf(['exclusive', 'inclusive', 'unspecified']).optional(),
};

const createSchema = z.strictObject({
  ...priceDataShape,
  product: str().optional(),
  product_data: z
    .strictObject({
      name: str(),
      id: str().optional(),
      active: bool().optional(),
      metadata: metadata().optional(),
      statement_descriptor: str().optional(),
      tax_code: str().optional(),
      unit_label: str().optional(),
    })
    .optional(),
  active: bool().optional(),
  billing_scheme: oneOf(['per_unit', 'tiered']).optional(),
  tiers: list(tierShape).optional(),
  tiers_mode: oneOf(['graduated', 'volume']).optional(),
  nickname: str().optional(),
  lookup_key: str().optional(),
  transfer_lookup_key: bool().optional(),
  custom_unit_amount: z.record(z.string(), z.unknown()).optional(),
  transform_quantity: z.strictObject({ divide_by: int().optional(), round: oneOf(['up', 'down']).optional() }).optional(),
  currency_options: z.record(z.string(), z.unknown()).optional(),
  expand: expand(),
});

type PriceInput = Omit<z.output<typeof createSchema>, 'product_data' | 'expand'> & { product?: string | undefined };

const updateSchema = z.strictObject({
  active: bool().optional(),
  metadata: metadata().optional(),
  nickname: str().optional(),
  lookup_key: str().optional(),
  transfer_lookup_key: bool().optional(),
  tax_behavior: oneOf(['exclusive', 'inclusive', 'unspecified']).optional(),
  expand: expand(),
});

const listSchema = z.strictObject({
  ...paginationShape,
  active: bool().optional(),
  product: str().optional(),
  currency: str().optional(),
  type: oneOf(['one_time', 'recurring']).optional(),
  lookup_keys: list(str()).optional(),
  recurring: z
    .strictObject({
      interval: oneOf(['day', 'week', 'month', 'year']).optional(),
      meter: str().optional(),
      usage_type: oneOf(['licensed', 'metered']).optional(),
    })
    .optional(),
  created: rangeFilter().optional(),
});

const retrieveSchema = z.strictObject({ expand: expand() });

/** `expand[]=tiers` asks Stripe to include tiers; this server always includes them. */
function withoutTiers(paths: string[] | undefined): string[] | undefined {
  return paths?.filter((p) => p !== 'tiers' && p !== 'data.tiers');
}

const CURRENCY = /^[a-z]{3}$/;

/** Names a param in errors, with the caller's nesting (e.g. `items[0][price_data][currency]`). */
type ParamNamer = (param: string) => string;

function unitAmountOf(
  input: { unit_amount?: number | undefined; unit_amount_decimal?: string | undefined },
  name: ParamNamer,
) {
  if (input.unit_amount !== undefined && input.unit_amount_decimal !== undefined) {
    throw parametersExclusive([name('unit_amount'), name('unit_amount_decimal')]);
  }
  if (input.unit_amount !== undefined) {
    return { unit_amount: input.unit_amount, unit_amount_decimal: String(input.unit_amount) };
  }
  if (input.unit_amount_decimal !== undefined) {
    const exact = parseDecimal(input.unit_amount_decimal);
    if (exact.units < 0n) throw parameterInvalid(name('unit_amount_decimal'), 'Invalid decimal: must be non-negative');
    const canonical = formatDecimal(exact);
    // Stripe also fills unit_amount when the decimal is a whole number.
    return { unit_amount: /^\d+$/.test(canonical) ? Number(canonical) : null, unit_amount_decimal: canonical };
  }
  return undefined;
}

function buildTiers(input: PriceInput, name: ParamNamer): NonNullable<WirePrice['tiers']> {
  const tiers = input.tiers ?? [];
  if (tiers.length === 0) throw parameterMissing(name('tiers'));
  if (!input.tiers_mode) throw parameterMissing(name('tiers_mode'));
  let previous = 0;
  return tiers.map((tier, i) => {
    const tierParam: ParamNamer = (param) => `${name('tiers')}[${i}][${param}]`;
    const last = i === tiers.length - 1;
    if (last !== (tier.up_to === 'inf')) {
      throw parameterInvalid(tierParam('up_to'), 'The last tier must have up_to=inf, and only the last tier.');
    }
    if (tier.up_to !== 'inf') {
      if (tier.up_to <= previous) throw parameterInvalid(tierParam('up_to'), 'Tiers must be in ascending order of up_to.');
      previous = tier.up_to;
    }
    const unit = unitAmountOf(tier, tierParam);
    if (tier.flat_amount !== undefined && tier.flat_amount_decimal !== undefined) {
      throw parametersExclusive([tierParam('flat_amount'), tierParam('flat_amount_decimal')]);
    }
    const flatDecimal =
      tier.flat_amount !== undefined
        ? String(tier.flat_amount)
        : tier.flat_amount_decimal !== undefined
          ? formatDecimal(parseDecimal(tier.flat_amount_decimal))
          : null;
    // "a decimal value representing an integer in the minor units of the currency"
    // (https://docs.stripe.com/api/prices/create#create_price-tiers-flat_amount_decimal).
    if (flatDecimal !== null && !/^\d+$/.test(flatDecimal)) {
      throw parameterInvalid(tierParam('flat_amount_decimal'), 'Invalid decimal: flat_amount_decimal must be a whole number of the minor unit.');
    }
    return {
      flat_amount: flatDecimal !== null ? Number(flatDecimal) : null,
      flat_amount_decimal: flatDecimal,
      unit_amount: unit?.unit_amount ?? null,
      unit_amount_decimal: unit?.unit_amount_decimal ?? null,
      up_to: tier.up_to === 'inf' ? null : tier.up_to,
    };
  });
}

/**
 * `transform_quantity`: "divide the reported usage by a specific number and round the result up
 * or down" before the unit price applies; both keys are required, and "Quantity transformation
 * isn't compatible with tiered pricing"
 * (https://docs.stripe.com/billing/subscriptions/usage-based/transform-quantities,
 * https://docs.stripe.com/api/prices/create#create_price-transform_quantity).
 */
function buildTransform(input: PriceInput, scheme: string, name: ParamNamer): WirePrice['transform_quantity'] {
  const t = input.transform_quantity;
  if (t === undefined) return null;
  if (scheme === 'tiered') {
    throw parameterInvalid(name('transform_quantity'), 'Quantity transformation (`transform_quantity`) is not compatible with `billing_scheme=tiered`.');
  }
  if (t.divide_by === undefined) throw parameterMissing(name('transform_quantity[divide_by]'));
  if (t.round === undefined) throw parameterMissing(name('transform_quantity[round]'));
  if (t.divide_by < 1) throw parameterInvalid(name('transform_quantity[divide_by]'), 'Invalid integer: divide_by must be at least 1.');
  return { divide_by: t.divide_by, round: t.round };
}

function buildRecurring(ctx: RequestContext, input: PriceInput, name: ParamNamer): WirePrice['recurring'] {
  const recurringParam: ParamNamer = (param) => `${name('recurring')}[${param}]`;
  const r = input.recurring;
  if (!r) return null;
  if (r.trial_period_days !== undefined) throw unsupported(recurringParam('trial_period_days'), 'Trials');
  const usageType = r.usage_type ?? 'licensed';
  const count = r.interval_count ?? 1;
  const maxCount = { day: 365, week: 52, month: 12, year: 1 }[r.interval];
  if (count < 1 || count > maxCount) {
    throw parameterInvalid(recurringParam('interval_count'), 'Invalid interval_count: the maximum billing period is one year.');
  }
  if (usageType === 'metered' && r.meter === undefined && !legacyUsageVersion(ctx.apiVersion)) {
    throw parameterInvalid(
      recurringParam('meter'),
      'Prices with `usage_type=metered` must be backed by a billing meter: pass `recurring[meter]`.',
    );
  }
  if (r.meter !== undefined) {
    if (usageType !== 'metered') {
      throw parameterInvalid(recurringParam('meter'), '`recurring[meter]` can only be set when `recurring[usage_type]=metered`.');
    }
    if (!ctx.account.meters.has(r.meter)) throw resourceMissing('billing meter', r.meter, recurringParam('meter'));
  }
  return { interval: r.interval, interval_count: count, meter: r.meter ?? null, trial_period_days: null, usage_type: usageType };
}

function claimLookupKey(ctx: RequestContext, key: string | undefined, transfer: boolean | undefined, ownId: string | null): void {
  if (key === undefined) return;
  const holder = ctx.account.prices.all().find((p) => p.lookup_key === key && p.id !== ownId);
  if (!holder) return;
  if (!transfer) {
    throw invalidState(`A price (\`${holder.id}\`) already uses that lookup key.`, undefined, 'lookup_key');
  }
  holder.lookup_key = null;
}

/**
 * The amounts of a price charged as they are (licensed and one-time prices) must be chargeable in
 * its currency: ISK in multiples of 100, three-decimal currencies ending in 0
 * (https://docs.stripe.com/currencies#special-cases, #three-decimal). A metered price's amounts
 * are per-unit rates, multiplied by usage and rounded on the line, and are not checked here.
 */
function checkChargeableAmounts(
  currency: string,
  unit: { unit_amount: number | null } | undefined,
  tiers: WirePrice['tiers'],
  name: ParamNamer,
): void {
  const amounts: Array<[string, number | null | undefined]> = [[name('unit_amount'), unit?.unit_amount]];
  (tiers ?? []).forEach((tier, i) => {
    amounts.push([`${name('tiers')}[${i}][unit_amount]`, tier.unit_amount], [`${name('tiers')}[${i}][flat_amount]`, tier.flat_amount]);
  });
  for (const [param, amount] of amounts) {
    if (amount === null || amount === undefined || amount === 0) continue;
    const problem = chargeAmountProblem(currency, amount);
    if (problem) throw parameterInvalid(param, problem.message, problem.code);
  }
}

/**
 * Creates a price from validated params. Shared by `POST /v1/prices`,
 * `default_price_data` on products and `price_data` on subscription items;
 * `prefix` names the params in errors (e.g. `items[0][price_data]`).
 */
export function createPrice(ctx: RequestContext, input: PriceInput, prefix = ''): WirePrice {
  const name: ParamNamer = (param) => (prefix ? `${prefix}[${param}]` : param);
  if (input.custom_unit_amount) throw unsupported(name('custom_unit_amount'), 'Pay-what-you-want prices');
  if (input.currency_options) throw unsupported(name('currency_options'), 'Multi-currency prices');
  const currency = input.currency.toLowerCase();
  // https://docs.stripe.com/currencies#presentment-currencies
  if (!CURRENCY.test(currency) || !isSupportedCurrency(currency)) {
    throw parameterInvalid(name('currency'), `Invalid currency: ${input.currency}. Stripe currently supports these currencies: usd, eur, gbp, jpy, … (https://stripe.com/docs/currencies)`);
  }
  if (input.product === undefined) throw parameterMissing(name('product'));
  ctx.account.products.require(input.product, name('product'));
  const scheme = input.billing_scheme ?? 'per_unit';
  let unit: { unit_amount: number | null; unit_amount_decimal: string | null } | undefined;
  let tiers: WirePrice['tiers'];
  if (scheme === 'tiered') {
    if (input.unit_amount !== undefined || input.unit_amount_decimal !== undefined) {
      throw parameterInvalid(name('unit_amount'), 'You cannot set `unit_amount` on a price with `billing_scheme=tiered`.');
    }
    tiers = buildTiers(input, name);
    unit = { unit_amount: null, unit_amount_decimal: null };
  } else {
    if (input.tiers !== undefined || input.tiers_mode !== undefined) {
      throw parameterInvalid(name('tiers'), 'Tiers can only be set when `billing_scheme=tiered`.');
    }
    unit = unitAmountOf(input, name);
    if (!unit) throw parameterMissing(name('unit_amount'));
  }
  const transform = buildTransform(input, scheme, name);
  const recurring = buildRecurring(ctx, input, name);
  if (recurring?.usage_type !== 'metered') checkChargeableAmounts(currency, unit, tiers, name);
  claimLookupKey(ctx, input.lookup_key, input.transfer_lookup_key, null);
  const price: WirePrice = {
    id: newId('price'),
    object: 'price',
    active: input.active ?? true,
    billing_scheme: scheme,
    created: ctx.world.clock.now(),
    currency,
    custom_unit_amount: null,
    livemode: false,
    lookup_key: input.lookup_key ?? null,
    metadata: initialMetadata(input.metadata),
    nickname: input.nickname ?? null,
    product: input.product,
    recurring,
    tax_behavior: input.tax_behavior ?? 'unspecified',
    tiers_mode: scheme === 'tiered' ? (input.tiers_mode ?? null) : null,
    transform_quantity: transform,
    type: recurring ? 'recurring' : 'one_time',
    unit_amount: unit.unit_amount,
    unit_amount_decimal: unit.unit_amount_decimal,
  };
  if (tiers) price.tiers = tiers;
  ctx.account.prices.insert(price);
  ctx.world.events.emit(ctx.account, 'price.created', price);
  return price;
}

function create(ctx: RequestContext): WirePrice {
  const p = parseParams(createSchema, ctx.params);
  const { product_data: productData, expand: paths, ...input } = p;
  if (input.product !== undefined && productData !== undefined) throw parametersExclusive(['product', 'product_data']);
  if (productData) input.product = createInlineProduct(ctx, productData).id;
  return render(ctx, createPrice(ctx, input), withoutTiers(paths));
}

function createInlineProduct(
  ctx: RequestContext,
  data: NonNullable<z.output<typeof createSchema>['product_data']>,
): WireProduct {
  const now = ctx.world.clock.now();
  const product: WireProduct = {
    id: data.id ?? newId('prod', 14),
    object: 'product',
    active: data.active ?? true,
    created: now,
    default_price: null,
    description: null,
    images: [],
    livemode: false,
    marketing_features: [],
    metadata: initialMetadata(data.metadata),
    name: data.name,
    package_dimensions: null,
    shippable: null,
    statement_descriptor: data.statement_descriptor ?? null,
    tax_code: data.tax_code ?? null,
    tax_details: null,
    type: 'service',
    unit_label: data.unit_label ?? null,
    updated: now,
    url: null,
  };
  if (ctx.account.products.has(product.id)) throw invalidState('Product already exists.', 'resource_already_exists', 'product_data[id]');
  ctx.account.products.insert(product);
  ctx.world.events.emit(ctx.account, 'product.created', product);
  return product;
}

function retrieve(ctx: RequestContext): WirePrice {
  const p = parseParams(retrieveSchema, ctx.params);
  return render(ctx, ctx.account.prices.require(pathParam(ctx, 'id')), withoutTiers(p.expand));
}

function update(ctx: RequestContext): WirePrice {
  const price = ctx.account.prices.require(pathParam(ctx, 'id'));
  const p = parseParams(updateSchema, ctx.params);
  const previous: Record<string, unknown> = {};
  if (p.active !== undefined && p.active !== price.active) {
    previous.active = price.active;
    price.active = p.active;
  }
  if (p.metadata !== undefined) {
    previous.metadata = price.metadata;
    price.metadata = mergeMetadata(price.metadata, p.metadata);
  }
  if (p.nickname !== undefined) price.nickname = p.nickname === '' ? null : p.nickname;
  if (p.tax_behavior !== undefined) {
    if (price.tax_behavior !== 'unspecified' && price.tax_behavior !== p.tax_behavior) {
      throw invalidState('tax_behavior cannot be changed once set.', undefined, 'tax_behavior');
    }
    price.tax_behavior = p.tax_behavior;
  }
  if (p.lookup_key !== undefined) {
    claimLookupKey(ctx, p.lookup_key, p.transfer_lookup_key, price.id);
    price.lookup_key = p.lookup_key === '' ? null : p.lookup_key;
  }
  ctx.world.events.emit(ctx.account, 'price.updated', price, previous);
  return render(ctx, price, withoutTiers(p.expand));
}

function listPrices(ctx: RequestContext) {
  const p = parseParams(listSchema, ctx.params);
  const matches = ctx.account.prices.newestFirst(
    (price) =>
      (p.active === undefined || price.active === p.active) &&
      (p.product === undefined || price.product === p.product) &&
      (p.currency === undefined || price.currency === p.currency.toLowerCase()) &&
      (p.type === undefined || price.type === p.type) &&
      (p.lookup_keys === undefined || (price.lookup_key !== null && p.lookup_keys.includes(price.lookup_key))) &&
      (p.recurring?.interval === undefined || price.recurring?.interval === p.recurring.interval) &&
      (p.recurring?.meter === undefined || price.recurring?.meter === p.recurring.meter) &&
      (p.recurring?.usage_type === undefined || price.recurring?.usage_type === p.recurring.usage_type) &&
      inRange(price.created, p.created),
  );
  return render(ctx, paginate(matches, p, listUrl(ctx), 'price'), withoutTiers(p.expand));
}

export const priceRoutes: Route[] = [
  route('POST', '/v1/prices', create),
  route('GET', '/v1/prices', listPrices),
  route('GET', '/v1/prices/:id', retrieve),
  route('POST', '/v1/prices/:id', update),
];

/**
 * Whether a request's API version still creates legacy metered prices (no meter, usage reported
 * with usage records), as WSO2's Stripe plugin made them: they were removed in 2025-03-31.basil
 * (https://docs.stripe.com/changelog/basil/2025-03-31/deprecate-legacy-usage-based-billing); a
 * request pinned to an earlier version may still create one. Such a price bills no usage here:
 * nothing can report usage on it (this server has no usage records).
 */
function legacyUsageVersion(version: string | undefined): boolean {
  return version !== undefined && version.slice(0, 10) < '2025-03-31';
}
