/**
 * Billing-period arithmetic, in Unix seconds, UTC.
 *
 * Periods are computed from the billing cycle anchor, as Stripe does: the
 * n-th period of a monthly subscription anchored on Jan 31 ends on Feb 28/29,
 * Mar 31, Apr 30... (the anchor's day, clamped to the month's length), rather
 * than drifting by accumulating month additions.
 */
export type Interval = 'day' | 'week' | 'month' | 'year';

const DAY = 86_400;

function addMonthsClamped(anchor: number, months: number): number {
  const date = new Date(anchor * 1000);
  const targetMonthIndex = date.getUTCMonth() + months;
  const year = date.getUTCFullYear() + Math.floor(targetMonthIndex / 12);
  const month = ((targetMonthIndex % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(date.getUTCDate(), lastDay);
  return (
    Date.UTC(year, month, day, date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()) / 1000
  );
}

/** The end of period number `index` (0-based) for a subscription anchored at `anchor`. */
export function periodBoundary(anchor: number, interval: Interval, intervalCount: number, index: number): number {
  const steps = intervalCount * index;
  switch (interval) {
    case 'day':
      return anchor + steps * DAY;
    case 'week':
      return anchor + steps * 7 * DAY;
    case 'month':
      return addMonthsClamped(anchor, steps);
    case 'year':
      return addMonthsClamped(anchor, steps * 12);
  }
}

/** The period `[start, end)` that contains `at`, for a cycle anchored at `anchor` (at >= anchor). */
export function periodContaining(
  anchor: number,
  interval: Interval,
  intervalCount: number,
  at: number,
): { start: number; end: number; index: number } {
  let index = 0;
  while (periodBoundary(anchor, interval, intervalCount, index + 1) <= at) index++;
  return {
    start: periodBoundary(anchor, interval, intervalCount, index),
    end: periodBoundary(anchor, interval, intervalCount, index + 1),
    index,
  };
}
