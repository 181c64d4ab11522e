import type { AccountState } from '../state/account-state';
import type { WireMeter } from '../wire';

/**
 * A meter's aggregated value for one customer over `[start, end)` (event
 * timestamps), by the meter's formula: `sum` of values, `count` of events, or
 * the `last` value (latest timestamp; latest received on ties). Events
 * received while the meter was inactive are not counted, as in Stripe.
 */
export function aggregateUsage(account: AccountState, meter: WireMeter, customerId: string, start: number, end: number): number {
  const customerKey = meter.customer_mapping.event_payload_key;
  const valueKey = meter.value_settings.event_payload_key;
  const deactivatedAt = meter.status_transitions.deactivated_at;
  const events = account.meterEvents.filter(
    (e) =>
      e.event_name === meter.event_name &&
      e.payload[customerKey] === customerId &&
      e.timestamp >= start &&
      e.timestamp < end &&
      e.created >= meter.created &&
      (deactivatedAt === null || e.created < deactivatedAt),
  );
  switch (meter.default_aggregation.formula) {
    case 'count':
      return events.length;
    case 'last': {
      let latest: (typeof events)[number] | undefined;
      for (const e of events) if (!latest || e.timestamp >= latest.timestamp) latest = e;
      return latest ? Number(latest.payload[valueKey] ?? 0) : 0;
    }
    default:
      return events.reduce((total, e) => total + Number(e.payload[valueKey] ?? 0), 0);
  }
}
