/**
 * Exact decimal arithmetic for money, on bigint.
 *
 * Stripe prices may carry a per-unit amount with up to 12 decimal places
 * (`unit_amount_decimal`, in minor units: "0.05" is a twentieth of a cent). A
 * line's amount is quantity × unit amount, rounded half up to a whole minor
 * unit *once, on the line total* — never per unit and never through floats.
 */

/** A decimal value: `units / 10^scale`. */
export interface Decimal {
  readonly units: bigint;
  readonly scale: number;
}

const DECIMAL_PATTERN = /^-?\d+(\.\d+)?$/;

/** Stripe accepts at most 12 decimal places on `*_decimal` amounts. */
export const MAX_DECIMAL_PLACES = 12;

export function isDecimalString(value: string): boolean {
  if (!DECIMAL_PATTERN.test(value)) return false;
  const fraction = value.split('.')[1];
  return (fraction?.length ?? 0) <= MAX_DECIMAL_PLACES;
}

export function parseDecimal(value: string): Decimal {
  if (!DECIMAL_PATTERN.test(value)) throw new RangeError(`not a decimal: ${value}`);
  const negative = value.startsWith('-');
  const digits = negative ? value.slice(1) : value;
  const [whole = '0', fraction = ''] = digits.split('.');
  const units = BigInt(whole + fraction) * (negative ? -1n : 1n);
  return { units, scale: fraction.length };
}

export function fromInteger(value: number | bigint): Decimal {
  return { units: BigInt(value), scale: 0 };
}

function align(a: Decimal, b: Decimal): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [a.units * 10n ** BigInt(scale - a.scale), b.units * 10n ** BigInt(scale - b.scale), scale];
}

export function add(a: Decimal, b: Decimal): Decimal {
  const [x, y, scale] = align(a, b);
  return { units: x + y, scale };
}

export function multiply(a: Decimal, b: Decimal): Decimal {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

/** Rounds to a whole number, ties away from zero (Stripe's "round half up" on line totals). */
export function roundHalfUp(value: Decimal): bigint {
  if (value.scale === 0) return value.units;
  const divisor = 10n ** BigInt(value.scale);
  const magnitude = value.units < 0n ? -value.units : value.units;
  const quotient = magnitude / divisor;
  const remainder = magnitude % divisor;
  const rounded = remainder * 2n >= divisor ? quotient + 1n : quotient;
  return value.units < 0n ? -rounded : rounded;
}

/** Canonical string: no trailing zeros in the fraction, no lone dot ("0.0500" → "0.05", "12.0" → "12"). */
export function formatDecimal(value: Decimal): string {
  const negative = value.units < 0n;
  const digits = (negative ? -value.units : value.units).toString().padStart(value.scale + 1, '0');
  const whole = digits.slice(0, digits.length - value.scale);
  const fraction = digits.slice(digits.length - value.scale).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Converts a bigint minor-unit amount to a JS number, refusing values that would lose precision. */
export function toSafeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError(`amount out of range: ${value}`);
  }
  return Number(value);
}
