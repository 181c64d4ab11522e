import { z } from 'zod';
import { newId } from '../core/ids';
import { invalidState } from '../http/errors';
import { paginate } from '../http/list';
import { bool, expand, list, metadata, oneOf, paginationShape, parseParams, rangeFilter, str } from '../http/params';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import type { WireProduct } from '../wire';
import { emptyToNull, initialMetadata, listUrl, mergeMetadata, render } from './common';
import { createPrice, priceDataShape } from './prices';

const createSchema = z.strictObject({
  name: str(),
  id: str().optional(),
  active: bool().optional(),
  description: str().optional(),
  metadata: metadata().optional(),
  images: list(str()).optional(),
  statement_descriptor: str().optional(),
  tax_code: str().optional(),
  unit_label: str().optional(),
  url: str().optional(),
  shippable: bool().optional(),
  type: oneOf(['good', 'service']).optional(),
  default_price_data: z.strictObject(priceDataShape).optional(),
  expand: expand(),
});

const updateSchema = z.strictObject({
  name: str().optional(),
  active: bool().optional(),
  default_price: str().optional(),
  description: str().optional(),
  metadata: metadata().optional(),
  images: z.union([z.literal(''), list(str())]).optional(),
  statement_descriptor: str().optional(),
  tax_code: str().optional(),
  unit_label: str().optional(),
  url: str().optional(),
  shippable: bool().optional(),
  expand: expand(),
});

const listSchema = z.strictObject({
  ...paginationShape,
  active: bool().optional(),
  ids: list(str()).optional(),
  shippable: bool().optional(),
  url: str().optional(),
  created: rangeFilter().optional(),
});

const retrieveSchema = z.strictObject({ expand: expand() });

function create(ctx: RequestContext): WireProduct {
  const p = parseParams(createSchema, ctx.params);
  const id = p.id ?? newId('prod', 14);
  if (ctx.account.products.has(id)) {
    throw invalidState(`Product already exists.`, 'resource_already_exists', 'id');
  }
  const now = ctx.world.clock.now();
  const product: WireProduct = {
    id,
    object: 'product',
    active: p.active ?? true,
    created: now,
    default_price: null,
    description: p.description ?? null,
    images: p.images ?? [],
    livemode: false,
    marketing_features: [],
    metadata: initialMetadata(p.metadata),
    name: p.name,
    package_dimensions: null,
    shippable: p.shippable ?? null,
    statement_descriptor: p.statement_descriptor ?? null,
    tax_code: p.tax_code ?? null,
    tax_details: null,
    type: p.type ?? 'service',
    unit_label: p.unit_label ?? null,
    updated: now,
    url: p.url ?? null,
  };
  ctx.account.products.insert(product);
  if (p.default_price_data) {
    const price = createPrice(ctx, { ...p.default_price_data, product: id }, 'default_price_data');
    product.default_price = price.id;
  }
  ctx.world.events.emit(ctx.account, 'product.created', product);
  return render(ctx, product, p.expand);
}

function retrieve(ctx: RequestContext): WireProduct {
  const p = parseParams(retrieveSchema, ctx.params);
  return render(ctx, ctx.account.products.require(pathParam(ctx, 'id')), p.expand);
}

function update(ctx: RequestContext): WireProduct {
  const product = ctx.account.products.require(pathParam(ctx, 'id'));
  const p = parseParams(updateSchema, ctx.params);
  if (p.default_price !== undefined) {
    const price = ctx.account.prices.require(p.default_price, 'default_price');
    if (price.product !== product.id) {
      throw invalidState(`The price '${price.id}' does not belong to product '${product.id}'.`, undefined, 'default_price');
    }
    product.default_price = price.id;
  }
  if (p.name !== undefined) product.name = p.name;
  if (p.active !== undefined) product.active = p.active;
  product.description = emptyToNull(p.description, product.description);
  product.metadata = mergeMetadata(product.metadata, p.metadata);
  if (p.images !== undefined) product.images = p.images === '' ? [] : p.images;
  if (p.statement_descriptor !== undefined) product.statement_descriptor = emptyToNull(p.statement_descriptor, null);
  if (p.tax_code !== undefined) product.tax_code = emptyToNull(p.tax_code, null);
  if (p.unit_label !== undefined) product.unit_label = emptyToNull(p.unit_label, null);
  if (p.url !== undefined) product.url = emptyToNull(p.url, null);
  if (p.shippable !== undefined) product.shippable = p.shippable;
  product.updated = ctx.world.clock.now();
  ctx.world.events.emit(ctx.account, 'product.updated', product);
  return render(ctx, product, p.expand);
}

function remove(ctx: RequestContext): { id: string; object: 'product'; deleted: true } {
  const product = ctx.account.products.require(pathParam(ctx, 'id'));
  if (ctx.account.prices.all().some((price) => price.product === product.id)) {
    throw invalidState('This product cannot be deleted because it has one or more user-created prices.');
  }
  ctx.account.products.delete(product.id);
  ctx.world.events.emit(ctx.account, 'product.deleted', product);
  return { id: product.id, object: 'product', deleted: true };
}

function listProducts(ctx: RequestContext) {
  const p = parseParams(listSchema, ctx.params);
  const created = p.created;
  const matches = ctx.account.products.newestFirst(
    (product) =>
      (p.active === undefined || product.active === p.active) &&
      (p.ids === undefined || p.ids.includes(product.id)) &&
      (p.shippable === undefined || product.shippable === p.shippable) &&
      (p.url === undefined || product.url === p.url) &&
      inRange(product.created, created),
  );
  return render(ctx, paginate(matches, p, listUrl(ctx), 'product'), p.expand);
}

/** Stripe's `created` filter: an exact value or gt/gte/lt/lte bounds. */
export function inRange(
  value: number,
  filter: number | { gt?: number | undefined; gte?: number | undefined; lt?: number | undefined; lte?: number | undefined } | undefined,
): boolean {
  if (filter === undefined) return true;
  if (typeof filter === 'number') return value === filter;
  return (
    (filter.gt === undefined || value > filter.gt) &&
    (filter.gte === undefined || value >= filter.gte) &&
    (filter.lt === undefined || value < filter.lt) &&
    (filter.lte === undefined || value <= filter.lte)
  );
}

export const productRoutes: Route[] = [
  route('POST', '/v1/products', create),
  route('GET', '/v1/products', listProducts),
  route('GET', '/v1/products/:id', retrieve),
  route('POST', '/v1/products/:id', update),
  route('DELETE', '/v1/products/:id', remove),
];
