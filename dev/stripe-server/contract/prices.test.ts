import Stripe from 'stripe';
import { failureOf, startHarness, type Harness } from './harness';

let harness: Harness;
let stripe: Stripe;
let product: Stripe.Product;
let meter: Stripe.Billing.Meter;

beforeAll(async () => {
  harness = await startHarness();
  stripe = harness.client();
  product = await stripe.products.create({ name: 'API calls' });
  meter = await stripe.billing.meters.create({
    display_name: 'Calls',
    event_name: 'prices_test_calls',
    default_aggregation: { formula: 'sum' },
  });
});
afterAll(() => harness.server.close());

describe('prices', () => {
  it('creates a licensed monthly price with unit_amount', async () => {
    const price = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1000, recurring: { interval: 'month' } });
    expect(price).toMatchObject({
      object: 'price',
      type: 'recurring',
      unit_amount: 1000,
      recurring: { interval: 'month', interval_count: 1, usage_type: 'licensed', meter: null },
    });
    expect(price.id).toMatch(/^price_/);
  });

  it('keeps a sub-cent unit_amount_decimal exactly', async () => {
    const price = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount_decimal: Stripe.Decimal.from('0.05'), recurring: { interval: 'month' } });
    expect(price.unit_amount).toBeNull();
    expect(String(price.unit_amount_decimal)).toBe('0.05');
  });

  it('creates a metered price backed by a billing meter', async () => {
    const price = await stripe.prices.create({
      product: product.id,
      currency: 'usd',
      unit_amount_decimal: Stripe.Decimal.from('0.05'),
      recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
    });
    expect(price.recurring).toMatchObject({ usage_type: 'metered', meter: meter.id });
  });

  it('refuses a metered price without a meter (legacy usage billing is gone)', async () => {
    const error = await failureOf(
      stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1, recurring: { interval: 'month', usage_type: 'metered' } }),
    );
    expect(error).toMatchObject({ statusCode: 400, param: 'recurring[meter]' });
  });

  it('refuses unit_amount together with unit_amount_decimal', async () => {
    const error = await failureOf(stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1, unit_amount_decimal: Stripe.Decimal.from('1') }));
    expect(error).toMatchObject({ statusCode: 400, code: 'parameters_exclusive' });
  });

  it('answers resource_missing for a price on an unknown product', async () => {
    const error = await failureOf(stripe.prices.create({ product: 'prod_nope', currency: 'usd', unit_amount: 1 }));
    expect(error).toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'product' });
  });

  it('creates graduated tiers', async () => {
    const price = await stripe.prices.create({
      product: product.id,
      currency: 'usd',
      billing_scheme: 'tiered',
      tiers_mode: 'graduated',
      tiers: [{ up_to: 100, unit_amount: 0 }, { up_to: 'inf', unit_amount: 2 }],
      recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
      expand: ['tiers'],
    });
    expect(price.tiers?.map((t) => t.up_to)).toEqual([100, null]);
  });

  it('deactivates a price with active=false', async () => {
    const price = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 5 });
    await expect(stripe.prices.update(price.id, { active: false })).resolves.toMatchObject({ active: false });
  });

  it('lists prices filtered by product and active', async () => {
    const other = await stripe.products.create({ name: 'Other' });
    const active = await stripe.prices.create({ product: other.id, currency: 'usd', unit_amount: 7 });
    const inactive = await stripe.prices.create({ product: other.id, currency: 'usd', unit_amount: 8, active: false });
    const list = await stripe.prices.list({ product: other.id, active: true });
    expect(list.data.map((p) => p.id)).toEqual([active.id]);
    expect(list.data.map((p) => p.id)).not.toContain(inactive.id);
  });

  it('creates a JPY price in yen (a zero-decimal currency)', async () => {
    const price = await stripe.prices.create({ product: product.id, currency: 'jpy', unit_amount: 1500, recurring: { interval: 'month' } });
    expect(price).toMatchObject({ currency: 'jpy', unit_amount: 1500 });
  });
});

// https://docs.stripe.com/currencies: presentment currencies only; ISK amounts in multiples of 100
// (#special-cases: "charged amounts must be evenly divisible by 100", answered 400
// invalid_charge_amount_no_decimal_compatible); three-decimal currencies (BHD, JOD, KWD, OMR,
// TND) with 0 as the last digit (#three-decimal); zero-decimal currencies (#zero-decimal) as-is.
describe('currency rules', () => {
  const create = (currency: string, unitAmount: number) =>
    stripe.prices.create({ product: product.id, currency, unit_amount: unitAmount, recurring: { interval: 'month' } });

  it('refuses a currency Stripe does not support, naming currency', async () => {
    const error = await failureOf(create('xyz', 1000));
    expect(error).toMatchObject({ statusCode: 400, param: 'currency' });
    expect(error.message).toContain('Invalid currency: xyz');
  });

  it('refuses ISK amounts that are not whole krónur (multiples of 100)', async () => {
    const error = await failureOf(create('isk', 1050));
    expect(error).toMatchObject({ statusCode: 400, code: 'invalid_charge_amount_no_decimal_compatible', param: 'unit_amount' });
    await expect(create('isk', 1100)).resolves.toMatchObject({ currency: 'isk', unit_amount: 1100 });
  });

  it.each(['bhd', 'jod', 'kwd', 'omr', 'tnd'])('refuses %s amounts whose last digit is not 0', async (currency) => {
    const error = await failureOf(create(currency, 5125));
    expect(error).toMatchObject({ statusCode: 400, code: 'invalid_charge_amount', param: 'unit_amount' });
    await expect(create(currency, 5120)).resolves.toMatchObject({ currency, unit_amount: 5120 });
  });

  it('checks tier amounts too, naming the tier', async () => {
    const error = await failureOf(
      stripe.prices.create({
        product: product.id,
        currency: 'kwd',
        billing_scheme: 'tiered',
        tiers_mode: 'graduated',
        tiers: [{ up_to: 10, unit_amount: 100, flat_amount: 1005 }, { up_to: 'inf', unit_amount: 50 }],
        recurring: { interval: 'month' },
      }),
    );
    expect(error).toMatchObject({ statusCode: 400, param: 'tiers[0][flat_amount]' });
  });

  it('takes zero-decimal amounts as they are (JPY 1,505)', async () => {
    await expect(create('jpy', 1505)).resolves.toMatchObject({ currency: 'jpy', unit_amount: 1505 });
  });

  it.each(['0.5', '1'])('leaves a metered per-unit rate of %s fils alone (rates are rounded on the line)', async (rate) => {
    const price = await stripe.prices.create({
      product: product.id,
      currency: 'kwd',
      unit_amount_decimal: Stripe.Decimal.from(rate),
      recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
    });
    expect(String(price.unit_amount_decimal)).toBe(rate);
  });
});
