import { parsePeriod, PeriodFormatError, selectPeriods } from '../../src/usage/usage-reconcile-period';
import type { CycleSpec } from '../../src/usage/windows';

/** Which billing periods `meterline reconcile usage --period` names, for cycles anchored at odd times (no database, no clock). */
const iso = (ms: number) => new Date(ms).toISOString();
const monthly: CycleSpec = { anchorMs: Date.UTC(2026, 0, 31, 10, 0, 37), interval: 'month', intervalCount: 1 };

describe('parsePeriod', () => {
  it('reads a month, a date and a UTC time, and nothing else', () => {
    expect(parsePeriod(undefined)).toEqual({ kind: 'last-ended' });
    expect(parsePeriod('2026-11')).toEqual({ kind: 'month', start: Date.UTC(2026, 10, 1), end: Date.UTC(2026, 11, 1), label: '2026-11' });
    expect(parsePeriod('2026-12')).toMatchObject({ end: Date.UTC(2027, 0, 1) });
    expect(parsePeriod('2026-11-15')).toEqual({ kind: 'at', at: Date.UTC(2026, 10, 15), label: '2026-11-15' });
    expect(parsePeriod('2026-11-15T10:30Z')).toMatchObject({ at: Date.UTC(2026, 10, 15, 10, 30) });
    expect(parsePeriod('2026-11-15T10:30:05Z')).toMatchObject({ at: Date.UTC(2026, 10, 15, 10, 30, 5) });
    for (const bad of ['2026-13', '2026-00', '2026-02-30', '2026-11-15T24:00Z', '2026-11-15T10:30', '2026-11-15T10:30+01:00', 'last', '', '26-11']) {
      expect(() => parsePeriod(bad)).toThrow(PeriodFormatError);
    }
    expect(() => parsePeriod('2026-02-30')).toThrow('"2026-02-30" is not a valid date or time; expected YYYY-MM (periods ending that month)');
  });
});

describe('selectPeriods', () => {
  it('last-ended: the latest period that ended by now, none before the first period ends', () => {
    expect(selectPeriods(monthly, { kind: 'last-ended' }, Date.UTC(2026, 2, 31, 10, 0, 36)).map((p) => [iso(p.start), iso(p.end)])).toEqual([
      ['2026-01-31T10:00:37.000Z', '2026-02-28T10:00:37.000Z'],
    ]);
    expect(selectPeriods(monthly, { kind: 'last-ended' }, Date.UTC(2026, 2, 31, 10, 0, 37)).map((p) => iso(p.end))).toEqual(['2026-03-31T10:00:37.000Z']);
    expect(selectPeriods(monthly, { kind: 'last-ended' }, Date.UTC(2026, 1, 1))).toEqual([]);
  });

  it('a month: the periods ending in it; an instant: the period containing it', () => {
    expect(selectPeriods(monthly, parsePeriod('2026-02'), 0).map((p) => [iso(p.start), iso(p.end)])).toEqual([['2026-01-31T10:00:37.000Z', '2026-02-28T10:00:37.000Z']]);
    expect(selectPeriods(monthly, parsePeriod('2026-01'), 0)).toEqual([]); // the anchor month: no period ends in it
    const weekly: CycleSpec = { anchorMs: Date.UTC(2026, 10, 2, 8), interval: 'week', intervalCount: 1 };
    expect(selectPeriods(weekly, parsePeriod('2026-11'), 0).map((p) => iso(p.end))).toEqual(['2026-11-09T08:00:00.000Z', '2026-11-16T08:00:00.000Z', '2026-11-23T08:00:00.000Z', '2026-11-30T08:00:00.000Z']);
    expect(selectPeriods(monthly, parsePeriod('2026-03-31'), 0).map((p) => [iso(p.start), iso(p.end)])).toEqual([['2026-02-28T10:00:37.000Z', '2026-03-31T10:00:37.000Z']]);
    expect(selectPeriods(monthly, parsePeriod('2026-03-31T10:00:37Z'), 0).map((p) => iso(p.start))).toEqual(['2026-03-31T10:00:37.000Z']);
    expect(selectPeriods(monthly, parsePeriod('2026-01-01'), 0)).toEqual([]); // before the subscription began
  });
});
