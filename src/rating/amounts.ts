import { currencyExponent, formatDecimal, parseDecimal, type Decimal } from '../domain/money';

/**
 * Exact line arithmetic: a line's amount is computed exactly in major units (calls × unit price +
 * flat fee, on bigint decimals) and rounded ONCE to the currency's minor unit, half up (0.5 of a
 * minor unit goes up). This is Stripe's rule for decimal unit amounts ("Rounding occurs on the line
 * item level ... 0.05 * 30 = 1.5, which is then rounded up to 2 cents. If you have multiple line
 * items, each will be rounded before summing", https://docs.stripe.com/billing/subscriptions/decimal-amounts),
 * which the local Stripe server follows too (dev/stripe-server/billing/pricing.ts, a graduated
 * price rounded per tier), so both engines charge the same minor units.
 */

const ZERO: Decimal = { digits: 0n, scale: 0 };

function rescale(value: Decimal, scale: number): bigint {
  return value.digits * 10n ** BigInt(scale - value.scale);
}

export function add(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { digits: rescale(a, scale) + rescale(b, scale), scale };
}

export function times(value: Decimal, count: bigint): Decimal {
  return { digits: value.digits * count, scale: value.scale };
}

export function decimal(text: string): Decimal {
  return parseDecimal(text);
}

export function isZero(value: Decimal): boolean {
  return value.digits === 0n;
}

export function sum(values: readonly Decimal[]): Decimal {
  return values.reduce(add, ZERO);
}

/** An exact major-unit amount as integer minor units, rounded half up once. */
export function roundToMinorUnits(value: Decimal, currency: string): bigint {
  const exponent = currencyExponent(currency);
  if (value.scale <= exponent) return value.digits * 10n ** BigInt(exponent - value.scale);
  const divisor = 10n ** BigInt(value.scale - exponent);
  const quotient = value.digits / divisor;
  return 2n * (value.digits % divisor) >= divisor ? quotient + 1n : quotient;
}

/** A unit price as people read it: no trailing zeros beyond the currency's decimals ("0.002", "1.00", "500"). */
export function showPrice(text: string, currency: string): string {
  const exponent = currencyExponent(currency);
  const plain = formatDecimal(parseDecimal(text));
  const value = parseDecimal(plain);
  const decimals = plain.includes('.') ? plain.length - plain.indexOf('.') - 1 : 0;
  if (decimals >= exponent) return plain;
  const padded = rescale(value, exponent).toString().padStart(exponent + 1, '0');
  return `${padded.slice(0, -exponent)}.${padded.slice(-exponent)}`;
}
