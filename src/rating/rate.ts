import type { PolicyPricing, PriceTier, UsageRate } from '../domain/model';
import { formatDecimal } from '../domain/money';
import { add, decimal, isZero, roundToMinorUnits, showPrice, times } from './amounts';
import { callRange, calls as callCount, count, cycleWord, period } from './describe';

/**
 * Rating: what a subscription owes for a period, as invoice lines with exact minor-unit amounts,
 * from its policy's pricing and its calls. Engine-neutral (imports the domain only); the rules
 * and their rounding are documented in docs/pricing.md.
 */

export type RatedLineKind = 'SETUP_FEE' | 'BASE_FEE' | 'USAGE';

export interface RatedLine {
  kind: RatedLineKind;
  /** What was bought, for people: "Hello API · 2,982 calls × 0.002 USD", "Hello API · monthly fee, in advance for 30 Nov – 30 Dec". */
  description: string;
  /** Calls for USAGE lines (one line per tier touched for graduated), 1 for fees. */
  quantity: bigint;
  /** Major-unit exact unit price ("0.002"), null when the line is not quantity × unit price. */
  unitAmountDecimal: string | null;
  /** Minor units, rounded once per line (half up: docs/pricing.md). */
  amount: bigint;
}

export interface RatingInput {
  /** The COMMERCIAL pricing of the subscription's policy. */
  pricing: PolicyPricing;
  /** The API's name, for descriptions. */
  apiName: string;
  /** Usage in the period (0 when include.usage is false). */
  calls: bigint;
  /** The period the usage was counted in; also the period the base fee pays for unless `baseFeePeriod` says otherwise. */
  period: { start: Date; end: Date };
  /** The cycle the base fee pays for, in advance, when it is not `period` (additive to C2). */
  baseFeePeriod?: { start: Date; end: Date };
  include: { setupFee: boolean; baseFee: boolean; usage: boolean };
}

export interface Rating {
  /** ISO 4217, lower-case (as the pricing stores it and engines take it). */
  currency: string;
  lines: RatedLine[];
  /** Minor units, the sum of the lines. */
  total: bigint;
}

/**
 * The lines a subscription owes, in this order: the setup fee (once), the base fee (FIXEDRATE's
 * price or DYNAMICRATE's fixedPrice, in advance), the usage (DYNAMICRATE, in arrears): per_unit
 * one line; graduated one line per tier touched (its calls × its price + its flat fee); volume
 * one line at the tier the total falls in (+ that tier's flat fee); package one line, every
 * started package at its price. Zero fees are left off; zero calls are one "0 calls" line of 0.
 * Each line is rounded once, half up (./amounts.ts); the total is the sum of the lines.
 */
export function rate(input: RatingInput): Rating {
  const { pricing, include } = input;
  const currency = pricing.currency.toLowerCase();
  const lines: RatedLine[] = [];
  const fee = (kind: RatedLineKind, description: string, price: string): RatedLine => ({
    kind,
    description: `${input.apiName} · ${description}`,
    quantity: 1n,
    unitAmountDecimal: normalized(price),
    amount: roundToMinorUnits(decimal(price), currency),
  });
  if (include.setupFee && pricing.setupFee !== undefined && !isZero(decimal(pricing.setupFee))) {
    lines.push(fee('SETUP_FEE', 'setup fee', pricing.setupFee));
  }
  if (include.baseFee && pricing.fixedPrice !== undefined && !isZero(decimal(pricing.fixedPrice))) {
    const paid = input.baseFeePeriod ?? input.period;
    lines.push(fee('BASE_FEE', `${cycleWord(pricing.billingCycle)} fee, in advance for ${period(paid.start, paid.end)}`, pricing.fixedPrice));
  }
  if (include.usage && pricing.plan === 'DYNAMICRATE') {
    const usageRate = pricing.usageRate ?? { model: 'per_unit', unitPrice: pricing.pricePerRequest };
    lines.push(...usageLines(usageRate, input.calls, input.apiName, currency));
  }
  return { currency, lines, total: lines.reduce((total, line) => total + line.amount, 0n) };
}

function normalized(price: string): string {
  return formatDecimal(decimal(price));
}

function usageLines(usageRate: UsageRate, calls: bigint, apiName: string, currency: string): RatedLine[] {
  const money = (price: string) => `${showPrice(price, currency)} ${currency.toUpperCase()}`;
  const line = (description: string, quantity: bigint, unitAmountDecimal: string | null, amount: bigint): RatedLine => ({
    kind: 'USAGE',
    description: `${apiName} · ${description}`,
    quantity,
    unitAmountDecimal,
    amount,
  });
  if (usageRate.model === 'per_unit') {
    const amount = roundToMinorUnits(times(decimal(usageRate.unitPrice), calls), currency);
    return [line(`${callCount(calls)} × ${money(usageRate.unitPrice)}`, calls, normalized(usageRate.unitPrice), amount)];
  }
  if (calls === 0n) return [line('0 calls', 0n, null, 0n)];
  if (usageRate.model === 'package') {
    const size = BigInt(usageRate.packageSize);
    const packages = (calls + size - 1n) / size;
    const amount = roundToMinorUnits(times(decimal(usageRate.packagePrice), packages), currency);
    const what = `${callCount(calls)} in ${count(packages)} ${packages === 1n ? 'package' : 'packages'} of ${count(size)} × ${money(usageRate.packagePrice)}`;
    return [line(what, calls, null, amount)];
  }
  const tierLine = (tier: PriceTier, head: string, units: bigint, note = ''): RatedLine => {
    const flat = decimal(tier.flatPrice);
    const exact = add(times(decimal(tier.unitPrice), units), flat);
    const unitOnly = isZero(flat);
    const what = unitOnly ? `${head} × ${money(tier.unitPrice)}` : isZero(decimal(tier.unitPrice))
      ? `${head}, flat fee ${money(tier.flatPrice)}`
      : `${head} × ${money(tier.unitPrice)} + flat fee ${money(tier.flatPrice)}`;
    return line(`${what}${note}`, units, unitOnly ? normalized(tier.unitPrice) : null, roundToMinorUnits(exact, currency));
  };
  if (usageRate.model === 'volume') {
    let lower = 0n;
    for (const tier of usageRate.tiers) {
      const upper = tier.upTo === null ? null : BigInt(tier.upTo);
      if (upper === null || calls <= upper) {
        return [tierLine(tier, callCount(calls), calls, ` (volume tier: ${callRange(lower + 1n, upper)})`)];
      }
      lower = upper;
    }
    throw new Error('volume tiers must end with an unbounded tier');
  }
  const lines: RatedLine[] = [];
  let lower = 0n;
  for (const tier of usageRate.tiers) {
    if (calls <= lower) break;
    const upper = tier.upTo === null ? calls : BigInt(tier.upTo) < calls ? BigInt(tier.upTo) : calls;
    lines.push(tierLine(tier, callRange(lower + 1n, upper), upper - lower));
    lower = upper;
  }
  return lines;
}
