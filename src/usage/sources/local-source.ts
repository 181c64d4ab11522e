import { EventStore } from '../event-store';
import { HOUR_MS } from '../windows';
import type { HourlyUsage, PositionRange, SliceUsage, UsageSlice, UsageSource, UsageSourceContext } from './usage-source';

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
    return (await this.events.hourlyUsage(range)).map(({ firstSeq, ...usage }) => ({ ...usage, part: firstSeq }));
  }

  /**
   * The range's events read a page at a time in SEQ order and grouped here, per subscription, API
   * and hour, each hour in two parts at the subscription's cut offset: one read, no sort, one
   * entry per part of an hour. Where the database groups as fast as its rows can be read
   * (PostgreSQL, SQLite) it is `hourlyUsage`, and the cut hours are sliced.
   */
  async splitHourlyUsage(range: PositionRange, cutOffsets: (subscriptionUuids: readonly string[]) => Promise<ReadonlyMap<string, number>>): Promise<HourlyUsage[]> {
    if (!this.events.groupsInMemory()) return this.hourlyUsage(range);
    const offsets = new Map<string, number>();
    // Per subscription, its parts by hour * 2 + (0: before the offset, 1: from it).
    const groups = new Map<string, Map<number, HourlyUsage>>();
    for await (const page of this.events.billableEvents(range)) {
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
        } else {
          group.quantity += event.quantity;
          if (event.seq < group.part) group.part = event.seq;
        }
      }
    }
    const usage: HourlyUsage[] = [];
    for (const ofSubscription of groups.values()) for (const group of ofSubscription.values()) usage.push(group);
    return usage;
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
