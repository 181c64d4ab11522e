import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { invalidState, parameterInvalid, type StripeApiError } from '../http/errors';
import { expand, int, parseParams, str } from '../http/params';
import { route, type RequestContext, type Route } from '../http/route';
import type { WireMeterEvent } from '../wire';
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
 * name — the customer key and a whole-number value. An event whose name no
 * meter listens for is accepted and simply never counted (Stripe reports that
 * asynchronously).
 */
function create(ctx: RequestContext): WireMeterEvent {
  const p = parseParams(createSchema, ctx.params);
  const now = ctx.world.clock.now();
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
  ctx.account.meterEvents.push(event);
  return render(ctx, event, p.expand);
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
