import type { NewRecord } from './record-store';
import type { HourlyUsage, PositionRange, UsageChunk, UsageSource } from './sources';
import { HOUR_MS, periodAt, spanOfHour, splitAtPeriodBoundaries, usageIdentifier, type CycleSpec, type Window } from './windows';

/** A record as freezing computes it; the freeze batch is handed out in the writing transaction. */
export type FrozenRecord = Omit<NewRecord, 'freezeBatch'>;

/** One span's windows and what each holds so far (`undefined`: nothing yet). */
interface Span {
  subscriptionUuid: string;
  apiUuid: string;
  windows: Window[];
  sums: Array<{ quantity: number; part: number } | undefined>;
  /** A part of an hour crossed a period end: the span's windows are asked of the source again. */
  sliced: boolean;
}

/**
 * Parts of hours (one per subscription, API and hour, or part of an hour at a period end) a freeze
 * holds at once, each with its span and record a few hundred bytes: so at most about 200,000
 * records per chunk. A range with more is frozen in chunks (`usageChunks`), each committed with
 * its own position.
 */
export const FREEZE_CHUNK_PARTS = 200_000;

/**
 * A range's usage in chunks of about `maxParts` parts, each the whole usage of the next part of
 * the range: the source's own chunks where it splits hours (`splitHourlyUsage`), else its hourly
 * usage of the whole range as one chunk.
 */
export async function* usageChunks(
  source: UsageSource,
  range: PositionRange,
  cutOffsets: (subscriptionUuids: readonly string[]) => Promise<ReadonlyMap<string, number>>,
  maxParts: number,
): AsyncGenerator<UsageChunk> {
  if (source.splitHourlyUsage) yield* source.splitHourlyUsage(range, cutOffsets, maxParts);
  else yield { upTo: range.upTo, usage: await source.hourlyUsage(range) };
}

/**
 * Where a billing period can end inside an hour, in ms from the hour's start: every period end of
 * a cycle falls at the same minute, second and millisecond of its hour as the anchor (days and
 * weeks are whole hours; months and years keep the anchor's time of day). 0: only on the hour.
 */
export function cutOffsetOf(cycle: CycleSpec | null | undefined): number {
  if (!cycle) return 0;
  return ((cycle.anchorMs % HOUR_MS) + HOUR_MS) % HOUR_MS;
}

/**
 * Cuts a range's usage into records: per subscription, aligned spans of `windowHours` hours,
 * split where a billing period ends (`cycles`; without one a span is one window). The usage comes
 * per hour, or per part of an hour (`from`/`to`, e.g. split at the subscription's `cutOffsetOf`):
 * a part that lies inside one window is added to it; only spans with a part across a period end
 * are asked of the source again, their windows all in one call (`sliceUsage`). A window's record
 * carries its quantity and its smallest part (what its identifier names); windows with no usage
 * get none. One map entry per span, no per-hour copies.
 */
export async function recordsOfRange(input: {
  source: UsageSource;
  range: PositionRange;
  hourly: Iterable<HourlyUsage>;
  cycles: ReadonlyMap<string, CycleSpec>;
  windowHours: number;
  now: () => number;
}): Promise<FrozenRecord[]> {
  const { source, range, cycles, windowHours } = input;
  // Per subscription, its spans by index: nested maps, no composite string key per hour.
  const spans = new Map<string, Map<number, Span>>();
  // Per subscription, the billing period of its last span split: most spans lie inside it, and
  // need no boundary computed (a month's is several Date conversions).
  const periods = new Map<string, Window>();
  const windowsOf = (subscriptionUuid: string, hour: number): Window[] => {
    const span = spanOfHour(hour, windowHours);
    const cycle = cycles.get(subscriptionUuid);
    if (cycle === undefined) return [span];
    let period = periods.get(subscriptionUuid);
    if (period === undefined || span.start < period.start || span.start >= period.end) periods.set(subscriptionUuid, (period = periodAt(cycle, span.start)));
    return span.end <= period.end ? [span] : splitAtPeriodBoundaries(span, cycle);
  };
  for (const usage of input.hourly) {
    let ofSubscription = spans.get(usage.subscriptionUuid);
    if (ofSubscription === undefined) spans.set(usage.subscriptionUuid, (ofSubscription = new Map()));
    const index = Math.floor(usage.hour / windowHours);
    let span = ofSubscription.get(index);
    if (span === undefined) {
      const windows = windowsOf(usage.subscriptionUuid, usage.hour);
      span = { subscriptionUuid: usage.subscriptionUuid, apiUuid: usage.apiUuid, windows, sums: new Array(windows.length).fill(undefined), sliced: false };
      ofSubscription.set(index, span);
    }
    if (span.sliced) continue;
    const at = windowOf(span.windows, usage.hour * HOUR_MS + (usage.from ?? 0), usage.hour * HOUR_MS + (usage.to ?? HOUR_MS));
    if (at < 0) {
      span.sliced = true;
      continue;
    }
    const sum = span.sums[at];
    if (sum === undefined) span.sums[at] = { quantity: usage.quantity, part: usage.part };
    else {
      sum.quantity += usage.quantity;
      if (usage.part < sum.part) sum.part = usage.part;
    }
  }
  const slices: Array<{ subscriptionUuid: string; start: number; end: number }> = [];
  for (const ofSubscription of spans.values()) {
    for (const span of ofSubscription.values()) {
      if (span.sliced) for (const w of span.windows) slices.push({ subscriptionUuid: span.subscriptionUuid, start: w.start, end: w.end });
    }
  }
  const sliced = new Map<string, Map<number, { quantity: number; part: number }>>();
  if (slices.length > 0) {
    for (const slice of await source.sliceUsage(range, slices)) {
      let ofSubscription = sliced.get(slice.subscriptionUuid);
      if (ofSubscription === undefined) sliced.set(slice.subscriptionUuid, (ofSubscription = new Map()));
      ofSubscription.set(slice.start, slice);
    }
  }
  const createdAt = input.now();
  const records: FrozenRecord[] = [];
  for (const ofSubscription of spans.values()) {
    for (const span of ofSubscription.values()) {
      span.windows.forEach((window, i) => {
        const content = span.sliced ? sliced.get(span.subscriptionUuid)?.get(window.start) : span.sums[i];
        if (!content || content.quantity <= 0) return;
        records.push({
          subscriptionUuid: span.subscriptionUuid,
          apiUuid: span.apiUuid,
          windowStart: window.start,
          windowEnd: window.end,
          firstEventSeq: content.part,
          source: source.name,
          positionAfter: range.after,
          positionUpTo: range.upTo,
          quantity: content.quantity,
          identifier: usageIdentifier({ subscriptionUuid: span.subscriptionUuid, apiUuid: span.apiUuid, window, firstEventSeq: content.part }),
          createdAt,
        });
      });
    }
  }
  return records;
}

/** The index of the window holding all of [start, end), or -1 when a window ends inside it. */
function windowOf(windows: readonly Window[], start: number, end: number): number {
  if (windows.length === 1) return 0;
  for (let i = 0; i < windows.length; i += 1) {
    const w = windows[i]!;
    if (start >= w.start && start < w.end) return end <= w.end ? i : -1;
  }
  return -1;
}
