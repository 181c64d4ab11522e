import type { Knex } from 'knex';
import type { SubscriptionRef } from '../domain/model';
import type { Monetization } from '../monetization/monetization';
import { BillingCycles } from '../usage/billing-cycles';
import { EventStore } from '../usage/event-store';
import { RecordStore } from '../usage/record-store';
import { SourcePositions } from '../usage/source-positions';
import { periodBoundary, type CycleSpec } from '../usage/windows';

/** A billing period, [start, end). */
export interface SpendPeriod {
  start: Date;
  end: Date;
}

/** What the spend watcher asks of billing cycles and usage. */
export interface SpendUsage {
  /** The subscription's billing period containing `at` (the engine's cycle); null when the engine does not bill it. */
  periodOf(subscription: SubscriptionRef, at: Date): Promise<SpendPeriod | null>;
  /** The subscription's billable calls stamped in the period so far, frozen or not yet. */
  callsIn(subscriptionUuid: string, period: SpendPeriod): Promise<bigint>;
}

/**
 * The usage part's owners read as the spend watcher needs: the cycle the usage publisher keeps
 * (asked of the engine's `billingCycleOf` once per subscription), the usage records whose window
 * starts in the period (windows are split at period boundaries, so a record belongs to one period;
 * every state counts, as for own invoices: the records are the exactly-once usage), plus the
 * billable events after the source's frozen position stamped in the period (not frozen yet, so in
 * no record). Records are read before the position: a freeze in between can only leave calls
 * uncounted until the next evaluation, never count them twice (a cap is never reached early).
 */
export function spendUsageOf(db: Knex, engine: Monetization, sourceName: string): SpendUsage {
  const cycles = new BillingCycles(db, engine);
  const records = new RecordStore(db);
  const positions = new SourcePositions(db);
  const events = new EventStore(db);
  return {
    async periodOf(subscription, at) {
      const cycle = (await cycles.known([subscription.uuid])).get(subscription.uuid) ?? (await cycles.fetch(subscription, at.getTime()));
      return cycle ? periodContaining(cycle, at.getTime()) : null;
    },
    async callsIn(subscriptionUuid, period) {
      const from = period.start.getTime();
      const to = period.end.getTime();
      const frozen = await records.list({ subscriptionUuid, windowsFrom: from, windowsTo: to });
      const position = (await positions.read(sourceName)) ?? 0;
      const unfrozen = await events.billableCallsAfter(position, subscriptionUuid, from, to);
      return frozen.reduce((sum, record) => sum + BigInt(record.quantity), 0n) + BigInt(unfrozen);
    },
  };
}

const APPROX_MS = { day: 86_400_000, week: 604_800_000, month: 2_592_000_000, year: 31_536_000_000 } as const;

/** The period of `cycle` containing `at`: [the last boundary at or before it, the next). */
export function periodContaining(cycle: CycleSpec, at: number): SpendPeriod {
  let index = Math.floor((at - cycle.anchorMs) / (APPROX_MS[cycle.interval] * cycle.intervalCount));
  while (periodBoundary(cycle, index) > at) index -= 1;
  while (periodBoundary(cycle, index + 1) <= at) index += 1;
  return { start: new Date(periodBoundary(cycle, index)), end: new Date(periodBoundary(cycle, index + 1)) };
}
