import {
  currencyExponent,
  formatMinorUnits,
  InvalidAmountError,
  parseDecimal,
  toMinorUnitDecimal,
  toMinorUnits,
} from '../../src/domain/money';

describe('currency exponents', () => {
  it.each([
    ['usd', 2],
    ['JPY', 0],
    ['kwd', 3],
    ['EUR', 2],
  ])('%s has %i decimals', (currency, exponent) => {
    expect(currencyExponent(currency)).toBe(exponent);
  });
});

describe('toMinorUnits', () => {
  it.each([
    ['10.50', 'usd', 1050n],
    ['10.5', 'usd', 1050n],
    ['0.01', 'usd', 1n],
    ['500', 'jpy', 500n],
    ['1.234', 'kwd', 1234n],
    ['19.99', 'usd', 1999n], // 19.99 * 100 in floats is 1998.9999999999998
    ['10.500', 'usd', 1050n],
  ])('%s %s is %s minor units', (amount, currency, minor) => {
    expect(toMinorUnits(amount, currency)).toBe(minor);
  });

  it.each([
    ['10.005', 'usd'],
    ['1.5', 'jpy'],
    ['1.2345', 'kwd'],
  ])('rejects %s %s instead of rounding it', (amount, currency) => {
    expect(() => toMinorUnits(amount, currency)).toThrow(InvalidAmountError);
  });

  it.each(['-1', '1e3', '', ' ', '1,000', 'abc', '.5'])('rejects "%s"', (amount) => {
    expect(() => toMinorUnits(amount, 'usd')).toThrow(InvalidAmountError);
  });
});

describe('toMinorUnitDecimal (Stripe unit_amount_decimal)', () => {
  it.each([
    ['0.0005', 'usd', '0.05'],
    ['0.01', 'usd', '1'],
    ['2', 'usd', '200'],
    ['0.5', 'jpy', '0.5'],
    ['0.0001', 'kwd', '0.1'],
    ['0.000000000001', 'usd', '0.0000000001'],
    ['0.00000000000001', 'usd', '0.000000000001'],
  ])('%s %s per unit is %s minor units', (amount, currency, decimal) => {
    expect(toMinorUnitDecimal(amount, currency)).toBe(decimal);
  });

  it('rejects a price finer than 12 decimal places of the minor unit', () => {
    expect(() => toMinorUnitDecimal('0.000000000000001', 'usd')).toThrow(/12 decimal places/);
  });
});

describe('formatMinorUnits', () => {
  it.each([
    [1050n, 'usd', '10.50'],
    [5n, 'usd', '0.05'],
    [0n, 'usd', '0.00'],
    [500n, 'jpy', '500'],
    [1234n, 'kwd', '1.234'],
    [-25n, 'usd', '-0.25'],
    [12345678901234567890n, 'usd', '123456789012345678.90'],
  ])('%s minor units of %s is %s', (minor, currency, text) => {
    expect(formatMinorUnits(minor, currency)).toBe(text);
  });
});

describe('parseDecimal', () => {
  it('keeps every digit', () => {
    expect(parseDecimal('0.0005')).toEqual({ digits: 5n, scale: 4 });
  });
});
