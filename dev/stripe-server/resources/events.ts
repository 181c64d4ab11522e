import { z } from 'zod';
import { paginate } from '../http/list';
import { expand, list, paginationShape, parseParams, rangeFilter, str } from '../http/params';
import { resourceMissing } from '../http/errors';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import { listUrl, render } from './common';
import { inRange } from './products';

const listSchema = z.strictObject({
  ...paginationShape,
  type: str().optional(),
  types: list(str()).optional(),
  created: rangeFilter().optional(),
  delivery_success: z.string().optional(),
});
const retrieveSchema = z.strictObject({ expand: expand() });

/** `type` accepts Stripe's wildcard form (`invoice.*`). */
function typeMatches(pattern: string, type: string): boolean {
  return pattern.endsWith('.*') ? type.startsWith(pattern.slice(0, -1)) : pattern === type;
}

function listEvents(ctx: RequestContext) {
  const p = parseParams(listSchema, ctx.params);
  const matches = ctx.account.events.newestFirst(
    (e) =>
      (p.type === undefined || typeMatches(p.type, e.type)) &&
      (p.types === undefined || p.types.some((t) => typeMatches(t, e.type))) &&
      inRange(e.created, p.created),
  );
  return render(ctx, paginate(matches, p, listUrl(ctx), 'event'), p.expand);
}

function retrieve(ctx: RequestContext) {
  const p = parseParams(retrieveSchema, ctx.params);
  return render(ctx, ctx.account.events.require(pathParam(ctx, 'id')), p.expand);
}

/**
 * `GET /v2/core/events/:id`: a thin event with its `data` (https://docs.stripe.com/api/v2/core/events/retrieve).
 * Stripe wants the event's `context` in the `Stripe-Context` header; this server finds the event
 * in the key's platform and its connected accounts without checking the header.
 */
function retrieveV2(ctx: RequestContext) {
  const id = pathParam(ctx, 'id');
  const event = ctx.world.events.thinEvent(id, ctx.platform.id);
  if (!event) throw resourceMissing('event', id);
  return event;
}

export const eventRoutes: Route[] = [
  route('GET', '/v1/events', listEvents),
  route('GET', '/v1/events/:id', retrieve),
  route('GET', '/v2/core/events/:id', retrieveV2),
];
