import Stripe from 'stripe';
import { START, failureOf, startHarness, type Harness } from './harness';
import { payingCustomer, reportUsage } from './billing-fixtures';
import { DEFAULT_AGGREGATION_DELAY_SECONDS } from '../billing/usage';

/**
 * Usage pricing models beyond a flat per-unit rate, as Stripe documents them:
 * - tiered prices (graduated, volume) with flat and decimal amounts on a meter:
 *   https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing,
 *   https://docs.stripe.com/api/prices/create#create_price-tiers;
 * - `transform_quantity` (packages; "isn't compatible with tiered pricing"):
 *   https://docs.stripe.com/billing/subscriptions/usage-based/transform-quantities;
 * - `add_invoice_items` on a subscription create, "appended to the next invoice for this
 *   subscription" (the first): https://docs.stripe.com/api/subscriptions/create#create_subscription-add_invoice_items.
 */
let harness: Harness;
let stripe: Stripe;
let product: Stripe.Product;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client();
  product = await stripe.products.create({ name: 'Hello API' });
});
afterAll(() => harness.server.close());

let meters = 0;
async function meter(): Promise<Stripe.Billing.Meter> {
  meters += 1;
  return stripe.billing.meters.create({ display_name: `calls ${meters}`, event_name: `usage_pricing_${meters}`, default_aggregation: { formula: 'sum' } });
}

/** The lines of a paying customer's subscription to `params` (a metered price on a new meter) billing `calls` at the end of the first period. */
async function billedLines(params: Omit<Stripe.PriceCreateParams, 'product' | 'currency' | 'recurring'>, calls: number): Promise<Stripe.InvoiceLineItem[]> {
  const m = await meter();
  const price = await stripe.prices.create({ ...params, product: product.id, currency: 'usd', recurring: { interval: 'month', usage_type: 'metered', meter: m.id } });
  const customer = await payingCustomer(stripe);
  const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
  await reportUsage(stripe, m.event_name, customer.id, calls, harness.server.clock.now());
  harness.server.clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS);
  const preview = await stripe.invoices.createPreview({ subscription: subscription.id });
  const lines = preview.lines.data.filter((l) => l.pricing?.price_details?.price === price.id);
  if (lines.length === 0) throw new Error('no usage line');
  return lines;
}

/** The one line of a price billed on one line (per unit, volume, package). */
async function billed(params: Omit<Stripe.PriceCreateParams, 'product' | 'currency' | 'recurring'>, calls: number): Promise<Stripe.InvoiceLineItem> {
  const lines = await billedLines(params, calls);
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

const layout = (lines: Stripe.InvoiceLineItem[]) => lines.map((l) => [l.quantity, l.pricing?.unit_amount_decimal === null ? null : String(l.pricing?.unit_amount_decimal), l.amount]);

const tiers: Stripe.PriceCreateParams.Tier[] = [
  { up_to: 1000, unit_amount_decimal: Stripe.Decimal.from('0'), flat_amount_decimal: Stripe.Decimal.from('0') },
  { up_to: 'inf', unit_amount_decimal: Stripe.Decimal.from('0.15'), flat_amount_decimal: Stripe.Decimal.from('500') },
];

describe('tiered metered prices', () => {
  it('keep decimal unit and flat amounts on each tier', async () => {
    const m = await meter();
    const price = await stripe.prices.create({
      product: product.id,
      currency: 'usd',
      billing_scheme: 'tiered',
      tiers_mode: 'graduated',
      tiers,
      recurring: { interval: 'month', usage_type: 'metered', meter: m.id },
      expand: ['tiers'],
    });
    expect(price).toMatchObject({ billing_scheme: 'tiered', tiers_mode: 'graduated', unit_amount: null, unit_amount_decimal: null, transform_quantity: null });
    expect(price.tiers?.map((t) => [t.up_to, String(t.unit_amount_decimal), String(t.flat_amount_decimal), t.flat_amount])).toEqual([
      [1000, '0', '0', 0],
      [null, '0.15', '500', 500],
    ]);
  });

  // One line per tier touched and one per (non-zero) flat fee, in tier order: see graduatedParts
  // (billing/pricing.ts) for the sources. Zero usage is one line of 0.
  it('graduated: 2,982 calls are a line per tier, 1,000 free and 1,982 × 0.15 ¢ (297.3 → 297), and the tier flat 5.00 USD a line of its own', async () => {
    const lines = await billedLines({ billing_scheme: 'tiered', tiers_mode: 'graduated', tiers }, 2982);
    expect(layout(lines)).toEqual([
      [1000, '0', 0],
      [1982, '0.15', 297],
      [0, null, 500],
    ]);
    expect(lines.map((l) => l.description)).toEqual(['1000 × Hello API (Tier 1)', '1982 × Hello API (Tier 2)', 'Hello API (Tier 2 flat fee)']);
    expect(new Set(lines.map((l) => l.id)).size).toBe(3);
  });

  it('graduated with no usage is one line of 0', async () => {
    expect(layout(await billedLines({ billing_scheme: 'tiered', tiers_mode: 'graduated', tiers }, 0))).toEqual([[0, null, 0]]);
  });

  it('graduated rounds each tier on its own, as Stripe bills a line per tier: 150.75 → 151 and 197.7 → 198, plus 500 (not 848.45 → 848)', async () => {
    const lines = await billedLines(
      {
        billing_scheme: 'tiered',
        tiers_mode: 'graduated',
        tiers: [
          { up_to: 1005, unit_amount_decimal: Stripe.Decimal.from('0.15') },
          { up_to: 'inf', unit_amount_decimal: Stripe.Decimal.from('0.1'), flat_amount_decimal: Stripe.Decimal.from('500') },
        ],
      },
      2982,
    );
    expect(layout(lines)).toEqual([
      [1005, '0.15', 151],
      [1977, '0.1', 198],
      [0, null, 500],
    ]);
  });

  it('volume: 2,982 calls all at the second tier rate, plus its flat fee (947.3 → 947)', async () => {
    const line = await billed({ billing_scheme: 'tiered', tiers_mode: 'volume', tiers }, 2982);
    expect(line).toMatchObject({ quantity: 2982, amount: 947 });
  });

  it('refuses a flat_amount_decimal that is not a whole number of minor units, naming the tier', async () => {
    const error = await failureOf(
      stripe.prices.create({
        product: product.id,
        currency: 'usd',
        billing_scheme: 'tiered',
        tiers_mode: 'volume',
        tiers: [{ up_to: 'inf', unit_amount: 1, flat_amount_decimal: Stripe.Decimal.from('500.5') }],
      }),
    );
    expect(error).toMatchObject({ statusCode: 400, param: 'tiers[0][flat_amount_decimal]' });
  });

  it('refuses a tier list whose last tier is not up_to=inf, naming the tier', async () => {
    const m = await meter();
    const error = await failureOf(
      stripe.prices.create({
        product: product.id,
        currency: 'usd',
        billing_scheme: 'tiered',
        tiers_mode: 'graduated',
        tiers: [{ up_to: 10, unit_amount: 1 }],
        recurring: { interval: 'month', usage_type: 'metered', meter: m.id },
      }),
    );
    expect(error).toMatchObject({ statusCode: 400, param: 'tiers[0][up_to]' });
  });
});

describe('transform_quantity (packages)', () => {
  it('is kept on the price', async () => {
    const price = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 250, transform_quantity: { divide_by: 1000, round: 'up' } });
    expect(price.transform_quantity).toEqual({ divide_by: 1000, round: 'up' });
  });

  it('round up: 2,001 calls in packages of 1,000 are 3 packages at 2.50 USD', async () => {
    const line = await billed({ unit_amount_decimal: Stripe.Decimal.from('250'), transform_quantity: { divide_by: 1000, round: 'up' } }, 2001);
    expect(line).toMatchObject({ quantity: 2001, amount: 750 });
  });

  it('round down: 2,999 calls are 2 whole packages', async () => {
    const line = await billed({ unit_amount_decimal: Stripe.Decimal.from('250'), transform_quantity: { divide_by: 1000, round: 'down' } }, 2999);
    expect(line).toMatchObject({ quantity: 2999, amount: 500 });
  });

  it('is refused on a tiered price ("isn\'t compatible with tiered pricing"), naming transform_quantity', async () => {
    const error = await failureOf(
      stripe.prices.create({ product: product.id, currency: 'usd', billing_scheme: 'tiered', tiers_mode: 'volume', tiers, transform_quantity: { divide_by: 10, round: 'up' } }),
    );
    expect(error).toMatchObject({ statusCode: 400, param: 'transform_quantity' });
  });

  it('needs both divide_by and round', async () => {
    const error = await failureOf(
      stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1, transform_quantity: { divide_by: 10 } as Stripe.PriceCreateParams.TransformQuantity }),
    );
    expect(error).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'transform_quantity[round]' });
  });
});

describe('add_invoice_items on a subscription create', () => {
  it('puts a one-time setup fee on the first invoice only, as an invoice item line', async () => {
    const customer = await payingCustomer(stripe);
    const monthly = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1000, recurring: { interval: 'month' } });
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: monthly.id }],
      add_invoice_items: [{ price_data: { currency: 'usd', product: product.id, unit_amount: 4900 } }],
    });
    const first = await stripe.invoices.retrieve(subscription.latest_invoice as string);
    expect(first.total).toBe(5900);
    const setup = first.lines.data.find((l) => l.parent?.type === 'invoice_item_details');
    expect(setup).toMatchObject({ amount: 4900, quantity: 1, parent: { invoice_item_details: { proration: false, subscription: subscription.id } } });
    expect(setup?.parent?.invoice_item_details?.invoice_item).toMatch(/^ii_/);
    const setupPrice = await stripe.prices.retrieve(setup!.pricing!.price_details!.price as string);
    expect(setupPrice).toMatchObject({ type: 'one_time', recurring: null });

    harness.server.clock.advanceTo((subscription.items.data[0]?.current_period_end as number) + 1);
    const invoices = await stripe.invoices.list({ subscription: subscription.id });
    const renewal = invoices.data.find((i) => i.billing_reason === 'subscription_cycle');
    expect(renewal?.lines.data.map((l) => l.amount)).toEqual([1000]);
  });

  it('refuses a recurring price, naming the item', async () => {
    const customer = await payingCustomer(stripe);
    const monthly = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1000, recurring: { interval: 'month' } });
    const error = await failureOf(stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }], add_invoice_items: [{ price: monthly.id }] }));
    expect(error).toMatchObject({ statusCode: 400, param: 'add_invoice_items[0][price]' });
  });

  it('checks a three-decimal amount like any charged amount (KWD must end in 0)', async () => {
    const customer = await payingCustomer(stripe);
    const monthly = await stripe.prices.create({ product: product.id, currency: 'kwd', unit_amount: 1000, recurring: { interval: 'month' } });
    const error = await failureOf(
      stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: monthly.id }],
        add_invoice_items: [{ price_data: { currency: 'kwd', product: product.id, unit_amount: 5125 } }],
      }),
    );
    expect(error).toMatchObject({ statusCode: 400, param: 'add_invoice_items[0][price_data][unit_amount]' });
  });

  it('is still refused on an update (not modelled there)', async () => {
    const customer = await payingCustomer(stripe);
    const monthly = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1000, recurring: { interval: 'month' } });
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: monthly.id }] });
    const error = await failureOf(stripe.subscriptions.update(subscription.id, { add_invoice_items: [{ price: monthly.id }] }));
    expect(error).toMatchObject({ statusCode: 400, param: 'add_invoice_items' });
  });
});
