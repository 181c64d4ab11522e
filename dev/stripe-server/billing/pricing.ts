import { add, fromInteger, multiply, parseDecimal, roundHalfUp, toSafeNumber, type Decimal } from '../core/decimal';
import type { WirePrice } from '../wire';

/** A priced invoice line: integer minor units, and the per-unit decimal shown on the line (null for tiers). */
export interface PricedLine {
  amount: number;
  unitAmountDecimal: string | null;
}

function decimalOr(value: string | null, fallback: number | null): Decimal {
  if (value !== null) return parseDecimal(value);
  return fromInteger(fallback ?? 0);
}

function tierCost(tier: NonNullable<WirePrice['tiers']>[number], units: number, flat: boolean): Decimal {
  const variable = multiply(fromInteger(units), decimalOr(tier.unit_amount_decimal, tier.unit_amount));
  return flat ? add(variable, decimalOr(tier.flat_amount_decimal, tier.flat_amount)) : variable;
}

/**
 * One part of a graduated price's charge: the units that fell in a tier (`units`), or the flat fee
 * of a tier that was reached (`flat`), each its own invoice line, rounded on its own.
 */
export interface GraduatedPart {
  kind: 'units' | 'flat';
  /** 1-based, as Stripe numbers tiers on invoices ("Tier 2"). */
  tier: number;
  /** Units in the tier (0 on a flat line). */
  units: number;
  amount: number;
  /** The tier's unit price in minor units ("0.1"); null on a flat line. */
  unitAmountDecimal: string | null;
}

/**
 * `graduated`: each tier charges the units that fall within it, plus its flat fee once it is
 * reached (https://docs.stripe.com/products-prices/pricing-models#graduated-pricing,
 * https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing). Stripe bills such a price
 * as one invoice line per tier touched, each rounded on its own (a recorded Stripe response:
 * "31 credit × … (Tier 2 at $0.036 / month)", amount 112 for 111.6 cents), and a tier's flat
 * amount as a line of its own beside it; a flat amount is whole minor units ("a decimal value
 * representing an integer in the minor units",
 * https://docs.stripe.com/api/prices/create#create_price-tiers-flat_amount_decimal). Zero flat
 * amounts get no line. No usage: no parts (the caller bills one line of 0).
 */
export function graduatedParts(price: WirePrice, quantity: number): GraduatedPart[] {
  const parts: GraduatedPart[] = [];
  let lowerBound = 0;
  for (const [index, tier] of (price.tiers ?? []).entries()) {
    if (quantity <= lowerBound) break;
    const upper = tier.up_to ?? Number.POSITIVE_INFINITY;
    const units = Math.min(quantity, upper) - lowerBound;
    const unit = decimalOr(tier.unit_amount_decimal, tier.unit_amount);
    parts.push({
      kind: 'units',
      tier: index + 1,
      units,
      amount: toSafeNumber(roundHalfUp(multiply(fromInteger(units), unit))),
      unitAmountDecimal: tier.unit_amount_decimal ?? String(tier.unit_amount ?? 0),
    });
    const flat = roundHalfUp(decimalOr(tier.flat_amount_decimal, tier.flat_amount));
    if (flat !== 0n) parts.push({ kind: 'flat', tier: index + 1, units: 0, amount: toSafeNumber(flat), unitAmountDecimal: null });
    lowerBound = upper;
  }
  return parts;
}

/** `volume`: every unit at the rate of the tier the total falls in (plus that tier's flat fee), one line. */
function tieredAmount(price: WirePrice, quantity: number): bigint {
  const tiers = price.tiers ?? [];
  if (price.tiers_mode === 'volume') {
    const tier = tiers.find((t) => t.up_to === null || quantity <= t.up_to) ?? tiers[tiers.length - 1];
    return tier ? roundHalfUp(tierCost(tier, quantity, quantity > 0)) : 0n;
  }
  return BigInt(graduatedParts(price, quantity).reduce((sum, part) => sum + part.amount, 0));
}

/**
 * The quantity the unit price applies to: with `transform_quantity`, the usage divided by
 * `divide_by` and rounded up or down to a whole number ("If a customer rents the car for 150
 * minutes, that customer is charged 30 USD for 3 hours of rental",
 * https://docs.stripe.com/billing/subscriptions/usage-based/transform-quantities). The line keeps
 * the quantity as reported.
 */
function transformed(price: WirePrice, quantity: number): number {
  const t = price.transform_quantity;
  if (!t) return quantity;
  const whole = Math.floor(quantity / t.divide_by);
  return t.round === 'up' && whole * t.divide_by < quantity ? whole + 1 : whole;
}

/**
 * The amount of `quantity` units of `price`, in the currency's minor unit.
 *
 * Sub-cent unit prices are multiplied exactly (decimal strings on bigint) and
 * the line total is rounded half up once — 1,234 units at "0.05" (cents) is
 * 61.7 → 62, not 1,234 × round(0.05) = 0.
 */
export function priceLine(price: WirePrice, quantity: number): PricedLine {
  if (price.billing_scheme === 'tiered') {
    return { amount: toSafeNumber(tieredAmount(price, quantity)), unitAmountDecimal: null };
  }
  const unit = decimalOr(price.unit_amount_decimal, price.unit_amount);
  const exact = multiply(fromInteger(transformed(price, quantity)), unit);
  return { amount: toSafeNumber(roundHalfUp(exact)), unitAmountDecimal: price.unit_amount_decimal };
}
