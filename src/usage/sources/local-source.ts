import { EventStore } from '../event-store';
import { HOUR_MS } from '../windows';
import type { HourlyUsage, PositionRange, SliceUsage, UsageChunk, UsageSlice, UsageSource, UsageSourceContext } from './usage-source';

/** Events read per query when the range is summed here. */
const PAGE_EVENTS = 20_000;

/**
 * SEQs per part of a chunk one GROUP BY covers at most: 2 M events at 200,000 parts a chunk. A
 * wider slice more often has more groups than a chunk holds, and is grouped again halved.
 */
const GROUPED_EVENTS_PER_PART = 10;

/**
 * The default source: the events stored by the ingestion endpoint and the middleware
 * (ML_USAGE_EVENT). Positions are event SEQs; a part is the smallest SEQ of the usage, so a
 * record's identifier names its first event, as before sources existed.
 */
export class LocalEventSource implements UsageSource {
  static readonly identifier = 'local';
  readonly name = LocalEventSource.identifier;
  private readonly events: EventStore;

  constructor(context: Pick<UsageSourceContext, 'db'>) {
    this.events = new EventStore(context.db);
  }

  initialPosition(): number {
    return 0;
  }

  settledPosition(): Promise<number> {
    return this.events.settledSeq();
  }

  async hourlyUsage(range: PositionRange): Promise<HourlyUsage[]> {
    return (await this.events.hourlyUsage(range)).map(asHourlyUsage);
  }

  /**
   * The range's usage in chunks of about `maxParts` parts (what the freeze holds at once).
   * - Where the database groups faster than its rows can be read (PostgreSQL's hash aggregate, SQLite),
   *   a GROUP BY of a slice of the range at a time, at most `maxParts` × GROUPED_EVENTS_PER_PART
   *   SEQs, asked for at most `maxParts` + 1 groups; a slice with more groups is halved and asked
   *   again (a slice of `maxParts` SEQs always fits: an event is one part at most). Bounding the
   *   slice keeps a GROUP BY whose groups cannot fit from grouping the whole range only to be
   *   thrown away (5 M events: 11 s of SQLite's 38 s freeze). The hours a period end cuts are
   *   sliced later.
   * - Otherwise (MariaDB, whose GROUP BY sorts in a temporary table) the range's events are read a
   *   page at a time in SEQ order (a walk of the primary key, no sort) and summed here per
   *   subscription, API and hour, each hour in two parts at the subscription's cut offset, so no
   *   hour needs a second read. Once a page brings the parts to `maxParts`, they go out as a chunk
   *   ending at that page's last SEQ and the sums start again.
   * Either way a window with events on both sides of a chunk's end gets a record from each chunk
   * (as from two freezes), which with events stored in time order is only the windows of the
   * moment the chunk ends.
   */
  async *splitHourlyUsage(
    range: PositionRange,
    cutOffsets: (subscriptionUuids: readonly string[]) => Promise<ReadonlyMap<string, number>>,
    maxParts: number,
  ): AsyncGenerator<UsageChunk> {
    if (!this.events.groupsInMemory()) {
      let span = maxParts * GROUPED_EVENTS_PER_PART;
      for (let after = range.after; after < range.upTo; ) {
        const upTo = Math.min(range.upTo, after + span);
        const grouped = await this.events.hourlyUsage({ after, upTo }, maxParts + 1);
        if (grouped.length > maxParts && upTo - after > maxParts) {
          span = Math.max(maxParts, Math.floor((upTo - after) / 2));
          continue;
        }
        yield { upTo, usage: grouped.map(asHourlyUsage) };
        after = upTo;
      }
      return;
    }
    const offsets = new Map<string, number>();
    // Per subscription, its parts by hour * 2 + (0: before the offset, 1: from it).
    let groups = new Map<string, Map<number, HourlyUsage>>();
    let parts = 0;
    // Pages no larger than a chunk, so a chunk holds at most twice its parts.
    for await (const page of this.events.billableEvents(range, Math.max(1, Math.min(PAGE_EVENTS, maxParts)))) {
      const unseen = new Set<string>();
      for (const event of page) if (!offsets.has(event.subscriptionUuid)) unseen.add(event.subscriptionUuid);
      if (unseen.size > 0) {
        const found = await cutOffsets([...unseen]);
        for (const uuid of unseen) offsets.set(uuid, found.get(uuid) ?? 0);
      }
      for (const event of page) {
        const cut = offsets.get(event.subscriptionUuid)!;
        const hour = Math.floor(event.time / HOUR_MS);
        const late = cut > 0 && event.time - hour * HOUR_MS >= cut ? 1 : 0;
        let ofSubscription = groups.get(event.subscriptionUuid);
        if (ofSubscription === undefined) groups.set(event.subscriptionUuid, (ofSubscription = new Map()));
        const group = ofSubscription.get(hour * 2 + late);
        if (group === undefined) {
          const [from, to] = cut === 0 ? [0, HOUR_MS] : late === 1 ? [cut, HOUR_MS] : [0, cut];
          ofSubscription.set(hour * 2 + late, { subscriptionUuid: event.subscriptionUuid, apiUuid: event.apiUuid, hour, quantity: event.quantity, part: event.seq, from, to });
          parts += 1;
        } else {
          group.quantity += event.quantity;
          if (event.seq < group.part) group.part = event.seq;
        }
      }
      const last = page[page.length - 1]!.seq;
      if (parts >= maxParts && last < range.upTo) {
        yield { upTo: last, usage: flatten(groups) };
        groups = new Map();
        parts = 0;
      }
    }
    yield { upTo: range.upTo, usage: flatten(groups) };
  }

  async sliceUsage(range: PositionRange, slices: readonly UsageSlice[]): Promise<SliceUsage[]> {
    if (slices.length === 0) return [];
    const hours = new Set<number>();
    const bySubscription = new Map<string, UsageSlice[]>();
    for (const slice of slices) {
      for (let h = Math.floor(slice.start / HOUR_MS); h * HOUR_MS < slice.end; h += 1) hours.add(h);
      bySubscription.set(slice.subscriptionUuid, [...(bySubscription.get(slice.subscriptionUuid) ?? []), slice]);
    }
    const sums = new Map<UsageSlice, { quantity: number; part: number }>();
    for (const event of await this.events.eventsInHours(range, [...bySubscription.keys()], [...hours])) {
      const slice = bySubscription.get(event.subscriptionUuid)?.find((s) => event.time >= s.start && event.time < s.end);
      if (!slice) continue;
      const sum = sums.get(slice) ?? { quantity: 0, part: event.seq };
      sum.quantity += event.quantity;
      sum.part = Math.min(sum.part, event.seq);
      sums.set(slice, sum);
    }
    return [...sums].map(([slice, sum]) => ({ ...slice, ...sum }));
  }
}

/** A group of the events' GROUP BY as usage: its first SEQ is its part. */
function asHourlyUsage(group: { subscriptionUuid: string; apiUuid: string; hour: number; quantity: number; firstSeq: number }): HourlyUsage {
  return { subscriptionUuid: group.subscriptionUuid, apiUuid: group.apiUuid, hour: group.hour, quantity: group.quantity, part: group.firstSeq };
}

function flatten(groups: ReadonlyMap<string, ReadonlyMap<number, HourlyUsage>>): HourlyUsage[] {
  const usage: HourlyUsage[] = [];
  for (const ofSubscription of groups.values()) for (const group of ofSubscription.values()) usage.push(group);
  return usage;
}
