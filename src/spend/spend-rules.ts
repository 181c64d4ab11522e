import { formatMinorUnits } from '../domain/money';
import type { SpendLimitSetter, StoredSpendLimit } from './spend.repository';

/** The thresholds a limit notifies at when its setter names none (percent of the amount). */
export const DEFAULT_THRESHOLDS: readonly number[] = [50, 80, 100];

/**
 * The limits that apply when both parties set one (docs/spend-limits.md, "Who set what"):
 * - `alerts`: the limit with the lower amount; its thresholds notify (a tie goes to the publisher's);
 * - `cap`: the lowest amount among the limits with a hard cap, whoever set it. A subscriber's
 *   alert-only limit below the publisher's cap so never lifts the publisher's cap, and a
 *   subscriber's cap applies even when the publisher's alert limit is lower.
 * Limits in another currency than the plan's now (the plan changed since) are left out.
 */
export interface AppliedLimits {
  alerts: StoredSpendLimit | null;
  cap: StoredSpendLimit | null;
}

export function appliedLimits(limits: readonly StoredSpendLimit[], currency: string): AppliedLimits {
  const usable = limits.filter((limit) => limit.currency.toLowerCase() === currency.toLowerCase()).sort(lowerFirst);
  return { alerts: usable[0] ?? null, cap: usable.find((limit) => limit.hardCap) ?? null };
}

function lowerFirst(a: StoredSpendLimit, b: StoredSpendLimit): number {
  if (a.amount !== b.amount) return a.amount < b.amount ? -1 : 1;
  return a.setBy === b.setBy ? 0 : a.setBy === 'PUBLISHER' ? -1 : 1;
}

/** The thresholds `spent` has reached of `limit` (exact: spent × 100 ≥ amount × threshold). */
export function reachedThresholds(limit: StoredSpendLimit, spent: bigint): number[] {
  return limit.thresholds.filter((threshold) => spent * 100n >= limit.amount * BigInt(threshold));
}

export function setterWord(setBy: SpendLimitSetter): 'subscriber' | 'publisher' {
  return setBy === 'PUBLISHER' ? 'publisher' : 'subscriber';
}

/** The reason the access check gives: "the period's spend reached its cap of 50.00 USD (set by the subscriber)". */
export function capReason(cap: { amount: bigint; currency: string; setBy: SpendLimitSetter }): string {
  return `the period's spend reached its cap of ${formatMinorUnits(cap.amount, cap.currency)} ${cap.currency.toUpperCase()} (set by the ${setterWord(cap.setBy)})`;
}
