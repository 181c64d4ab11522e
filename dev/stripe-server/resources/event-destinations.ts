import { z } from 'zod';
import { newId, newSecret } from '../core/ids';
import { parameterInvalid } from '../http/errors';
import { parseParams } from '../http/params';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import type { EventDestinationState } from '../state/account-state';
import { API_VERSION_FORMAT } from '../webhooks/versions';

/**
 * Event destinations, the v2 way to receive events (https://docs.stripe.com/api/v2/core/event-destinations,
 * https://docs.stripe.com/event-destinations): thin events (`event_payload: thin`) reach only these,
 * never a v1 webhook endpoint. Requests carry JSON bodies (the pipeline decodes `/v2/` bodies as JSON).
 * Only the `webhook_endpoint` type is modelled; Amazon EventBridge and Azure Event Grid are refused.
 *
 * The signing secret is returned once, on create, and only when asked for with
 * `include: ['webhook_endpoint.signing_secret']`; the URL only with `include: ['webhook_endpoint.url']`
 * (stripe-node 23's EventDestinationCreateParams.Include / RetrieveParams.Include).
 */
const includeOnCreate = z.enum(['webhook_endpoint.signing_secret', 'webhook_endpoint.url']);
const includeOnRead = z.enum(['webhook_endpoint.url']);
const metadataSchema = z.record(z.string(), z.string());

const createSchema = z.strictObject({
  name: z.string().min(1),
  type: z.string(),
  event_payload: z.enum(['thin', 'snapshot']),
  enabled_events: z.array(z.string().min(1)).min(1),
  events_from: z.array(z.enum(['self', 'other_accounts'])).min(1).optional(),
  description: z.string().optional(),
  metadata: metadataSchema.optional(),
  snapshot_api_version: z.string().optional(),
  webhook_endpoint: z.strictObject({ url: z.string() }).optional(),
  include: z.array(includeOnCreate).optional(),
});
const updateSchema = z.strictObject({
  name: z.string().min(1).optional(),
  description: z.string().optional(),
  enabled_events: z.array(z.string().min(1)).min(1).optional(),
  metadata: metadataSchema.optional(),
  webhook_endpoint: z.strictObject({ url: z.string() }).optional(),
  include: z.array(includeOnRead).optional(),
});
/** GET query strings come form-encoded (`include[0]=...`), arrays as index-keyed objects. */
const indexed = <T extends z.ZodType>(item: T) =>
  z.union([z.array(item), z.record(z.string(), item).transform((o) => Object.values(o))]);
const readSchema = z.strictObject({ include: indexed(includeOnRead).optional() });
const listSchema = z.strictObject({
  include: indexed(includeOnRead).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
  page: z.string().optional(),
});

/** Thin event types are named `v1.…` / `v2.…`; the rest are snapshot (v1 `Event`) types. */
export function isThinEventType(type: string): boolean {
  return /^v\d+\./.test(type);
}

function checkUrl(url: string): void {
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw parameterInvalid('webhook_endpoint.url', `Invalid URL: ${url}`, 'url_invalid');
}

/** The object as the API shows it: the URL only when included, the secret never (but on create). */
function present(destination: EventDestinationState, include: readonly string[], secret?: string) {
  const { url, ...rest } = destination.object;
  const webhook: { url?: string; signing_secret?: string } = {};
  if (include.includes('webhook_endpoint.url')) webhook.url = url;
  if (secret !== undefined && include.includes('webhook_endpoint.signing_secret')) webhook.signing_secret = secret;
  return { ...rest, webhook_endpoint: webhook };
}

function create(ctx: RequestContext) {
  const p = parseParams(createSchema, ctx.params);
  if (p.type !== 'webhook_endpoint') throw parameterInvalid('type', `This server models only event destinations of type webhook_endpoint, not ${p.type}.`);
  if (!p.webhook_endpoint) throw parameterInvalid('webhook_endpoint', 'webhook_endpoint is required when type is webhook_endpoint.');
  checkUrl(p.webhook_endpoint.url);
  const thin = p.event_payload === 'thin';
  const wrongKind = p.enabled_events.find((type) => type !== '*' && isThinEventType(type) !== thin);
  if (wrongKind !== undefined) {
    throw parameterInvalid('enabled_events', `${wrongKind} is not a ${p.event_payload} event type; thin and snapshot events need separate event destinations.`);
  }
  if (thin && p.snapshot_api_version !== undefined) throw parameterInvalid('snapshot_api_version', 'snapshot_api_version applies only to snapshot event destinations.');
  if (p.snapshot_api_version !== undefined && !API_VERSION_FORMAT.test(p.snapshot_api_version)) {
    throw parameterInvalid('snapshot_api_version', `Invalid API version: ${p.snapshot_api_version}`);
  }
  const now = new Date(ctx.world.clock.now() * 1000).toISOString();
  const secret = newSecret('whsec');
  const destination: EventDestinationState = {
    object: {
      id: newId('ed_test'),
      object: 'v2.core.event_destination',
      created: now,
      description: p.description ?? '',
      enabled_events: p.enabled_events,
      event_payload: p.event_payload,
      events_from: p.events_from ?? ['self'],
      livemode: false,
      metadata: p.metadata ?? {},
      name: p.name,
      ...(thin ? {} : { snapshot_api_version: p.snapshot_api_version ?? null }),
      status: 'enabled',
      type: 'webhook_endpoint',
      updated: now,
      url: p.webhook_endpoint.url,
    },
    secret,
  };
  ctx.account.eventDestinations.insert({ id: destination.object.id, ...destination });
  return present(destination, p.include ?? [], secret);
}

function retrieve(ctx: RequestContext) {
  const p = parseParams(readSchema, ctx.params);
  return present(ctx.account.eventDestinations.require(pathParam(ctx, 'id')), p.include ?? []);
}

function update(ctx: RequestContext) {
  const destination = ctx.account.eventDestinations.require(pathParam(ctx, 'id'));
  const p = parseParams(updateSchema, ctx.params);
  const o = destination.object;
  if (p.webhook_endpoint) {
    checkUrl(p.webhook_endpoint.url);
    o.url = p.webhook_endpoint.url;
  }
  if (p.enabled_events) {
    const wrongKind = p.enabled_events.find((type) => type !== '*' && isThinEventType(type) !== (o.event_payload === 'thin'));
    if (wrongKind !== undefined) throw parameterInvalid('enabled_events', `${wrongKind} is not a ${o.event_payload} event type.`);
    o.enabled_events = p.enabled_events;
  }
  if (p.name !== undefined) o.name = p.name;
  if (p.description !== undefined) o.description = p.description;
  if (p.metadata !== undefined) o.metadata = { ...o.metadata, ...p.metadata };
  o.updated = new Date(ctx.world.clock.now() * 1000).toISOString();
  return present(destination, p.include ?? []);
}

function setStatus(status: 'enabled' | 'disabled') {
  return (ctx: RequestContext) => {
    const destination = ctx.account.eventDestinations.require(pathParam(ctx, 'id'));
    destination.object.status = status;
    destination.object.updated = new Date(ctx.world.clock.now() * 1000).toISOString();
    return present(destination, []);
  };
}

function remove(ctx: RequestContext) {
  const destination = ctx.account.eventDestinations.require(pathParam(ctx, 'id'));
  ctx.account.eventDestinations.delete(destination.id);
  return { id: destination.id, object: 'v2.core.event_destination', deleted: true };
}

/** v2 lists: `{ data, next_page_url, previous_page_url }`, the page token opaque to callers. */
function list(ctx: RequestContext) {
  const p = parseParams(listSchema, ctx.params);
  const limit = p.limit ?? 20;
  const start = p.page === undefined ? 0 : Number.parseInt(p.page, 36);
  if (!Number.isInteger(start) || start < 0) throw parameterInvalid('page', `Invalid page token: ${p.page}`);
  const all = ctx.account.eventDestinations.newestFirst();
  const data = all.slice(start, start + limit).map((d) => present(d, p.include ?? []));
  const pageUrl = (offset: number) => `/v2/core/event_destinations?limit=${limit}&page=${offset.toString(36)}`;
  return {
    data,
    next_page_url: start + limit < all.length ? pageUrl(start + limit) : null,
    previous_page_url: start > 0 ? pageUrl(Math.max(0, start - limit)) : null,
  };
}

export const eventDestinationRoutes: Route[] = [
  route('POST', '/v2/core/event_destinations', create),
  route('GET', '/v2/core/event_destinations', list),
  route('GET', '/v2/core/event_destinations/:id', retrieve),
  route('POST', '/v2/core/event_destinations/:id', update),
  route('POST', '/v2/core/event_destinations/:id/enable', setStatus('enabled')),
  route('POST', '/v2/core/event_destinations/:id/disable', setStatus('disabled')),
  route('DELETE', '/v2/core/event_destinations/:id', remove),
];
