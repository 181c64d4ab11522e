import { recordsOfRange } from '../../src/usage/freezer';
import type { HourlyUsage, PositionRange, SliceUsage, UsageSlice, UsageSource } from '../../src/usage/sources';
import { HOUR_MS, nextBoundaryAfter, periodAt, splitAtPeriodBoundaries, type CycleSpec } from '../../src/usage/windows';

const at = (iso: string) => Date.parse(iso);
// Stripe's monthly periods keep the anchor's day, clamped to the month's length: Jan 31, Feb 28, Mar 31.
const monthly: CycleSpec = { anchorMs: at('2026-01-31T10:30:00Z'), interval: 'month', intervalCount: 1 };

describe('billing periods', () => {
  it('the period holding a time runs from the last boundary at or before it to the next, months clamped', () => {
    expect(periodAt(monthly, at('2026-02-15T00:00:00Z'))).toEqual({ start: at('2026-01-31T10:30:00Z'), end: at('2026-02-28T10:30:00Z') });
    expect(periodAt(monthly, at('2026-02-28T10:30:00Z'))).toEqual({ start: at('2026-02-28T10:30:00Z'), end: at('2026-03-31T10:30:00Z') });
    expect(periodAt(monthly, at('2026-02-28T10:29:59.999Z')).end).toBe(at('2026-02-28T10:30:00Z'));
    // Before the anchor, periods run backwards from it.
    expect(periodAt(monthly, at('2025-12-31T10:30:00Z'))).toEqual({ start: at('2025-12-31T10:30:00Z'), end: at('2026-01-31T10:30:00Z') });
    expect(nextBoundaryAfter(monthly, at('2026-03-31T10:30:00Z'))).toBe(at('2026-04-30T10:30:00Z'));
    const everyTwoDays: CycleSpec = { anchorMs: at('2026-03-01T00:00:00Z'), interval: 'day', intervalCount: 2 };
    expect(periodAt(everyTwoDays, at('2026-03-04T12:00:00Z'))).toEqual({ start: at('2026-03-03T00:00:00Z'), end: at('2026-03-05T00:00:00Z') });
  });

  it('a span is split at every boundary inside it', () => {
    expect(splitAtPeriodBoundaries({ start: at('2026-02-28T10:00:00Z'), end: at('2026-02-28T11:00:00Z') }, monthly)).toEqual([
      { start: at('2026-02-28T10:00:00Z'), end: at('2026-02-28T10:30:00Z') },
      { start: at('2026-02-28T10:30:00Z'), end: at('2026-02-28T11:00:00Z') },
    ]);
  });
});

describe('recordsOfRange: windows of each subscription across its periods', () => {
  // Only the cut hours are asked of it: each slice answers 10, 11, ... calls from part 900, 901, ...
  const source: UsageSource = {
    name: 'slices',
    initialPosition: () => 0,
    settledPosition: async () => 0,
    hourlyUsage: async () => [],
    sliceUsage: async (_range: PositionRange, slices: readonly UsageSlice[]): Promise<SliceUsage[]> => slices.map((slice, i) => ({ ...slice, quantity: 10 + i, part: 900 + i })),
  };
  const hour = (iso: string) => at(iso) / HOUR_MS;

  it('hours given out of time order, some inside a period and some across its end, each get the right windows', async () => {
    const usage = (iso: string, part: number): HourlyUsage => ({ subscriptionUuid: 's', apiUuid: 'a', hour: hour(iso), quantity: 1, part });
    // Later periods first, then back into January: the period a span lies in changes in both directions.
    const hourly = [
      usage('2026-03-31T12:00:00Z', 1),
      usage('2026-02-28T09:00:00Z', 2),
      usage('2026-02-28T10:00:00Z', 3), // holds the period end at 10:30: asked again as two slices
      usage('2026-02-28T11:00:00Z', 4),
      usage('2026-01-15T08:00:00Z', 5),
      usage('2026-03-31T09:00:00Z', 6),
    ];
    const records = await recordsOfRange({ source, range: { after: 0, upTo: 10 }, hourly, cycles: new Map([['s', monthly]]), windowHours: 1, now: () => 0 });
    const windows = records.map((r) => [new Date(r.windowStart).toISOString(), new Date(r.windowEnd).toISOString(), r.quantity, r.firstEventSeq]);
    expect(windows.sort()).toEqual([
      ['2026-01-15T08:00:00.000Z', '2026-01-15T09:00:00.000Z', 1, 5],
      ['2026-02-28T09:00:00.000Z', '2026-02-28T10:00:00.000Z', 1, 2],
      ['2026-02-28T10:00:00.000Z', '2026-02-28T10:30:00.000Z', 10, 900],
      ['2026-02-28T10:30:00.000Z', '2026-02-28T11:00:00.000Z', 11, 901],
      ['2026-02-28T11:00:00.000Z', '2026-02-28T12:00:00.000Z', 1, 4],
      ['2026-03-31T09:00:00.000Z', '2026-03-31T10:00:00.000Z', 1, 6],
      ['2026-03-31T12:00:00.000Z', '2026-03-31T13:00:00.000Z', 1, 1],
    ]);
  });

  it('a day-long window holds its hours on each side of a period end as two windows', async () => {
    const hourly: HourlyUsage[] = [
      { subscriptionUuid: 's', apiUuid: 'a', hour: hour('2026-02-28T03:00:00Z'), quantity: 2, part: 7 },
      { subscriptionUuid: 's', apiUuid: 'a', hour: hour('2026-02-28T20:00:00Z'), quantity: 3, part: 8 },
    ];
    const records = await recordsOfRange({ source, range: { after: 0, upTo: 10 }, hourly, cycles: new Map([['s', monthly]]), windowHours: 24, now: () => 0 });
    expect(records.map((r) => [new Date(r.windowStart).toISOString(), new Date(r.windowEnd).toISOString(), r.quantity, r.firstEventSeq])).toEqual([
      ['2026-02-28T00:00:00.000Z', '2026-02-28T10:30:00.000Z', 2, 7],
      ['2026-02-28T10:30:00.000Z', '2026-03-01T00:00:00.000Z', 3, 8],
    ]);
  });
});
