import { chargeAmountProblem, currencyExponent, isSupportedCurrency, minimumChargeAmount } from './currencies';
import { formatDecimal, multiply, parseDecimal, roundHalfUp, fromInteger } from './decimal';
import { periodBoundary } from './periods';

const lineTotal = (quantity: number, unit: string) => roundHalfUp(multiply(fromInteger(quantity), parseDecimal(unit)));

describe('exact line amounts', () => {
  it('multiplies a sub-cent unit price without float error', () => {
    expect(lineTotal(1234, '0.05')).toBe(62n);
  });

  it('rounds an exact half up', () => {
    expect(lineTotal(1230, '0.05')).toBe(62n);
  });

  it('rounds just below a half down', () => {
    expect(lineTotal(1229, '0.05')).toBe(61n);
  });

  it('handles twelve decimal places', () => {
    expect(lineTotal(1_000_000_000_000, '0.000000000001')).toBe(1n);
  });

  it('rounds negative halves away from zero', () => {
    expect(roundHalfUp(parseDecimal('-2.5'))).toBe(-3n);
  });

  it('formats decimals canonically', () => {
    expect(formatDecimal(parseDecimal('0.0500'))).toBe('0.05');
  });
});

describe('billing periods', () => {
  const JAN_31 = Date.UTC(2030, 0, 31) / 1000;

  it('clamps a month-end anchor to shorter months', () => {
    expect(periodBoundary(JAN_31, 'month', 1, 1)).toBe(Date.UTC(2030, 1, 28) / 1000);
  });

  it('returns to the anchor day after a short month', () => {
    expect(periodBoundary(JAN_31, 'month', 1, 2)).toBe(Date.UTC(2030, 2, 31) / 1000);
  });

  it('adds whole weeks', () => {
    expect(periodBoundary(JAN_31, 'week', 2, 1)).toBe(JAN_31 + 14 * 86_400);
  });
});

// https://docs.stripe.com/currencies (#zero-decimal, #three-decimal, #special-cases,
// #minimum-and-maximum-charge-amounts, #presentment-currencies)
describe('currency rules', () => {
  it('knows each currency\'s minor unit: JPY 0, USD 2, KWD 3, ISK 2 (two-decimal in the API)', () => {
    expect([currencyExponent('jpy'), currencyExponent('USD'), currencyExponent('kwd'), currencyExponent('isk')]).toEqual([0, 2, 3, 2]);
  });

  it('gives the minimum charge per settlement currency, 1 minor unit where the table names none', () => {
    expect([minimumChargeAmount('usd'), minimumChargeAmount('eur'), minimumChargeAmount('gbp'), minimumChargeAmount('jpy'), minimumChargeAmount('kwd')]).toEqual([50, 50, 30, 50, 1]);
  });

  it('refuses ISK amounts that are not whole krónur and three-decimal amounts not ending in 0', () => {
    expect(chargeAmountProblem('isk', 1050)?.code).toBe('invalid_charge_amount_no_decimal_compatible');
    expect(chargeAmountProblem('isk', 1100)).toBeNull();
    expect(chargeAmountProblem('kwd', 5125)?.code).toBe('invalid_charge_amount');
    expect(chargeAmountProblem('kwd', 5120)).toBeNull();
    expect(chargeAmountProblem('usd', 1)).toBeNull();
  });

  it('supports Stripe\'s presentment currencies only', () => {
    expect(['usd', 'EUR', 'isk', 'kwd', 'jpy'].every(isSupportedCurrency)).toBe(true);
    expect(isSupportedCurrency('xyz')).toBe(false);
  });
});
