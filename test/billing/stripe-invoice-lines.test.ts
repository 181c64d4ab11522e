import type Stripe from 'stripe';
import type { PolicyPricing, PriceTier } from '../../src/domain/model';
import { rate } from '../../src/rating/rate';
import { describeLine, servicePeriod, withTierPlaces } from '../../plugins/stripe/invoices.service';

/**
 * Stripe invoice lines in words people read, the same words Meterline's own rating writes for the
 * same purchase (src/rating/rate.ts), and the period an invoice pays for. Pure functions: no
 * server, no database.
 */
const NOV_30 = Date.UTC(2026, 10, 30) / 1000;
const DEC_30 = Date.UTC(2026, 11, 30) / 1000;
const period = { start: new Date(NOV_30 * 1000), end: new Date(DEC_30 * 1000) };

type Line = Parameters<typeof describeLine>[0];
type Price = NonNullable<Parameters<typeof describeLine>[1]>;

function line(quantity: number, overrides: Partial<Line> = {}): Line {
  return { description: '2982 × Hello-1.0.0-pat (usage)', quantity, period: { start: NOV_30, end: DEC_30 }, parent: null, pricing: null, ...overrides };
}

function price(usage: 'metered' | 'licensed', overrides: Partial<Price> = {}): Price {
  return {
    recurring: { interval: 'month', interval_count: 1, usage_type: usage, meter: null, trial_period_days: null } as Stripe.Price.Recurring,
    billing_scheme: 'per_unit',
    tiers_mode: null,
    transform_quantity: null,
    unit_amount_decimal: null,
    ...overrides,
  };
}

function rated(pricing: PolicyPricing, calls: bigint, include: { setupFee?: boolean; baseFee?: boolean; usage?: boolean }): string[] {
  return rate({ pricing, apiName: 'Hello API', calls, period, include: { setupFee: false, baseFee: false, usage: false, ...include } }).lines.map((l) => l.description);
}

const perRequest = (currency: string, pricePerRequest: string, extra: Partial<Extract<PolicyPricing, { plan: 'DYNAMICRATE' }>> = {}): PolicyPricing => ({
  plan: 'DYNAMICRATE',
  currency,
  billingCycle: 'month',
  pricePerRequest,
  ...extra,
});

describe('a Stripe invoice line in words', () => {
  it.each([
    ['usd', '0.002', '0.2', 2982, 'Hello API · 2,982 calls × 0.002 USD'],
    ['usd', '0.0005', '0.05', 1, 'Hello API · 1 call × 0.0005 USD'],
    ['kwd', '0.002', '2', 1234, 'Hello API · 1,234 calls × 0.002 KWD'],
    ['jpy', '0.5', '0.5', 40, 'Hello API · 40 calls × 0.5 JPY'],
    ['usd', '1', '100', 3, 'Hello API · 3 calls × 1.00 USD'],
  ])('metered calls in %s at %s are described as rating describes them', (currency, major, minor, calls, words) => {
    expect(describeLine(line(calls), price('metered', { unit_amount_decimal: minor }), 'Hello API', currency)).toBe(words);
    expect(rated(perRequest(currency, major), BigInt(calls), { usage: true })).toEqual([words]);
  });

  it('a fee in advance names its cycle and the period the line pays for', () => {
    const words = 'Hello API · monthly fee, in advance for 30 Nov – 30 Dec';
    expect(describeLine(line(1), price('licensed', { unit_amount_decimal: '500' }), 'Hello API', 'usd')).toBe(words);
    expect(rated(perRequest('usd', '0.002', { fixedPrice: '5.00' }), 0n, { baseFee: true })).toEqual([words]);
    const yearly = price('licensed', { recurring: { ...price('licensed').recurring!, interval: 'year' } });
    expect(describeLine(line(1, { period: { start: DEC_30, end: Date.UTC(2027, 11, 30) / 1000 } }), yearly, 'Hello API', 'usd')).toBe(
      'Hello API · yearly fee, in advance for 30 Dec 2026 – 30 Dec 2027',
    );
  });

  it('a package price counts the packages started, as rating does', () => {
    const packaged = price('metered', { unit_amount_decimal: '100', transform_quantity: { divide_by: 1000, round: 'up' } });
    const words = 'Hello API · 2,982 calls in 3 packages of 1,000 × 1.00 USD';
    expect(describeLine(line(2982), packaged, 'Hello API', 'usd')).toBe(words);
    expect(rated(perRequest('usd', '0.001', { usageRate: { model: 'package', packageSize: 1000, packagePrice: '1.00' } }), 2982n, { usage: true })).toEqual([words]);
  });

  // Stripe's lines of a graduated price: a line per tier touched (its calls, the tier's unit
  // amount) and a line per tier flat fee (quantity 0, no unit amount), as the local server bills them.
  const TIERS = [
    { up_to: 1000, unit_amount: null, unit_amount_decimal: '0.2', flat_amount: null, flat_amount_decimal: '0' },
    { up_to: 10000, unit_amount: null, unit_amount_decimal: '0.1', flat_amount: 500, flat_amount_decimal: '500' },
    { up_to: null, unit_amount: null, unit_amount_decimal: '0.05', flat_amount: null, flat_amount_decimal: null },
  ] as unknown as Stripe.Price.Tier[];
  const tierLine = (quantity: number, unit: string | null) =>
    line(quantity, { pricing: { type: 'price_details', price_details: { price: 'price_t', product: 'prod_t' }, unit_amount_decimal: unit } as never });
  const gradPrice = { ...price('metered', { billing_scheme: 'tiered', tiers_mode: 'graduated' }), tiers: TIERS };
  const words = (lines: Line[], p: typeof gradPrice, currency = 'usd') =>
    withTierPlaces(lines as never[], new Map([['price_t', p]])).map(({ line: l, tier }) => describeLine(l, p, 'Hello API', currency, tier));
  const graduated: PolicyPricing = perRequest('usd', '0.002', {
    usageRate: {
      model: 'graduated',
      tiers: [
        { upTo: 1000, unitPrice: '0.002', flatPrice: '0' },
        { upTo: 10000, unitPrice: '0.001', flatPrice: '5.00' },
        { upTo: null, unitPrice: '0.0005', flatPrice: '0' },
      ],
    },
  });

  it('a graduated line names the calls of its tier as rating does; its flat fee line names the same calls', () => {
    const stripeWords = words([tierLine(1000, '0.2'), tierLine(9000, '0.1'), tierLine(0, null), tierLine(2000, '0.05')], gradPrice);
    expect(stripeWords).toEqual([
      'Hello API · calls 1–1,000 × 0.002 USD',
      'Hello API · calls 1,001–10,000 × 0.001 USD',
      'Hello API · flat fee for calls 1,001–10,000',
      'Hello API · calls 10,001–12,000 × 0.0005 USD',
    ]);
    // Rating bills a tier's flat fee on the tier's line: the same calls and price, then the fee.
    expect(rated(graduated, 12000n, { usage: true })).toEqual([
      stripeWords[0],
      `${stripeWords[1]} + flat fee 5.00 USD`,
      stripeWords[3],
    ]);
  });

  it('a graduated last tier touched ends at the calls made; a flat line listed first still finds its tier', () => {
    const stripeWords = words([tierLine(0, null), tierLine(1000, '0.2'), tierLine(1, '0.1')], gradPrice);
    expect(stripeWords).toEqual(['Hello API · flat fee for call 1,001', 'Hello API · calls 1–1,000 × 0.002 USD', 'Hello API · call 1,001 × 0.001 USD']);
    expect(rated(graduated, 1001n, { usage: true })).toEqual(['Hello API · calls 1–1,000 × 0.002 USD', 'Hello API · call 1,001 × 0.001 USD + flat fee 5.00 USD']);
  });

  it('a volume line names the tier its calls fall in, as rating does', () => {
    const volume = { ...gradPrice, tiers_mode: 'volume' as const };
    const usage: PolicyPricing = perRequest('usd', '0.002', { usageRate: { model: 'volume', tiers: (graduated as { usageRate: { tiers: readonly PriceTier[] } }).usageRate.tiers } });
    for (const calls of [999, 2982, 12000]) {
      expect(words([tierLine(calls, null)], volume)).toEqual(rated(usage, BigInt(calls), { usage: true }));
    }
  });

  it('in KWD (three decimals) a graduated tier line is worded as rating words it', () => {
    const kwdTiers = [
      { up_to: 1000, unit_amount: null, unit_amount_decimal: '0', flat_amount: null, flat_amount_decimal: null },
      { up_to: null, unit_amount: null, unit_amount_decimal: '1.5', flat_amount: 1000, flat_amount_decimal: '1000' },
    ] as unknown as Stripe.Price.Tier[];
    const p = { ...gradPrice, tiers: kwdTiers };
    const stripeWords = words([tierLine(1000, '0'), tierLine(1982, '1.5'), tierLine(0, null)], p, 'kwd');
    const usage = perRequest('kwd', '0', { usageRate: { model: 'graduated', tiers: [{ upTo: 1000, unitPrice: '0', flatPrice: '0' }, { upTo: null, unitPrice: '0.0015', flatPrice: '1.000' }] } });
    expect(stripeWords).toEqual(['Hello API · calls 1–1,000 × 0.000 KWD', 'Hello API · calls 1,001–2,982 × 0.0015 KWD', 'Hello API · flat fee for calls 1,001–2,982']);
    expect(rated(usage, 2982n, { usage: true })).toEqual([stripeWords[0], `${stripeWords[1]} + flat fee 1.000 KWD`]);
  });

  it('a tiered line without its tiers says which tiers; a one-time invoice item is the setup fee', () => {
    expect(describeLine(line(2982), price('metered', { billing_scheme: 'tiered', tiers_mode: 'graduated' }), 'Hello API', 'usd')).toBe('Hello API · 2,982 calls, graduated tiers');
    expect(describeLine(line(2982), price('metered', { billing_scheme: 'tiered', tiers_mode: 'volume' }), 'Hello API', 'usd')).toBe('Hello API · 2,982 calls, volume tiers');
    const setup = line(1, { parent: { type: 'invoice_item_details', invoice_item_details: { proration: false } } });
    expect(describeLine(setup, undefined, 'Hello API', 'usd')).toBe('Hello API · setup fee');
    expect(rated(perRequest('usd', '0.002', { setupFee: '20.00' }), 0n, { setupFee: true })).toEqual(['Hello API · setup fee']);
  });

  it("a line of a price the subscription no longer has (a proration) keeps Stripe's words after the API's name", () => {
    const proration = line(1, { description: 'Unused time on Gold after 5 Dec 2026', parent: { type: 'invoice_item_details', invoice_item_details: { proration: true } } });
    expect(describeLine(proration, undefined, 'Hello API', 'usd')).toBe('Hello API · Unused time on Gold after 5 Dec 2026');
    const remaining = line(1, { description: 'Remaining time on Platinum after 5 Dec 2026', parent: { type: 'subscription_item_details', subscription_item_details: { proration: true } } });
    expect(describeLine(remaining, price('licensed'), 'Hello API', 'usd')).toBe('Hello API · Remaining time on Platinum after 5 Dec 2026');
  });
});

describe('the period an invoice pays for', () => {
  it("is its lines' service period, not Stripe's empty period of a subscription's first invoice", () => {
    const first = { period_start: NOV_30, period_end: NOV_30, lines: { data: [{ period: { start: NOV_30, end: DEC_30 } }] } };
    expect(servicePeriod(first)).toEqual(period);
  });

  it('spans every line: a renewal with the next month in advance and the last month in arrears', () => {
    const JAN_30 = Date.UTC(2027, 0, 30) / 1000;
    const renewal = { period_start: NOV_30, period_end: DEC_30, lines: { data: [{ period: { start: DEC_30, end: JAN_30 } }, { period: { start: NOV_30, end: DEC_30 } }] } };
    expect(servicePeriod(renewal)).toEqual({ start: period.start, end: new Date(JAN_30 * 1000) });
  });

  it("is the invoice's own period when it has no lines", () => {
    expect(servicePeriod({ period_start: NOV_30, period_end: DEC_30, lines: { data: [] } })).toEqual(period);
  });
});
