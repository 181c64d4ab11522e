import { createHash } from 'node:crypto';
import type { BillingCycle } from '../domain/model';

/**
 * Usage windows: hour-aligned UTC windows (or `windowHours` hours), split where a subscription's
 * billing period ends, so that every unit of a window is billed in the period of its own time.
 * All times are epoch milliseconds.
 */

export const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export interface CycleSpec {
  anchorMs: number;
  interval: BillingCycle;
  intervalCount: number;
}

export interface Window {
  start: number;
  end: number;
}

function addMonthsClamped(anchorMs: number, months: number): number {
  const date = new Date(anchorMs);
  const monthIndex = date.getUTCMonth() + months;
  const year = date.getUTCFullYear() + Math.floor(monthIndex / 12);
  const month = ((monthIndex % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(
    year,
    month,
    Math.min(date.getUTCDate(), lastDay),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
    date.getUTCMilliseconds(),
  );
}

/**
 * The start of period `index` (0 = the anchor; negative before it). Months keep the anchor's
 * day, clamped to the month's length (Jan 31 → Feb 28 → Mar 31), as Stripe computes periods.
 */
export function periodBoundary(cycle: CycleSpec, index: number): number {
  const steps = cycle.intervalCount * index;
  switch (cycle.interval) {
    case 'day':
      return cycle.anchorMs + steps * DAY_MS;
    case 'week':
      return cycle.anchorMs + steps * 7 * DAY_MS;
    case 'month':
      return addMonthsClamped(cycle.anchorMs, steps);
    case 'year':
      return addMonthsClamped(cycle.anchorMs, steps * 12);
  }
}

const APPROX_INTERVAL_MS: Record<BillingCycle, number> = { day: DAY_MS, week: 7 * DAY_MS, month: 30 * DAY_MS, year: 365 * DAY_MS };

/** The first period boundary strictly after `at`. */
export function nextBoundaryAfter(cycle: CycleSpec, at: number): number {
  return periodAt(cycle, at).end;
}

/** The billing period holding `at`: from the last boundary at or before it to the next one after it. */
export function periodAt(cycle: CycleSpec, at: number): Window {
  // Each boundary computed once (a month's is several Date conversions): the loops keep what they read.
  let index = Math.floor((at - cycle.anchorMs) / (APPROX_INTERVAL_MS[cycle.interval] * cycle.intervalCount));
  let start = periodBoundary(cycle, index);
  while (start > at) start = periodBoundary(cycle, (index -= 1));
  let end = periodBoundary(cycle, index + 1);
  while (end <= at) {
    start = end;
    index += 1;
    end = periodBoundary(cycle, index + 1);
  }
  return { start, end };
}

/**
 * The windows covering [start, end) for a subscription: the span split at every period boundary
 * inside it. Without a cycle (the engine does not bill the subscription) the span is one window.
 */
export function splitAtPeriodBoundaries(span: Window, cycle: CycleSpec | null): Window[] {
  if (cycle === null) return [span];
  const windows: Window[] = [];
  let start = span.start;
  while (start < span.end) {
    const boundary = nextBoundaryAfter(cycle, start);
    const end = Math.min(boundary, span.end);
    windows.push({ start, end });
    start = end;
  }
  return windows;
}

/** The aligned span of `windowHours` hours that holds hour number `hour` (hours since the epoch). */
export function spanOfHour(hour: number, windowHours: number): Window {
  const first = Math.floor(hour / windowHours) * windowHours;
  return { start: first * HOUR_MS, end: (first + windowHours) * HOUR_MS };
}

/**
 * The identifier of one usage record: what the usage is (subscription, the API's meter, the
 * window) plus the first event frozen into it, which tells apart a window's first record from a
 * later one holding late events. Never a count or a clock reading, so re-sending a record after
 * any failure repeats the identifier and the billing engine drops the copy. At most 100
 * characters (Stripe's limit); long subscription ids are hashed.
 */
export function usageIdentifier(input: { subscriptionUuid: string; apiUuid: string; window: Window; firstEventSeq: number }): string {
  const meter = meterOf(input.apiUuid);
  const parts = [input.subscriptionUuid, meter, Math.floor(input.window.start / 1000), Math.floor(input.window.end / 1000), input.firstEventSeq];
  const readable = `mlu_${parts.join('_')}`;
  if (readable.length <= 100 && /^[A-Za-z0-9_-]+$/.test(input.subscriptionUuid)) return readable;
  return `mlu_h_${createHash('sha256').update(parts.join('\u0000')).digest('hex')}`;
}

/** The meter part of an identifier per API, kept: a freeze names hundreds of thousands of records of a few APIs. */
const meters = new Map<string, string>();

function meterOf(apiUuid: string): string {
  let meter = meters.get(apiUuid);
  if (meter === undefined) {
    meter = createHash('sha256').update(apiUuid).digest('hex').slice(0, 8);
    if (meters.size >= 10_000) meters.clear();
    meters.set(apiUuid, meter);
  }
  return meter;
}
