import { z } from 'zod';
import { invalidState, parameterInvalid } from '../http/errors';
import { paginate } from '../http/list';
import { bool, expand, int, metadata, nonNegativeInt, oneOf, paginationShape, parseParams, str } from '../http/params';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import { buildItem, currentPeriod, setItemPrice } from '../billing/subscription-items';
import type { WireSubscription, WireSubscriptionItem } from '../wire';
import { initialMetadata, listUrl, mergeMetadata, render } from './common';
import { checkCompatible, itemPrice, itemPriceDataShape } from './subscription-params';

const proration = oneOf(['always_invoice', 'create_prorations', 'none']);
const paymentBehavior = oneOf(['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'pending_if_incomplete']);

const createSchema = z.strictObject({
  subscription: str(),
  price: str().optional(),
  price_data: itemPriceDataShape.optional(),
  quantity: nonNegativeInt().optional(),
  metadata: metadata().optional(),
  proration_behavior: proration.optional(),
  proration_date: int().optional(),
  payment_behavior: paymentBehavior.optional(),
  expand: expand(),
});
const updateSchema = z.strictObject({
  price: str().optional(),
  price_data: itemPriceDataShape.optional(),
  quantity: nonNegativeInt().optional(),
  metadata: metadata().optional(),
  proration_behavior: proration.optional(),
  proration_date: int().optional(),
  payment_behavior: paymentBehavior.optional(),
  off_session: bool().optional(),
  expand: expand(),
});
const deleteSchema = z.strictObject({
  clear_usage: bool().optional(),
  proration_behavior: proration.optional(),
  proration_date: int().optional(),
  payment_behavior: paymentBehavior.optional(),
});
const retrieveSchema = z.strictObject({ expand: expand() });
const listSchema = z.strictObject({ ...paginationShape, subscription: str() });

function liveSubscription(ctx: RequestContext, id: string, param: string): WireSubscription {
  const subscription = ctx.account.subscriptions.require(id, param);
  if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
    throw invalidState('A canceled subscription cannot be modified.', undefined, param);
  }
  return subscription;
}

function announce(ctx: RequestContext, subscription: WireSubscription, previousItems: unknown): void {
  ctx.world.events.emit(ctx.account, 'customer.subscription.updated', subscription, { items: previousItems });
}

function snapshot(subscription: WireSubscription): unknown {
  return JSON.parse(JSON.stringify(subscription.items)) as unknown;
}

function create(ctx: RequestContext): WireSubscriptionItem {
  const p = parseParams(createSchema, ctx.params);
  const subscription = liveSubscription(ctx, p.subscription, 'subscription');
  const previous = snapshot(subscription);
  const price = itemPrice(ctx, p, 'item');
  checkCompatible([...subscription.items.data.map((i) => i.price), price]);
  if (subscription.items.data.some((i) => i.price.id === price.id)) {
    throw parameterInvalid('price', `Cannot add multiple subscription items with the same price: ${price.id}.`);
  }
  const item = buildItem(subscription.id, price, p.quantity ?? 1, initialMetadata(p.metadata), currentPeriod(subscription), ctx.world.clock.now());
  subscription.items.data.push(item);
  ctx.account.subscriptionItems.insert(item);
  announce(ctx, subscription, previous);
  return render(ctx, item, p.expand);
}

function retrieve(ctx: RequestContext): WireSubscriptionItem {
  const p = parseParams(retrieveSchema, ctx.params);
  return render(ctx, ctx.account.subscriptionItems.require(pathParam(ctx, 'id')), p.expand);
}

/** Price and quantity changes take effect at once, without proration lines. */
function update(ctx: RequestContext): WireSubscriptionItem {
  const item = ctx.account.subscriptionItems.require(pathParam(ctx, 'id'));
  const p = parseParams(updateSchema, ctx.params);
  const subscription = liveSubscription(ctx, item.subscription, 'id');
  const previous = snapshot(subscription);
  if (p.price !== undefined || p.price_data !== undefined) {
    const price = itemPrice(ctx, p, 'item');
    checkCompatible([...subscription.items.data.filter((i) => i.id !== item.id).map((i) => i.price), price]);
    setItemPrice(item, price, p.quantity);
  } else if (p.quantity !== undefined) {
    if (item.quantity === undefined) {
      throw parameterInvalid('quantity', 'Quantity should not be specified where usage_type is `metered`.');
    }
    item.quantity = p.quantity;
  }
  if (p.metadata !== undefined) item.metadata = mergeMetadata(item.metadata, p.metadata);
  announce(ctx, subscription, previous);
  return render(ctx, item, p.expand);
}

function remove(ctx: RequestContext) {
  const item = ctx.account.subscriptionItems.require(pathParam(ctx, 'id'));
  parseParams(deleteSchema, ctx.params);
  const subscription = liveSubscription(ctx, item.subscription, 'id');
  if (subscription.items.data.length === 1) {
    throw invalidState('A subscription must have at least one active plan. To cancel a subscription, use DELETE /v1/subscriptions/:id.');
  }
  const previous = snapshot(subscription);
  subscription.items.data = subscription.items.data.filter((i) => i.id !== item.id);
  ctx.account.subscriptionItems.delete(item.id);
  announce(ctx, subscription, previous);
  return { id: item.id, object: 'subscription_item' as const, deleted: true as const };
}

function listItems(ctx: RequestContext) {
  const p = parseParams(listSchema, ctx.params);
  const subscription = ctx.account.subscriptions.require(p.subscription, 'subscription');
  // Stripe lists a subscription's items in the order they were added.
  return render(ctx, paginate([...subscription.items.data], p, listUrl(ctx), 'subscription item'), p.expand);
}

export const subscriptionItemRoutes: Route[] = [
  route('POST', '/v1/subscription_items', create),
  route('GET', '/v1/subscription_items', listItems),
  route('GET', '/v1/subscription_items/:id', retrieve),
  route('POST', '/v1/subscription_items/:id', update),
  route('DELETE', '/v1/subscription_items/:id', remove),
];
