import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { invalidState, parameterInvalid } from '../http/errors';
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
const FUTURE_WINDOW_SECONDS = 5 * 60;
const WHOLE_NUMBER = /^-?\d+$/;

/**
 * `POST /v1/billing/meter_events`. Checked synchronously, as Stripe does:
 * the timestamp window (35 days back, 5 minutes ahead of the server clock),
 * duplicate identifiers, and — when an active meter listens for the event
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
  if (ctx.account.meterEventIdentifiers.has(identifier)) {
    throw invalidState(
      `An event with identifier '${identifier}' already exists. Identifiers must be unique.`,
      'resource_already_exists',
      'identifier',
    );
  }
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

export const meterEventRoutes: Route[] = [route('POST', '/v1/billing/meter_events', create)];
