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
