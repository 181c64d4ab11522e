import { z } from 'zod';
import { paginate } from '../http/list';
import { expand, list, paginationShape, parseParams, rangeFilter, str } from '../http/params';
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

export const eventRoutes: Route[] = [route('GET', '/v1/events', listEvents), route('GET', '/v1/events/:id', retrieve)];
