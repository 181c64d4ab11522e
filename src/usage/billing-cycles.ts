import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/errors';
import { BILLING_CYCLES, type SubscriptionRef } from '../domain/model';
import type { Monetization } from '../monetization/monetization';
import type { CycleSpec } from './windows';

export const CYCLE_TABLE = 'ML_USAGE_BILLING_CYCLE';

/**
 * Each subscription's billing cycle, asked of the engine once and kept in ML_USAGE_BILLING_CYCLE
 * (a cycle anchor does not move for the life of a subscription, as Meterline never re-anchors).
 */
export class BillingCycles {
  constructor(
    private readonly db: Knex,
    private readonly engine: Monetization,
  ) {}

  async known(uuids: readonly string[]): Promise<Map<string, CycleSpec>> {
    const found = new Map<string, CycleSpec>();
    for (let i = 0; i < uuids.length; i += 500) {
      addRows(found, await this.db(CYCLE_TABLE).whereIn('SUBSCRIPTION_UUID', uuids.slice(i, i + 500)));
    }
    return found;
  }

  /** Every cycle known: the subscriptions the publisher has billed usage of. */
  async all(): Promise<Map<string, CycleSpec>> {
    const found = new Map<string, CycleSpec>();
    addRows(found, await this.db(CYCLE_TABLE).select('SUBSCRIPTION_UUID', 'ANCHOR_MS', 'INTERVAL_UNIT', 'INTERVAL_COUNT'));
    return found;
  }

  /** Asks the engine and remembers the answer; null when the engine does not bill the subscription. */
  async fetch(subscription: SubscriptionRef, now: number): Promise<CycleSpec | null> {
    const cycle = await this.engine.billingCycleOf(subscription);
    if (!cycle) return null;
    const spec: CycleSpec = { anchorMs: cycle.anchor.getTime(), interval: cycle.interval, intervalCount: cycle.intervalCount };
    try {
      await this.db(CYCLE_TABLE).insert({
        SUBSCRIPTION_UUID: subscription.uuid,
        ANCHOR_MS: spec.anchorMs,
        INTERVAL_UNIT: spec.interval,
        INTERVAL_COUNT: spec.intervalCount,
        FETCHED_AT: now,
      });
    } catch (error) {
      // Another fetch of the same subscription stored it first: the engine's answer is the same.
      if (!isUniqueViolation(error)) throw error;
      if (!(await this.db(CYCLE_TABLE).where({ SUBSCRIPTION_UUID: subscription.uuid }).first('SUBSCRIPTION_UUID'))) throw error;
    }
    return spec;
  }
}

function addRows(found: Map<string, CycleSpec>, rows: ReadonlyArray<Record<string, unknown>>): void {
  for (const row of rows) {
    const interval = BILLING_CYCLES.find((c) => c === row.INTERVAL_UNIT);
    if (!interval) continue;
    found.set(String(row.SUBSCRIPTION_UUID), { anchorMs: Number(row.ANCHOR_MS), interval, intervalCount: Number(row.INTERVAL_COUNT) });
  }
}
