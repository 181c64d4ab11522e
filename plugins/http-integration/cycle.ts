import type { BillingCycle } from '../../src/domain/model';

/**
 * Period boundaries of a cycle anchored at `anchor`: anchor + n intervals, a month's day clamped
 * to the month's length (as the core and Stripe compute them), the time of day kept.
 */
export function boundary(anchor: Date, interval: BillingCycle, n: number): Date {
  if (interval === 'day' || interval === 'week') return new Date(anchor.getTime() + n * (interval === 'day' ? 1 : 7) * 86_400_000);
  const months = interval === 'year' ? 12 * n : n;
  const y = anchor.getUTCFullYear();
  const m = anchor.getUTCMonth() + months;
  const targetYear = y + Math.floor(m / 12);
  const targetMonth = ((m % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(targetYear, targetMonth + 1, 0)).getUTCDate();
  const day = Math.min(anchor.getUTCDate(), lastDay);
  return new Date(Date.UTC(targetYear, targetMonth, day, anchor.getUTCHours(), anchor.getUTCMinutes(), anchor.getUTCSeconds(), anchor.getUTCMilliseconds()));
}

/** The period [start, end) of the cycle that holds `at` (the first one when `at` is before the anchor). */
export function periodAt(anchor: Date, interval: BillingCycle, at: Date): { start: Date; end: Date } {
  const approxMs = { day: 86_400_000, week: 7 * 86_400_000, month: 28 * 86_400_000, year: 365 * 86_400_000 }[interval];
  let n = Math.max(0, Math.floor((at.getTime() - anchor.getTime()) / approxMs));
  while (n > 0 && boundary(anchor, interval, n).getTime() > at.getTime()) n -= 1;
  while (boundary(anchor, interval, n + 1).getTime() <= at.getTime()) n += 1;
  return { start: boundary(anchor, interval, n), end: boundary(anchor, interval, n + 1) };
}
