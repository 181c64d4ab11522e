import { periodBoundary, type CycleSpec } from './windows';

/**
 * Which billing period `meterline reconcile usage` looks at, the same for every subscription
 * though each has its own cycle (anchored when it was created):
 * - `last-closed` (the default): each subscription's latest closed period: ended, and past the
 *   engine's `periodUsageGraceMs` after its end, so its invoice is final (Stripe: an hour after);
 * - `month` (`--period 2026-11`): each subscription's periods that end in that calendar month
 *   (UTC), i.e. the usage invoiced that month;
 * - `at` (`--period 2026-11-15`, or an ISO 8601 UTC time `2026-11-15T10:30:00Z`): each
 *   subscription's period that contains that instant (a date alone means 00:00 UTC).
 */
export type PeriodSelector = { kind: 'last-closed' } | { kind: 'month'; start: number; end: number; label: string } | { kind: 'at'; at: number; label: string };

export const PERIOD_FORMAT = 'YYYY-MM (periods ending that month), YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z (the period containing that instant)';

/** A `period` value that is none of the accepted forms; its message says which are. */
export class PeriodFormatError extends Error {
  override readonly name = 'PeriodFormatError';
}

/** Parses `--period` / `?period=`; undefined selects each subscription's last closed period. */
export function parsePeriod(text: string | undefined): PeriodSelector {
  if (text === undefined) return { kind: 'last-closed' };
  const month = /^(\d{4})-(\d{2})$/.exec(text);
  if (month) {
    const [year, index] = [Number(month[1]), Number(month[2]) - 1];
    if (index < 0 || index > 11) throw new PeriodFormatError(`"${text}" is not a month; expected ${PERIOD_FORMAT}`);
    return { kind: 'month', start: Date.UTC(year, index, 1), end: Date.UTC(year, index + 1, 1), label: text };
  }
  const instant = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?Z)?$/.exec(text);
  if (instant) {
    const [year, index, day, hour, minute, second] = instant.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
    const at = Date.UTC(year, index - 1, day, hour, minute, second);
    const back = new Date(at);
    // Date.UTC rolls 2026-02-30 over to March: refuse what does not name itself.
    if (back.getUTCMonth() !== index - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
      throw new PeriodFormatError(`"${text}" is not a valid date or time; expected ${PERIOD_FORMAT}`);
    }
    return { kind: 'at', at, label: text };
  }
  throw new PeriodFormatError(`"${text}" is not a period; expected ${PERIOD_FORMAT}`);
}

export interface BillingPeriod {
  start: number;
  end: number;
}

/**
 * The selected periods of one subscription's cycle at time `now` (epoch ms); none before its
 * anchor. `graceMs`: how long after its end a period stays open to usage (the engine's
 * `periodUsageGraceMs`; not finite: the period closes when it ends).
 */
export function selectPeriods(cycle: CycleSpec, selector: PeriodSelector, now: number, graceMs = 0): BillingPeriod[] {
  const period = (index: number): BillingPeriod => ({ start: periodBoundary(cycle, index), end: periodBoundary(cycle, index + 1) });
  switch (selector.kind) {
    case 'last-closed': {
      const index = indexAt(cycle, Number.isFinite(graceMs) ? now - graceMs : now) - 1;
      return index >= 0 ? [period(index)] : [];
    }
    case 'at': {
      const index = indexAt(cycle, selector.at);
      return index >= 0 ? [period(index)] : [];
    }
    case 'month': {
      const found: BillingPeriod[] = [];
      for (let index = Math.max(0, indexAt(cycle, selector.start) - 1); periodBoundary(cycle, index + 1) < selector.end; index += 1) {
        const candidate = period(index);
        if (candidate.end >= selector.start) found.push(candidate);
      }
      return found;
    }
  }
}

/** The index of the period containing `at` (negative before the anchor). */
function indexAt(cycle: CycleSpec, at: number): number {
  const approx = periodBoundary(cycle, 1) - periodBoundary(cycle, 0);
  let index = Math.floor((at - cycle.anchorMs) / approx);
  while (periodBoundary(cycle, index) > at) index -= 1;
  while (periodBoundary(cycle, index + 1) <= at) index += 1;
  return index;
}
