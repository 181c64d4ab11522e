import type { Knex } from 'knex';
import { HOUR_MS } from '../../src/usage/windows';

/**
 * Events and sums shared by the chunked-freeze suites (freeze-split's kill test, freeze-pipeline):
 * events out of time order over six hours from `hour` (as the bench's are: every chunk meets most
 * hours), and what a complete freeze must give back per subscription and hour.
 */
export function outOfOrderEvents(input: {
  kind: string;
  label: string;
  hour: number;
  subscriptions: readonly string[];
  count: number;
  quantity: (n: number) => number;
  /** Default: every event billable; the others are stored as not billable (no subscription). */
  billable?: (n: number) => boolean;
}): Array<Record<string, unknown>> {
  const { kind, label, hour, subscriptions, quantity, billable = () => true } = input;
  return Array.from({ length: input.count }, (_, n) => {
    const time = hour * HOUR_MS + ((n * 7_919_000) % (6 * HOUR_MS));
    const subscription = subscriptions[n % subscriptions.length]!;
    return {
      EVENT_ID: `${kind}-${label}-${n}`, EVENT_TIME: time, EVENT_HOUR: Math.floor(time / HOUR_MS), API_UUID: `api-${subscription}`, APPLICATION_UUID: 'app',
      SUBSCRIPTION_UUID: subscription, CONSUMER_KEY: null, TENANT_DOMAIN: 'carbon.super', HTTP_STATUS: 200, QUANTITY: quantity(n), RECEIVED_AT: 1,
      PUBLISH_STATE: billable(n) ? 1 : 0, NOT_BILLABLE: billable(n) ? null : 'NO_SUBSCRIPTION',
    };
  });
}

/** Per `subscription@hour`, the quantity of the billable events stored, in key order. */
export async function billableByHour(db: Knex): Promise<Map<string, number>> {
  const rows = (await db('ML_USAGE_EVENT').where({ PUBLISH_STATE: 1 }).select('SUBSCRIPTION_UUID', 'EVENT_HOUR', 'QUANTITY')) as Array<Record<string, unknown>>;
  return sumsByKey(rows.map((row) => [`${String(row.SUBSCRIPTION_UUID)}@${Number(row.EVENT_HOUR)}`, Number(row.QUANTITY)]));
}

/** Per `subscription@hour`, the quantity the records hold (one window per hour: the free engine has no cycles), in key order. */
export function frozenByHour(records: ReadonlyArray<Record<string, unknown>>): Map<string, number> {
  return sumsByKey(records.map((r) => [`${String(r.SUBSCRIPTION_UUID)}@${Number(r.WINDOW_START) / HOUR_MS}`, Number(r.QUANTITY)]));
}

function sumsByKey(entries: ReadonlyArray<readonly [string, number]>): Map<string, number> {
  const sums = new Map<string, number>();
  for (const [key, quantity] of entries) sums.set(key, (sums.get(key) ?? 0) + quantity);
  return new Map([...sums].sort());
}
