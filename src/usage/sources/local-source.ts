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
