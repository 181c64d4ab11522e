import type { NewRecord } from './record-store';
import type { HourlyUsage, PositionRange, UsageSource } from './sources';
import { spanOfHour, splitAtPeriodBoundaries, usageIdentifier, type CycleSpec, type Window } from './windows';

/** A record as freezing computes it; the freeze batch is handed out in the writing transaction. */
export type FrozenRecord = Omit<NewRecord, 'freezeBatch'>;

interface Span {
  subscriptionUuid: string;
  apiUuid: string;
  /** Any hour of the span (its first one read): the span is `spanOfHour(hour)`. */
  hour: number;
  quantity: number;
  part: number;
}

/**
 * Cuts a range's hourly usage into records: per subscription, aligned spans of `windowHours`
 * hours, split where a billing period ends (`cycles`; without one a span is one window). The
 * windows of a split span are asked of the source again, all in one call (`sliceUsage`). A
 * window's record carries its quantity and its smallest part (what its identifier names);
 * windows with no usage get none. Written for hundreds of thousands of hours per range: one map
 * entry per span, no per-hour copies.
 */
export async function recordsOfRange(input: {
  source: UsageSource;
  range: PositionRange;
  hourly: readonly HourlyUsage[];
  cycles: ReadonlyMap<string, CycleSpec>;
  windowHours: number;
  now: () => number;
}): Promise<FrozenRecord[]> {
  const { source, range, hourly, cycles, windowHours } = input;
  // Per subscription, its spans by index: nested maps, no composite string key per hour.
  const spans = new Map<string, Map<number, Span>>();
  for (const usage of hourly) {
    let ofSubscription = spans.get(usage.subscriptionUuid);
    if (ofSubscription === undefined) spans.set(usage.subscriptionUuid, (ofSubscription = new Map()));
    const index = Math.floor(usage.hour / windowHours);
    const span = ofSubscription.get(index);
    if (span === undefined) {
      ofSubscription.set(index, { subscriptionUuid: usage.subscriptionUuid, apiUuid: usage.apiUuid, hour: usage.hour, quantity: usage.quantity, part: usage.part });
    } else {
      span.quantity += usage.quantity;
      if (usage.part < span.part) span.part = usage.part;
    }
  }
  const cut: Array<{ span: Span; windows: Window[] }> = [];
  const slices: Array<{ subscriptionUuid: string; start: number; end: number }> = [];
  for (const [subscriptionUuid, ofSubscription] of spans) {
    const cycle = cycles.get(subscriptionUuid) ?? null;
    for (const span of ofSubscription.values()) {
      const windows = splitAtPeriodBoundaries(spanOfHour(span.hour, windowHours), cycle);
      cut.push({ span, windows });
      if (windows.length > 1) for (const w of windows) slices.push({ subscriptionUuid, start: w.start, end: w.end });
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
  for (const { span, windows } of cut) {
    for (const window of windows) {
      const content = windows.length === 1 ? span : sliced.get(span.subscriptionUuid)?.get(window.start);
      if (!content || content.quantity <= 0) continue;
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
    }
  }
  return records;
}
