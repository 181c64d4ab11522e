import type { PolicyPricing, PriceTier, UsageRate } from '../../src/domain/model';
import { rate, type RatingInput } from '../../src/rating/rate';

const NOV_30 = new Date('2026-11-30T00:00:00Z');
const DEC_30 = new Date('2026-12-30T00:00:00Z');
const ALL = { setupFee: true, baseFee: true, usage: true };

function input(pricing: PolicyPricing, calls: bigint, include = ALL): RatingInput {
  return { pricing, apiName: 'Hello API', calls, period: { start: NOV_30, end: DEC_30 }, include };
}
function dynamic(currency: string, usageRate?: UsageRate, extra: Partial<{ fixedPrice: string; setupFee: string }> = {}): PolicyPricing {
  return { plan: 'DYNAMICRATE', currency, billingCycle: 'month', pricePerRequest: '0.002', ...extra, ...(usageRate ? { usageRate } : {}) };
}
const tiers = (...list: Array<[number | null, string, string?]>): PriceTier[] =>
  list.map(([upTo, unitPrice, flatPrice]) => ({ upTo, unitPrice, flatPrice: flatPrice ?? '0' }));
const summary = (result: ReturnType<typeof rate>) => result.lines.map((l) => [l.kind, l.description, l.quantity, l.unitAmountDecimal, l.amount]);

describe('rate: per unit', () => {
  it.each([
    // currency, unit price, calls, amount (minor units): one half-up rounding of the exact product
    ['usd', '0.002', 2982n, 596n], // 596.4 cents
    ['usd', '0.0005', 1234n, 62n], // 61.7 → 62
    ['usd', '0.005', 1n, 1n], // 0.5 cent rounds up
    ['usd', '0.004', 1n, 0n], // 0.4 cent rounds down
    ['kwd', '0.0015', 3n, 5n], // 4.5 fils → 5
    ['kwd', '0.001', 2982n, 2982n],
    ['jpy', '0.5', 3n, 2n], // 1.5 yen → 2
    ['jpy', '3', 1000n, 3000n],
    ['usd', '0.002', 0n, 0n],
    ['usd', '0.000000000001', 10n ** 30n, 10n ** 20n], // huge counts stay exact
  ])('%s at %s × %s calls is %s', (currency, unitPrice, calls, amount) => {
    const result = rate(input(dynamic(currency, { model: 'per_unit', unitPrice }), calls));
    expect(result.lines).toEqual([
      expect.objectContaining({ kind: 'USAGE', quantity: calls, unitAmountDecimal: unitPrice, amount }),
    ]);
    expect(result.total).toBe(amount);
  });

  it('without a usage rate, charges pricePerRequest, and says so in words', () => {
    const result = rate(input(dynamic('usd'), 2982n));
    expect(summary(result)).toEqual([['USAGE', 'Hello API · 2,982 calls × 0.002 USD', 2982n, '0.002', 596n]]);
    expect(result.currency).toBe('usd');
  });
});

describe('rate: fees', () => {
  it('charges the setup fee, the base fee in advance and the usage, in that order', () => {
    const result = rate(input(dynamic('USD', undefined, { fixedPrice: '10.00', setupFee: '25.5' }), 1000n));
    expect(summary(result)).toEqual([
      ['SETUP_FEE', 'Hello API · setup fee', 1n, '25.5', 2550n],
      ['BASE_FEE', 'Hello API · monthly fee, in advance for 30 Nov – 30 Dec', 1n, '10', 1000n],
      ['USAGE', 'Hello API · 1,000 calls × 0.002 USD', 1000n, '0.002', 200n],
    ]);
    expect(result.total).toBe(3750n);
  });

  it('charges only what is included', () => {
    const pricing = dynamic('usd', undefined, { fixedPrice: '10', setupFee: '25' });
    expect(rate(input(pricing, 0n, { setupFee: false, baseFee: true, usage: false })).lines.map((l) => l.kind)).toEqual(['BASE_FEE']);
    expect(rate(input(pricing, 5n, { setupFee: false, baseFee: false, usage: true })).lines.map((l) => l.kind)).toEqual(['USAGE']);
    expect(rate(input(pricing, 5n, { setupFee: false, baseFee: false, usage: false }))).toEqual({ currency: 'usd', lines: [], total: 0n });
  });

  it('FIXEDRATE charges its price as the base fee, with the period and its years when they differ', () => {
    const pricing: PolicyPricing = { plan: 'FIXEDRATE', currency: 'kwd', billingCycle: 'year', fixedPrice: '120.500', setupFee: '5' };
    const result = rate({ ...input(pricing, 99n), period: { start: new Date('2026-12-30T00:00:00Z'), end: new Date('2027-12-30T00:00:00Z') } });
    expect(summary(result)).toEqual([
      ['SETUP_FEE', 'Hello API · setup fee', 1n, '5', 5000n],
      ['BASE_FEE', 'Hello API · yearly fee, in advance for 30 Dec 2026 – 30 Dec 2027', 1n, '120.5', 120500n],
    ]);
  });

  it('describes the base fee with baseFeePeriod when the invoice pays the next cycle in advance', () => {
    const pricing: PolicyPricing = { plan: 'FIXEDRATE', currency: 'jpy', billingCycle: 'week', fixedPrice: '500' };
    const result = rate({ ...input(pricing, 0n), baseFeePeriod: { start: DEC_30, end: new Date('2027-01-06T00:00:00Z') } });
    expect(summary(result)).toEqual([['BASE_FEE', 'Hello API · weekly fee, in advance for 30 Dec 2026 – 6 Jan 2027', 1n, '500', 500n]]);
  });

  it('leaves zero fees off the invoice', () => {
    const result = rate(input(dynamic('usd', undefined, { fixedPrice: '0', setupFee: '0.00' }), 1n));
    expect(result.lines.map((l) => l.kind)).toEqual(['USAGE']);
  });
});

describe('rate: graduated tiers', () => {
  const graduated = (currency: string) =>
    ({ model: 'graduated', tiers: tiers([1000, '0.002'], [10000, '0.001', '5'], [null, '0.0005']) }) as const;

  it.each([
    // calls, lines [description, quantity, unitAmountDecimal, amount], total
    [0n, [['Hello API · 0 calls', 0n, null, 0n]], 0n],
    [1n, [['Hello API · call 1 × 0.002 USD', 1n, '0.002', 0n]], 0n],
    [1000n, [['Hello API · calls 1–1,000 × 0.002 USD', 1000n, '0.002', 200n]], 200n], // exactly on the boundary: tier 2 not reached
    [
      1001n,
      [
        ['Hello API · calls 1–1,000 × 0.002 USD', 1000n, '0.002', 200n],
        ['Hello API · call 1,001 × 0.001 USD + flat fee 5.00 USD', 1n, null, 500n], // 500.1 → 500
      ],
      700n,
    ],
    [
      12345n,
      [
        ['Hello API · calls 1–1,000 × 0.002 USD', 1000n, '0.002', 200n],
        ['Hello API · calls 1,001–10,000 × 0.001 USD + flat fee 5.00 USD', 9000n, null, 1400n],
        ['Hello API · calls 10,001–12,345 × 0.0005 USD', 2345n, '0.0005', 117n], // 117.25 → 117
      ],
      1717n,
    ],
  ])('%s calls', (calls, lines, total) => {
    const result = rate(input(dynamic('usd', graduated('usd')), calls));
    expect(result.lines.map((l) => [l.description, l.quantity, l.unitAmountDecimal, l.amount])).toEqual(lines);
    expect(result.total).toBe(total);
  });

  it('rounds each tier line once, in KWD', () => {
    const rateKwd = { model: 'graduated', tiers: tiers([10, '0.0005'], [null, '0.0001', '1.250']) } as const;
    const result = rate(input(dynamic('kwd', rateKwd), 15n));
    expect(summary(result)).toEqual([
      ['USAGE', 'Hello API · calls 1–10 × 0.0005 KWD', 10n, '0.0005', 5n],
      ['USAGE', 'Hello API · calls 11–15 × 0.0001 KWD + flat fee 1.250 KWD', 5n, null, 1251n], // 1250.5 → 1251
    ]);
  });

  it('a tier with only a flat fee says so', () => {
    const flatFirst = { model: 'graduated', tiers: tiers([100, '0', '3'], [null, '1']) } as const;
    const result = rate(input(dynamic('jpy', flatFirst), 101n));
    expect(summary(result)).toEqual([
      ['USAGE', 'Hello API · calls 1–100, flat fee 3 JPY', 100n, null, 3n],
      ['USAGE', 'Hello API · call 101 × 1 JPY', 1n, '1', 1n],
    ]);
  });

  it('huge counts stay exact', () => {
    const result = rate(input(dynamic('usd', graduated('usd')), 10n ** 18n));
    expect(result.lines[2]!.quantity).toBe(10n ** 18n - 10000n);
    expect(result.total).toBe(200n + 1400n + (10n ** 18n - 10000n) / 20n);
  });
});

describe('rate: volume tiers', () => {
  const volume = { model: 'volume', tiers: tiers([1000, '0.002'], [10000, '0.001', '5'], [null, '0.0005']) } as const;

  it.each([
    [0n, 'Hello API · 0 calls', null, 0n],
    [1000n, 'Hello API · 1,000 calls × 0.002 USD (volume tier: calls 1–1,000)', '0.002', 200n],
    [1001n, 'Hello API · 1,001 calls × 0.001 USD + flat fee 5.00 USD (volume tier: calls 1,001–10,000)', null, 600n], // 600.1
    [10000n, 'Hello API · 10,000 calls × 0.001 USD + flat fee 5.00 USD (volume tier: calls 1,001–10,000)', null, 1500n],
    [10001n, 'Hello API · 10,001 calls × 0.0005 USD (volume tier: calls 10,001 and more)', '0.0005', 500n], // 500.05
    [10n ** 20n, `Hello API · 100,000,000,000,000,000,000 calls × 0.0005 USD (volume tier: calls 10,001 and more)`, '0.0005', 5n * 10n ** 18n],
  ])('%s calls: one line at the tier the total falls in', (calls, description, unitAmountDecimal, amount) => {
    const result = rate(input(dynamic('usd', volume), calls));
    expect(summary(result)).toEqual([['USAGE', description, calls, unitAmountDecimal, amount]]);
  });
});

describe('rate: packages', () => {
  it.each([
    ['usd', 0n, 'Hello API · 0 calls', 0n],
    ['usd', 1n, 'Hello API · 1 call in 1 package of 1,000 × 5.00 USD', 500n],
    ['usd', 1000n, 'Hello API · 1,000 calls in 1 package of 1,000 × 5.00 USD', 500n],
    ['usd', 2982n, 'Hello API · 2,982 calls in 3 packages of 1,000 × 5.00 USD', 1500n],
    ['jpy', 1001n, 'Hello API · 1,001 calls in 2 packages of 1,000 × 5 JPY', 10n],
    ['kwd', 10n ** 15n, 'Hello API · 1,000,000,000,000,000 calls in 1,000,000,000,000 packages of 1,000 × 5.000 KWD', 5n * 10n ** 15n],
  ])('%s: %s calls', (currency, calls, description, amount) => {
    const result = rate(input(dynamic(currency, { model: 'package', packageSize: 1000, packagePrice: '5' }), calls));
    expect(summary(result)).toEqual([['USAGE', description, calls, null, amount]]);
  });
});
