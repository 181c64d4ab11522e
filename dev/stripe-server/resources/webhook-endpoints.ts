import { z } from 'zod';
import { newId, newSecret } from '../core/ids';
import { parameterInvalid } from '../http/errors';
import { paginate } from '../http/list';
import { bool, expand, list, metadata, paginationShape, parseParams, str } from '../http/params';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import type { WireWebhookEndpoint } from '../wire';
import { emptyToNull, initialMetadata, listUrl, mergeMetadata, render } from './common';
import { API_VERSION_FORMAT } from '../webhooks/versions';
import { isThinEventType } from './event-destinations';

const createSchema = z.strictObject({
  url: str(),
  enabled_events: list(str()),
  api_version: str().optional(),
  connect: bool().optional(),
  description: str().optional(),
  metadata: metadata().optional(),
  expand: expand(),
});
const updateSchema = z.strictObject({
  url: str().optional(),
  enabled_events: list(str()).optional(),
  description: str().optional(),
  disabled: bool().optional(),
  metadata: metadata().optional(),
  expand: expand(),
});
const retrieveSchema = z.strictObject({ expand: expand() });
const listSchema = z.strictObject({ ...paginationShape });

function checkUrl(url: string, param: string): void {
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw parameterInvalid(param, `Invalid URL: ${url}`, 'url_invalid');
}

/**
 * A v1 endpoint's `enabled_events` is an enum of snapshot event types; thin event types
 * (`v1.billing.meter.error_report_triggered`) reach only event destinations
 * (https://docs.stripe.com/api/webhook_endpoints/create, https://docs.stripe.com/event-destinations).
 */
function refuseThinEvents(types: readonly string[]): void {
  const index = types.findIndex(isThinEventType);
  if (index >= 0) {
    throw parameterInvalid(`enabled_events[${index}]`, `Invalid enabled_events[${index}]: ${types[index]} is a thin event type; thin events are sent only to event destinations (POST /v2/core/event_destinations).`);
  }
}

/**
 * Creates an endpoint; only this response carries the signing `secret` (`whsec_...`), as in Stripe.
 * `api_version` is the version its events are rendered at; without one it stays null and its
 * events come at the account's default version (https://docs.stripe.com/api/webhook_endpoints/object,
 * https://docs.stripe.com/webhooks/versioning).
 */
function create(ctx: RequestContext): WireWebhookEndpoint {
  const p = parseParams(createSchema, ctx.params);
  checkUrl(p.url, 'url');
  if (p.api_version !== undefined && !API_VERSION_FORMAT.test(p.api_version)) {
    throw parameterInvalid('api_version', `Invalid API version: ${p.api_version}`);
  }
  if (p.enabled_events.length === 0) throw parameterInvalid('enabled_events', 'enabled_events must contain at least one event type.');
  refuseThinEvents(p.enabled_events);
  const secret = newSecret('whsec');
  const endpoint: WireWebhookEndpoint = {
    id: newId('we'),
    object: 'webhook_endpoint',
    api_version: p.api_version ?? null,
    application: null,
    created: ctx.world.clock.now(),
    description: p.description ?? null,
    enabled_events: p.enabled_events,
    livemode: false,
    metadata: initialMetadata(p.metadata),
    status: 'enabled',
    url: p.url,
  };
  ctx.account.webhookEndpoints.insert(endpoint);
  ctx.account.endpointSecrets.set(endpoint.id, secret);
  if (p.connect) ctx.account.connectEndpoints.add(endpoint.id);
  return render(ctx, { ...endpoint, secret }, p.expand);
}

function retrieve(ctx: RequestContext): WireWebhookEndpoint {
  const p = parseParams(retrieveSchema, ctx.params);
  return render(ctx, ctx.account.webhookEndpoints.require(pathParam(ctx, 'id')), p.expand);
}

function update(ctx: RequestContext): WireWebhookEndpoint {
  const endpoint = ctx.account.webhookEndpoints.require(pathParam(ctx, 'id'));
  const p = parseParams(updateSchema, ctx.params);
  if (p.url !== undefined) {
    checkUrl(p.url, 'url');
    endpoint.url = p.url;
  }
  if (p.enabled_events !== undefined) {
    refuseThinEvents(p.enabled_events);
    endpoint.enabled_events = p.enabled_events;
  }
  if (p.description !== undefined) endpoint.description = emptyToNull(p.description, null);
  if (p.disabled !== undefined) endpoint.status = p.disabled ? 'disabled' : 'enabled';
  if (p.metadata !== undefined) endpoint.metadata = mergeMetadata(endpoint.metadata, p.metadata);
  return render(ctx, endpoint, p.expand);
}

function remove(ctx: RequestContext) {
  const endpoint = ctx.account.webhookEndpoints.require(pathParam(ctx, 'id'));
  ctx.account.webhookEndpoints.delete(endpoint.id);
  ctx.account.connectEndpoints.delete(endpoint.id);
  ctx.account.endpointSecrets.delete(endpoint.id);
  return { id: endpoint.id, object: 'webhook_endpoint' as const, deleted: true as const };
}

function listEndpoints(ctx: RequestContext) {
  const p = parseParams(listSchema, ctx.params);
  return render(ctx, paginate(ctx.account.webhookEndpoints.newestFirst(), p, listUrl(ctx), 'webhook endpoint'), p.expand);
}

export const webhookEndpointRoutes: Route[] = [
  route('POST', '/v1/webhook_endpoints', create),
  route('GET', '/v1/webhook_endpoints', listEndpoints),
  route('GET', '/v1/webhook_endpoints/:id', retrieve),
  route('POST', '/v1/webhook_endpoints/:id', update),
  route('DELETE', '/v1/webhook_endpoints/:id', remove),
];
