import { z } from 'zod';
import { newId } from '../core/ids';
import { invalidState, parameterInvalid } from '../http/errors';
import { paginate } from '../http/list';
import { expand, int, oneOf, paginationShape, parseParams, str } from '../http/params';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import { aggregateUsage, aggregatedUpTo } from '../billing/usage';
import type { WireMeter, WireMeterEventSummary } from '../wire';
import { listUrl, render } from './common';

const createSchema = z.strictObject({
  display_name: str(),
  event_name: str(),
  default_aggregation: z.strictObject({ formula: oneOf(['count', 'last', 'sum']) }),
  customer_mapping: z.strictObject({ event_payload_key: str(), type: oneOf(['by_id']) }).optional(),
  value_settings: z.strictObject({ event_payload_key: str() }).optional(),
  event_time_window: oneOf(['day', 'hour']).optional(),
  expand: expand(),
});

const updateSchema = z.strictObject({ display_name: str().optional(), expand: expand() });
const retrieveSchema = z.strictObject({ expand: expand() });
const listSchema = z.strictObject({ ...paginationShape, status: oneOf(['active', 'inactive']).optional() });
const summariesSchema = z.strictObject({
  ...paginationShape,
  customer: str(),
  start_time: int(),
  end_time: int(),
  value_grouping_window: oneOf(['day', 'hour']).optional(),
});

function create(ctx: RequestContext): WireMeter {
  const p = parseParams(createSchema, ctx.params);
  const clash = ctx.account.meters.all().find((m) => m.event_name === p.event_name && m.status === 'active');
  if (clash) {
    throw invalidState(
      `An active meter with event_name \`${p.event_name}\` already exists: ${clash.id}.`,
      undefined,
      'event_name',
    );
  }
  const now = ctx.world.clock.now();
  const meter: WireMeter = {
    id: newId('mtr', 24),
    object: 'billing.meter',
    created: now,
    customer_mapping: p.customer_mapping ?? { event_payload_key: 'stripe_customer_id', type: 'by_id' },
    default_aggregation: { formula: p.default_aggregation.formula },
    display_name: p.display_name,
    event_name: p.event_name,
    event_time_window: p.event_time_window ?? null,
    livemode: false,
    status: 'active',
    status_transitions: { deactivated_at: null },
    updated: now,
    value_settings: p.value_settings ?? { event_payload_key: 'value' },
  };
  ctx.account.meters.insert(meter);
  ctx.world.events.emit(ctx.account, 'billing.meter.created', meter);
  return render(ctx, meter, p.expand);
}

function retrieve(ctx: RequestContext): WireMeter {
  const p = parseParams(retrieveSchema, ctx.params);
  return render(ctx, ctx.account.meters.require(pathParam(ctx, 'id')), p.expand);
}

/** Meters are immutable except for their display name. */
function update(ctx: RequestContext): WireMeter {
  const meter = ctx.account.meters.require(pathParam(ctx, 'id'));
  const p = parseParams(updateSchema, ctx.params);
  if (p.display_name !== undefined) meter.display_name = p.display_name;
  meter.updated = ctx.world.clock.now();
  ctx.world.events.emit(ctx.account, 'billing.meter.updated', meter);
  return render(ctx, meter, p.expand);
}

function setStatus(ctx: RequestContext, status: 'active' | 'inactive'): WireMeter {
  const meter = ctx.account.meters.require(pathParam(ctx, 'id'));
  const p = parseParams(retrieveSchema, ctx.params);
  if (meter.status === status) {
    throw invalidState(`This meter is already ${status}.`);
  }
  const now = ctx.world.clock.now();
  meter.status = status;
  meter.status_transitions = { deactivated_at: status === 'inactive' ? now : null };
  meter.updated = now;
  ctx.world.events.emit(ctx.account, status === 'inactive' ? 'billing.meter.deactivated' : 'billing.meter.reactivated', meter);
  return render(ctx, meter, p.expand);
}

function listMeters(ctx: RequestContext) {
  const p = parseParams(listSchema, ctx.params);
  const matches = ctx.account.meters.newestFirst((m) => p.status === undefined || m.status === p.status);
  return render(ctx, paginate(matches, p, listUrl(ctx), 'billing meter'), p.expand);
}

const WINDOW_SECONDS = { hour: 3_600, day: 86_400 } as const;

/**
 * Aggregated usage for one customer over `[start_time, end_time)`: one summary
 * for the whole range, or one per hour/day with `value_grouping_window`
 * (newest first, like Stripe). Bounds must sit on minute boundaries (and on
 * window boundaries when grouping), as Stripe requires. Like previews and invoices, summaries
 * count only events already aggregated: "Stripe processes meter events asynchronously, so
 * aggregated usage in meter event summaries and on upcoming invoices might not immediately
 * reflect recently received meter events"
 * (https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage); an event counts
 * once the aggregation delay has passed on the server's clock since it was received.
 */
function eventSummaries(ctx: RequestContext) {
  const meter = ctx.account.meters.require(pathParam(ctx, 'id'));
  const p = parseParams(summariesSchema, ctx.params);
  ctx.account.customers.require(p.customer, 'customer');
  const alignment = p.value_grouping_window ? WINDOW_SECONDS[p.value_grouping_window] : 60;
  for (const [param, value] of [['start_time', p.start_time], ['end_time', p.end_time]] as const) {
    if (value % alignment !== 0) {
      throw parameterInvalid(param, `${param} must be aligned to ${p.value_grouping_window ?? 'minute'} boundaries.`);
    }
  }
  if (p.end_time <= p.start_time) throw parameterInvalid('end_time', 'end_time must be after start_time.');
  const receivedUpTo = aggregatedUpTo(ctx.world.billingTiming, ctx.world.clock.now());
  const windows: Array<[number, number]> = [];
  const step = p.value_grouping_window ? WINDOW_SECONDS[p.value_grouping_window] : p.end_time - p.start_time;
  for (let start = p.start_time; start < p.end_time; start += step) {
    windows.push([start, Math.min(start + step, p.end_time)]);
  }
  const summaries: WireMeterEventSummary[] = windows.reverse().map(([start, end]) => ({
    id: `mtrusg_${meter.id.slice(4)}_${start}`,
    object: 'billing.meter_event_summary',
    aggregated_value: aggregateUsage(ctx.account, meter, p.customer, start, end, receivedUpTo),
    end_time: end,
    livemode: false,
    meter: meter.id,
    start_time: start,
  }));
  return render(ctx, paginate(summaries, p, listUrl(ctx), 'billing meter event summary'), p.expand);
}

export const meterRoutes: Route[] = [
  route('POST', '/v1/billing/meters', create),
  route('GET', '/v1/billing/meters', listMeters),
  route('GET', '/v1/billing/meters/:id', retrieve),
  route('POST', '/v1/billing/meters/:id', update),
  route('POST', '/v1/billing/meters/:id/deactivate', (ctx) => setStatus(ctx, 'inactive')),
  route('POST', '/v1/billing/meters/:id/reactivate', (ctx) => setStatus(ctx, 'active')),
  route('GET', '/v1/billing/meters/:id/event_summaries', eventSummaries),
];
