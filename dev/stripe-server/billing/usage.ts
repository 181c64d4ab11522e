import type { AccountState } from '../state/account-state';
import type { WireMeter } from '../wire';

/**
 * When usage becomes billable, as Stripe documents it.
 *
 * - Meter events are aggregated asynchronously: "Stripe processes meter events asynchronously, so
 *   aggregated usage in meter event summaries and on upcoming invoices might not immediately
 *   reflect recently received meter events"
 *   (https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage). Stripe states no
 *   bound; we model a small delay on the server's clock, counted from an event's receipt
 *   (`created`). A test that is not about aggregation may turn it off (0).
 * - A period's renewal invoice stays a draft for an hour: "All invoices have a default
 *   finalization grace period of 1 hour. During the finalization grace period, you can continue
 *   to report usage for the previous billing period. During finalization, Stripe updates the
 *   invoice to reflect the latest quantity"
 *   (https://docs.stripe.com/billing/subscriptions/usage-based/configure-grace-period,
 *   https://docs.stripe.com/billing/invoices/subscription#subscription-renewal).
 */
export interface BillingTiming {
  /** Seconds from a meter event's receipt until it counts in aggregates (previews, invoices). */
  aggregationDelaySeconds: number;
  /** Seconds a renewal invoice stays a draft after its period ends. */
  finalizationGraceSeconds: number;
}

/** Our assumption for Stripe's unstated aggregation latency: short, but never zero. */
export const DEFAULT_AGGREGATION_DELAY_SECONDS = 30;
/** Stripe's default finalization grace period (configure-grace-period, above). */
export const DEFAULT_FINALIZATION_GRACE_SECONDS = 3_600;

export function defaultBillingTiming(): BillingTiming {
  return { aggregationDelaySeconds: DEFAULT_AGGREGATION_DELAY_SECONDS, finalizationGraceSeconds: DEFAULT_FINALIZATION_GRACE_SECONDS };
}

/** The latest receipt time (`created`) of an event already aggregated at server time `now`. */
export function aggregatedUpTo(timing: BillingTiming, now: number): number {
  return now - timing.aggregationDelaySeconds;
}

/**
 * A meter's aggregated value for one customer over `[start, end)` (event
 * timestamps), by the meter's formula: `sum` of values, `count` of events, or
 * the `last` value (latest timestamp; latest received on ties). Events
 * received while the meter was inactive are not counted, as in Stripe; nor are
 * events received after `receivedUpTo` (still being aggregated).
 */
export function aggregateUsage(
  account: AccountState,
  meter: WireMeter,
  customerId: string,
  start: number,
  end: number,
  receivedUpTo = Number.POSITIVE_INFINITY,
): number {
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
      e.created <= receivedUpTo &&
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
