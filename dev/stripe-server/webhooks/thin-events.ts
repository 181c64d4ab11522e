/**
 * Thin events: the v2 event notifications Stripe sends for some v1 resources, e.g.
 * `v1.billing.meter.error_report_triggered` ("Occurs when a Meter has invalid async usage
 * events": https://docs.stripe.com/api/v2/core/events/event-types). A delivery carries only the
 * notification (id, type, `related_object`, `context`: the connected account it concerns); its
 * `data` is "included in the event's data when fetched from /v2/events", so the receiver fetches
 * `GET /v2/core/events/:id` (https://docs.stripe.com/event-destinations#thin-payload).
 */
export interface ThinEvent {
  id: string;
  object: 'v2.core.event';
  type: string;
  livemode: false;
  /** ISO 8601, as v2 objects give times. */
  created: string;
  /** The connected account the event concerns; absent for the platform's own. */
  context?: string;
  related_object: { id: string; type: string; url: string } | null;
  reason: { type: 'request'; request: { id: string; idempotency_key: string | null } } | null;
}

/** The event as `GET /v2/core/events/:id` returns it: the notification plus its `data`. */
export interface FullThinEvent extends ThinEvent {
  data: unknown;
}

/** One invalid meter event, as a meter error report lists it (`reason.error_types[]`). */
export interface MeterEventError {
  /** `meter_event_customer_not_found`, `archived_meter`, ... (stripe-node's ErrorType.Code). */
  code: string;
  message: string;
  /** The meter event's `identifier`. */
  identifier: string;
}

/**
 * How many `sample_errors` a report lists per error code. Stripe calls them "A list of sample
 * errors of this type" (stripe-node's V1BillingMeterErrorReportTriggeredEvent.Data.Reason.ErrorType)
 * and documents no size; its example lists one. This server lists the first five, so a report
 * can count more errors than it names, as Stripe's can.
 */
export const SAMPLE_ERRORS_PER_CODE = 5;

/**
 * `data` of `v1.billing.meter.error_report_triggered` (stripe-node's
 * V1BillingMeterErrorReportTriggeredEvent.Data; the example event at
 * https://docs.stripe.com/api/v2/core/events/object): the errors of one meter's validation window,
 * counted in all (`reason.error_count`) and by code (`error_types[].error_count`), each code with
 * up to SAMPLE_ERRORS_PER_CODE samples naming the failing event's identifier.
 */
export function meterErrorReportData(errors: readonly MeterEventError[], windowStart: number, windowEnd: number) {
  const codes = [...new Set(errors.map((e) => e.code))];
  return {
    developer_message_summary: `There ${errors.length === 1 ? 'is 1 invalid event' : `are ${errors.length} invalid events`}`,
    reason: {
      error_count: errors.length,
      error_types: codes.map((code) => {
        const ofCode = errors.filter((e) => e.code === code);
        return {
          code,
          error_count: ofCode.length,
          sample_errors: ofCode.slice(0, SAMPLE_ERRORS_PER_CODE).map((e) => ({ error_message: e.message, request: { identifier: e.identifier } })),
        };
      }),
    },
    validation_start: new Date(windowStart * 1000).toISOString(),
    validation_end: new Date(windowEnd * 1000).toISOString(),
  };
}
