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
  const spans = new Map<string, Span>();
  for (const usage of hourly) {
    const key = `${usage.subscriptionUuid}\u0000${Math.floor(usage.hour / windowHours)}`;
    const span = spans.get(key);
    if (span === undefined) {
      spans.set(key, { subscriptionUuid: usage.subscriptionUuid, apiUuid: usage.apiUuid, hour: usage.hour, quantity: usage.quantity, part: usage.part });
    } else {
      span.quantity += usage.quantity;
      if (usage.part < span.part) span.part = usage.part;
    }
  }
  const cut: Array<{ span: Span; windows: Window[] }> = [];
  const slices: Array<{ subscriptionUuid: string; start: number; end: number }> = [];
  for (const span of spans.values()) {
    const windows = splitAtPeriodBoundaries(spanOfHour(span.hour, windowHours), cycles.get(span.subscriptionUuid) ?? null);
    cut.push({ span, windows });
    if (windows.length > 1) for (const w of windows) slices.push({ subscriptionUuid: span.subscriptionUuid, start: w.start, end: w.end });
  }
  const sliced = new Map<string, { quantity: number; part: number }>();
  if (slices.length > 0) for (const slice of await source.sliceUsage(range, slices)) sliced.set(`${slice.subscriptionUuid}\u0000${slice.start}`, slice);
  const createdAt = input.now();
  const records: FrozenRecord[] = [];
  for (const { span, windows } of cut) {
    for (const window of windows) {
      const content = windows.length === 1 ? span : sliced.get(`${span.subscriptionUuid}\u0000${window.start}`);
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
