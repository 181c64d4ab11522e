import { newId } from '../core/ids';
import type { Interval } from '../core/periods';
import type { WirePrice, WireSubscription, WireSubscriptionItem } from '../wire';

type WirePlan = WireSubscriptionItem['plan'];

/** The legacy `plan` view Stripe still embeds in subscription items, derived from the price. */
export function planFromPrice(price: WirePrice): WirePlan {
  const recurring = price.recurring;
  if (!recurring) throw new Error(`price ${price.id} is not recurring`);
  const plan: WirePlan = {
    id: price.id,
    object: 'plan',
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: price.billing_scheme,
    created: price.created,
    currency: price.currency,
    interval: recurring.interval,
    interval_count: recurring.interval_count,
    livemode: false,
    metadata: price.metadata,
    meter: recurring.meter,
    nickname: price.nickname,
    product: typeof price.product === 'string' ? price.product : price.product.id,
    tiers_mode: price.tiers_mode,
    transform_usage: null,
    trial_period_days: null,
    usage_type: recurring.usage_type,
  };
  if (price.tiers) plan.tiers = price.tiers;
  return plan;
}

export function isMetered(price: WirePrice): boolean {
  return price.recurring?.usage_type === 'metered';
}

/** A subscription item for `price`, covering `period`. Metered items carry no quantity, as in Stripe. */
export function buildItem(
  subscriptionId: string,
  price: WirePrice,
  quantity: number,
  metadata: Record<string, string>,
  period: { start: number; end: number },
  created: number,
): WireSubscriptionItem {
  const item: WireSubscriptionItem = {
    id: newId('si', 14),
    object: 'subscription_item',
    billing_thresholds: null,
    created,
    current_period_end: period.end,
    current_period_start: period.start,
    current_trial: null,
    discounts: [],
    metadata,
    plan: planFromPrice(price),
    price,
    subscription: subscriptionId,
    tax_rates: [],
  };
  if (!isMetered(price)) item.quantity = quantity;
  return item;
}

export function setItemPrice(item: WireSubscriptionItem, price: WirePrice, quantity: number | undefined): void {
  item.price = price;
  item.plan = planFromPrice(price);
  if (isMetered(price)) delete item.quantity;
  else item.quantity = quantity ?? item.quantity ?? 1;
}

/** The billing interval of a subscription (all its items share one). */
export function cadenceOf(subscription: WireSubscription): { interval: Interval; count: number } {
  const recurring = subscription.items.data[0]?.price.recurring;
  if (!recurring) throw new Error(`subscription ${subscription.id} has no recurring item`);
  return { interval: recurring.interval as Interval, count: recurring.interval_count };
}

/** The subscription's current period, read from its items (where the current API keeps it). */
export function currentPeriod(subscription: WireSubscription): { start: number; end: number } {
  const item = subscription.items.data[0];
  if (!item) throw new Error(`subscription ${subscription.id} has no items`);
  return { start: item.current_period_start, end: item.current_period_end };
}
