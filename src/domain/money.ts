/**
 * Exact money arithmetic on decimal strings. Prices arrive as strings ("0.0005", "10.00") and
 * leave as integer minor units or exact decimal strings: never through a float, never truncated.
 */

/**
 * Currencies whose minor unit is not 1/100. The lists are Stripe's zero- and three-decimal
 * currencies, which is also how Meterline stores and shows amounts, whatever the engine.
 */
const ZERO_DECIMAL = new Set([
  'BIF', 'CLP', 'DJF', 'GNF', 'JPY', 'KMF', 'KRW', 'MGA', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF',
]);
const THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

/** How many decimal digits the currency's major unit has: JPY 0, USD 2, KWD 3. */
export function currencyExponent(currency: string): number {
  const code = currency.toUpperCase();
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  return 2;
}

export function isCurrencyCode(value: string): boolean {
  return /^[A-Za-z]{3}$/.test(value);
}

/** An exact non-negative decimal: digits, scaled by 10^-scale. */
export interface Decimal {
  digits: bigint;
  scale: number;
}

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

export class InvalidAmountError extends Error {
  override readonly name = 'InvalidAmountError';
}

/** Parses "12", "0.0005", "10.50"; rejects signs, exponents, blanks and commas. */
export function parseDecimal(text: string): Decimal {
  const match = DECIMAL.exec(text.trim());
  if (!match) throw new InvalidAmountError(`"${text}" is not a non-negative decimal number`);
  const fraction = match[2] ?? '';
  return { digits: BigInt(`${match[1]}${fraction}`), scale: fraction.length };
}

function withoutTrailingZeros({ digits, scale }: Decimal): Decimal {
  while (scale > 0 && digits % 10n === 0n) {
    digits /= 10n;
    scale -= 1;
  }
  return { digits, scale };
}

export function formatDecimal(value: Decimal): string {
  const { digits, scale } = withoutTrailingZeros(value);
  if (scale === 0) return digits.toString();
  const text = digits.toString().padStart(scale + 1, '0');
  return `${text.slice(0, -scale)}.${text.slice(-scale)}`;
}

/**
 * A major-unit amount ("10.50" USD) as integer minor units (1050). An amount with more decimals
 * than the currency has ("10.005" USD, "1.5" JPY) is an error, not a rounding.
 */
export function toMinorUnits(amount: string, currency: string): bigint {
  const value = withoutTrailingZeros(parseDecimal(amount));
  const exponent = currencyExponent(currency);
  if (value.scale > exponent) {
    throw new InvalidAmountError(
      `"${amount}" has more decimal places than ${currency.toUpperCase()} allows (${exponent})`,
    );
  }
  return value.digits * 10n ** BigInt(exponent - value.scale);
}

/** The finest unit price Meterline keeps: 12 decimal places of a minor unit (Stripe's `unit_amount_decimal` limit too). */
export const MAX_MINOR_UNIT_DECIMALS = 12;

/**
 * A major-unit price that may be below the minor unit ("0.0005" USD per request) as an exact
 * decimal string of minor units ("0.05" cents), at most `MAX_MINOR_UNIT_DECIMALS` places (a
 * policy's price is refused beyond that, before any engine sees it).
 */
export function toMinorUnitDecimal(amount: string, currency: string): string {
  const value = parseDecimal(amount);
  const exponent = currencyExponent(currency);
  const shifted = { digits: value.digits, scale: value.scale - exponent };
  const normalized = shifted.scale >= 0 ? shifted : { digits: shifted.digits * 10n ** BigInt(-shifted.scale), scale: 0 };
  const result = withoutTrailingZeros(normalized);
  if (result.scale > MAX_MINOR_UNIT_DECIMALS) {
    throw new InvalidAmountError(`"${amount}" ${currency.toUpperCase()} is finer than ${MAX_MINOR_UNIT_DECIMALS} decimal places of a minor unit`);
  }
  return formatDecimal(result);
}

/** Integer minor units (1050n, or -25n) as an exact major-unit string ("10.50", "-0.25"). */
export function formatMinorUnits(minor: bigint | number, currency: string): string {
  const value = BigInt(minor);
  const exponent = currencyExponent(currency);
  const negative = value < 0n;
  const magnitude = (negative ? -value : value).toString();
  if (exponent === 0) return `${negative ? '-' : ''}${magnitude}`;
  const padded = magnitude.padStart(exponent + 1, '0');
  return `${negative ? '-' : ''}${padded.slice(0, -exponent)}.${padded.slice(-exponent)}`;
}
