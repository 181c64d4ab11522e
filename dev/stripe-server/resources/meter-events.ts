import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { invalidState, parameterInvalid, type StripeApiError } from '../http/errors';
import { expand, int, parseParams, str } from '../http/params';
import { route, type RequestContext, type Route } from '../http/route';
import type { AccountState } from '../state/account-state';
import type { World } from '../state/world';
import type { WireMeter, WireMeterEvent } from '../wire';
import { meterErrorReportData, type MeterEventError } from '../webhooks/thin-events';
import { render } from './common';

const createSchema = z.strictObject({
  event_name: str(),
  payload: z.record(z.string(), z.string()),
  identifier: str().optional(),
  timestamp: int().optional(),
  expand: expand(),
});

const PAST_WINDOW_SECONDS = 35 * 86_400;
/**
 * Stripe "will enforce uniqueness within a rolling period of at least 24 hours"
 * (https://docs.stripe.com/api/billing/meter-event/create, `identifier`); this
 * server remembers an identifier for exactly that long on its own clock, then
 * forgets it, so tests can reach the day after.
 */
export const IDENTIFIER_MEMORY_SECONDS = 86_400;
const FUTURE_WINDOW_SECONDS = 5 * 60;
const WHOLE_NUMBER = /^-?\d+$/;

/**
 * `POST /v1/billing/meter_events`. Checked synchronously, as Stripe does:
 * the timestamp window (35 days back, 5 minutes ahead of the server clock),
 * identifiers seen in the last 24 h, and — when an active meter listens for the event
 * name — the customer key and a whole-number value. What Stripe finds wrong
 * only later (`asyncFailure`) is accepted, never counted, and reported.
 */
function create(ctx: RequestContext): WireMeterEvent {
  const p = parseParams(createSchema, ctx.params);
  const now = ctx.world.clock.now();
  // Windows the clock has moved past are reported before this event can join a new one.
  reportMeterErrors(ctx.world, now);
  const timestamp = p.timestamp ?? now;
  if (timestamp < now - PAST_WINDOW_SECONDS) {
    throw parameterInvalid('timestamp', 'Timestamp must be within the past 35 calendar days.');
  }
  if (timestamp > now + FUTURE_WINDOW_SECONDS) {
    throw parameterInvalid('timestamp', 'Timestamp must not be more than 5 minutes in the future.');
  }
  const meter = ctx.account.meters.all().find((m) => m.event_name === p.event_name && m.status === 'active');
  if (meter) {
    const customerKey = meter.customer_mapping.event_payload_key;
    const valueKey = meter.value_settings.event_payload_key;
    if (p.payload[customerKey] === undefined) {
      throw parameterInvalid(`payload[${customerKey}]`, `Missing required param: payload[${customerKey}].`, 'parameter_missing');
    }
    const value = p.payload[valueKey];
    if (meter.default_aggregation.formula !== 'count' && value === undefined) {
      throw parameterInvalid(`payload[${valueKey}]`, `Missing required param: payload[${valueKey}].`, 'parameter_missing');
    }
    if (value !== undefined && !WHOLE_NUMBER.test(value)) {
      throw parameterInvalid(`payload[${valueKey}]`, `Meter event values must be whole numbers; got '${value}'.`);
    }
  }
  const identifier = p.identifier ?? randomUUID();
  const seenAt = ctx.account.meterEventIdentifiers.get(identifier);
  if (seenAt !== undefined && now - seenAt < IDENTIFIER_MEMORY_SECONDS) throw duplicateIdentifier(identifier);
  const event: WireMeterEvent = {
    object: 'billing.meter_event',
    created: now,
    event_name: p.event_name,
    identifier,
    livemode: false,
    payload: p.payload,
    timestamp,
  };
  ctx.account.meterEventIdentifiers.set(identifier, now);
  const failure = asyncFailure(ctx, p.event_name, p.payload, identifier);
  if (failure) holdMeterError(ctx, failure.meter, failure.error);
  else ctx.account.meterEvents.push(event);
  return render(ctx, event, p.expand);
}

/**
 * What Stripe finds wrong with an accepted event only while processing it, asynchronously
 * ("Events are validated synchronously, but are processed asynchronously":
 * https://docs.stripe.com/api/v2/billing/meter-events/create): a customer the account does not
 * have, or a meter that was deactivated. Such an event is never counted and is reported in a
 * `v1.billing.meter.error_report_triggered` event ("Occurs when a Meter has invalid async usage
 * events": https://docs.stripe.com/api/v2/core/events/event-types; meters:
 * https://docs.stripe.com/billing/subscriptions/usage-based/meters/configure), with the error
 * codes of stripe-node's V1BillingMeterErrorReportTriggeredEvent. An event no meter
 * (active or not) listens for is not counted and not reported here (Stripe reports that as
 * `v1.billing.meter.no_meter_found`).
 */
export function asyncFailure(
  ctx: RequestContext,
  eventName: string,
  payload: Record<string, string>,
  identifier: string,
): { meter: WireMeter; error: MeterEventError } | null {
  const meters = ctx.account.meters.all().filter((m) => m.event_name === eventName);
  const active = meters.find((m) => m.status === 'active');
  if (!active) {
    const inactive = meters.at(-1);
    if (!inactive) return null;
    return { meter: inactive, error: { code: 'archived_meter', message: `The meter ${inactive.id} is inactive.`, identifier } };
  }
  const customerId = payload[active.customer_mapping.event_payload_key]!;
  const customer = ctx.account.customers.get(customerId) as { deleted?: boolean } | undefined;
  if (customer && !customer.deleted) return null;
  return { meter: active, error: { code: 'meter_event_customer_not_found', message: `No customer found with id '${customerId}'.`, identifier } };
}

/**
 * The length of a meter error report's validation window. Stripe states none; the example
 * `v1.billing.meter.error_report_triggered` event in its API reference
 * (https://docs.stripe.com/api/v2/core/events/object) covers ten seconds
 * (`validation_start` 17:46:10, `validation_end` 17:46:20), so this server's windows are ten
 * seconds of its clock.
 */
export const METER_ERROR_WINDOW_SECONDS = 10;

/** A meter's errors in one validation window, not yet reported. */
interface OpenWindow {
  meter: WireMeter;
  start: number;
  errors: MeterEventError[];
}

/** Per account (so a reset, which replaces the accounts, drops them too). */
const openWindows = new WeakMap<AccountState, OpenWindow[]>();

/**
 * Stripe does not report each invalid event: it groups a meter's errors over a validation window
 * and sends one `v1.billing.meter.error_report_triggered` per meter and window, counting the
 * errors by code and listing a few samples (thin-events.ts). The error waits in its meter's open
 * window until the window is reported (`reportMeterErrors`).
 */
export function holdMeterError(ctx: RequestContext, meter: WireMeter, error: MeterEventError): void {
  const now = ctx.world.clock.now();
  // Whichever route the event came by (v1 meter events, the v2 stream), windows the clock has
  // passed are reported before this error opens a new one.
  reportMeterErrors(ctx.world, now);
  const start = Math.floor(now / METER_ERROR_WINDOW_SECONDS) * METER_ERROR_WINDOW_SECONDS;
  const windows = openWindows.get(ctx.account) ?? [];
  openWindows.set(ctx.account, windows);
  const open = windows.find((w) => w.meter.id === meter.id && w.start === start);
  if (open) open.errors.push(error);
  else windows.push({ meter, start, errors: [error] });
}

/**
 * Reports the open meter error windows that ended by `endedBy` (server time), or every open
 * window when it is absent: one thin event per meter and window, caused by no request (its
 * `reason` is null, as in Stripe's example). The server's clock stands still unless a test moves
 * it, so flushing webhooks (server.ts) reports every open window: it stands for Stripe having
 * finished its asynchronous processing.
 */
export function reportMeterErrors(world: World, endedBy?: number): void {
  for (const account of world.registry.all()) {
    const windows = openWindows.get(account);
    if (!windows) continue;
    const due = windows.filter((w) => endedBy === undefined || w.start + METER_ERROR_WINDOW_SECONDS <= endedBy);
    if (due.length === 0) continue;
    openWindows.set(account, windows.filter((w) => !due.includes(w)));
    world.events.within(null, () => {
      for (const w of due) {
        world.events.emitThin(
          account,
          'v1.billing.meter.error_report_triggered',
          { id: w.meter.id, type: 'billing.meter', url: `/v1/billing/meters/${w.meter.id}` },
          meterErrorReportData(w.errors, w.start, w.start + METER_ERROR_WINDOW_SECONDS),
        );
      }
    });
  }
}

/**
 * Stripe's answer to an identifier it still remembers, as integrators report it from
 * production (https://github.com/langfuse/langfuse/pull/16292): a 400
 * `invalid_request_error` "An event already exists with identifier <id>." with no `code`
 * and no `param` (and `Stripe-Should-Retry: false`) — not `resource_already_exists`.
 */
function duplicateIdentifier(identifier: string): StripeApiError {
  return invalidState(`An event already exists with identifier ${identifier}.`);
}

export const meterEventRoutes: Route[] = [route('POST', '/v1/billing/meter_events', create)];
