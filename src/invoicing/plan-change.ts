import type { PolicyPricing } from '../domain/model';
import { currencyExponent, parseDecimal } from '../domain/money';
import { cycleWord, period as periodWords } from '../rating/describe';
import type { RatedLine } from '../rating/rate';

/**
 * The new plan's base fee for the rest of a period after a change of plan at `at`: the fee times
 * (period end − at) / (period end − period start), in milliseconds, computed exactly and rounded
 * ONCE to the currency's minor unit, half up (the rule of every line, docs/pricing.md). Null when
 * the new plan has no base fee (or nothing of the period is left).
 */
export function proratedBaseFee(pricing: PolicyPricing, apiName: string, planName: string, period: { start: Date; end: Date }, at: Date): RatedLine | null {
  if (pricing.fixedPrice === undefined) return null;
  const price = parseDecimal(pricing.fixedPrice);
  const whole = BigInt(period.end.getTime() - period.start.getTime());
  const left = BigInt(period.end.getTime() - at.getTime());
  if (price.digits === 0n || whole <= 0n || left <= 0n) return null;
  const currency = pricing.currency.toLowerCase();
  const exponent = currencyExponent(currency);
  // price × left / whole in minor units = digits × 10^exponent × left / (10^scale × whole).
  let numerator = price.digits * left;
  let denominator = whole;
  if (exponent >= price.scale) numerator *= 10n ** BigInt(exponent - price.scale);
  else denominator *= 10n ** BigInt(price.scale - exponent);
  const quotient = numerator / denominator;
  const amount = 2n * (numerator % denominator) >= denominator ? quotient + 1n : quotient;
  return {
    kind: 'BASE_FEE',
    description: `${apiName} · ${cycleWord(pricing.billingCycle)} fee of ${planName}, pro-rated for ${periodWords(at, period.end)}`,
    quantity: 1n,
    unitAmountDecimal: null,
    amount,
  };
}
