import { newId } from '../core/ids';
import { periodBoundary, type Interval } from '../core/periods';
import { cardDeclined, invalidState, parameterInvalid, parameterMissing } from '../http/errors';
import { paginate } from '../http/list';
import { parseParams } from '../http/params';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import { applyCharge, attemptCharge, finalizeInvoice, openFirstSendInvoiceDraft, paymentMethodFor } from '../billing/invoice-lifecycle';
import { cancelNow, licensedLines, subscriptionInvoice } from '../billing/subscription-cycle';
import { buildItem, cadenceOf, currentPeriod, setItemPrice } from '../billing/subscription-items';
import type { WireCustomer, WirePrice, WireSubscription } from '../wire';
import { emptyToNull, initialMetadata, listUrl, mergeMetadata, render } from './common';
import { chargesRefusal } from './accounts';
import { inRange } from './products';
import {
  cancelSubscriptionSchema,
  checkCompatible,
  createSubscriptionSchema,
  invoiceItemPrices,
  itemPrice,
  listSubscriptionsSchema,
  rejectUnsupported,
  retrieveSchema,
  updateSubscriptionSchema,
} from './subscription-params';

/** Stripe requires `days_until_due` exactly when invoices are sent rather than charged. */
function checkCollection(method: string, daysUntilDue: number | null | undefined): void {
  if (method === 'send_invoice' && (daysUntilDue === undefined || daysUntilDue === null)) throw parameterMissing('days_until_due');
  if (method === 'charge_automatically' && daysUntilDue !== undefined && daysUntilDue !== null) {
    throw parameterInvalid('days_until_due', 'days_until_due can only be set when collection_method is send_invoice.');
  }
}

/** A default payment method must already be attached to the subscription's customer. */
function checkPaymentMethod(ctx: RequestContext, customer: WireCustomer, id: string | undefined): void {
  if (id === undefined) return;
  const pm = ctx.account.paymentMethods.get(id);
  if (!pm || pm.customer !== customer.id) {
    throw parameterInvalid(
      'default_payment_method',
      `The customer does not have a payment method with the ID ${id}. The payment method must be attached to the customer.`,
    );
  }
}

function checkApplicationFee(ctx: RequestContext, percent: string | undefined): number | null {
  if (percent === undefined) return null;
  if (ctx.account === ctx.platform) {
    throw parameterInvalid(
      'application_fee_percent',
      'Can only apply an application_fee_percent when the request is made on behalf of another account (using an OAuth key, the Stripe-Account header, or the destination parameter).',
    );
  }
  const value = Number(percent);
  if (!/^\d+(\.\d{1,2})?$/.test(percent) || value > 100) {
    throw parameterInvalid('application_fee_percent', 'application_fee_percent must be between 0 and 100 with at most two decimals.');
  }
  return value;
}

function create(ctx: RequestContext): WireSubscription {
  const p = parseParams(createSubscriptionSchema, ctx.params);
  rejectUnsupported(p);
  if (p.customer === undefined) throw parameterMissing('customer');
  // Direct charges need the connected account's card_payments capability (resources/accounts.ts).
  const refusal = ctx.account === ctx.platform ? null : chargesRefusal(ctx.account.account);
  if (refusal) throw invalidState(refusal);
  const customer = ctx.account.customers.require(p.customer, 'customer');
  if (!p.items || p.items.length === 0) throw parameterMissing('items');
  const items = p.items;
  const prices = items.map((item, i) => itemPrice(ctx, item, `items[${i}]`));
  checkCompatible(prices);
  const first = prices[0] as WirePrice;
  if (p.currency !== undefined && p.currency.toLowerCase() !== first.currency) {
    throw parameterInvalid('currency', `The currency ${p.currency} does not match the prices' currency ${first.currency}.`);
  }
  const oneOffs = invoiceItemPrices(ctx, p.add_invoice_items, first.currency);
  const collectionMethod = p.collection_method ?? 'charge_automatically';
  checkCollection(collectionMethod, p.days_until_due);
  checkPaymentMethod(ctx, customer, p.default_payment_method);
  const feePercent = checkApplicationFee(ctx, p.application_fee_percent);
  if (p.automatic_tax?.enabled) throw parameterInvalid('automatic_tax[enabled]', 'Stripe Tax is not supported by the Meterline Stripe test server.');

  const now = ctx.world.clock.now();
  const recurring = first.recurring as NonNullable<WirePrice['recurring']>;
  const period = { start: now, end: periodBoundary(now, recurring.interval as Interval, recurring.interval_count, 1) };
  const id = newId('sub');
  const subscription = blankSubscription(id, customer.id, first.currency, now);
  subscription.items.data = items.map((item, i) =>
    buildItem(id, prices[i] as WirePrice, item.quantity ?? 1, initialMetadata(item.metadata), period, now),
  );
  subscription.items.url = `/v1/subscription_items?subscription=${id}`;
  subscription.collection_method = collectionMethod;
  subscription.days_until_due = p.days_until_due ?? null;
  subscription.default_payment_method = p.default_payment_method ?? null;
  subscription.metadata = initialMetadata(p.metadata);
  subscription.description = p.description ?? null;
  subscription.application_fee_percent = feePercent;
  subscription.cancel_at_period_end = p.cancel_at_period_end ?? false;
  subscription.cancel_at = p.cancel_at ?? (subscription.cancel_at_period_end ? period.end : null);

  // Decide the first payment before storing anything: error_if_incomplete must leave no trace.
  // add_invoice_items are invoice items on this first invoice only (see invoiceItemPrices).
  const invoiceItems = oneOffs.map(({ price, quantity }) => ({ price, quantity, period, subscriptionItemId: null, invoiceItemId: newId('ii') }));
  const invoice = subscriptionInvoice(ctx.world, ctx.account, subscription, [...licensedLines(subscription, period), ...invoiceItems], 'subscription_create', {
    start: now,
    end: now,
  });
  subscription.latest_invoice = invoice.id;
  const behaviour = p.payment_behavior ?? 'allow_incomplete';
  const charges = collectionMethod === 'charge_automatically' && invoice.amount_due > 0 && behaviour !== 'default_incomplete';
  let outcome: ReturnType<typeof attemptCharge> | undefined;
  if (charges) {
    const method = subscription.default_payment_method ?? paymentMethodFor(ctx.account, invoice);
    if (!method && behaviour === 'error_if_incomplete') {
      throw invalidState('This customer has no attached payment source or default payment method. Please consider adding a default payment method.');
    }
    outcome = attemptCharge(ctx.world, ctx.account, invoice, typeof method === 'string' ? method : null);
    if (!outcome.ok && behaviour === 'error_if_incomplete') throw cardDeclined(outcome.declineCode);
  }
  const settled = collectionMethod === 'send_invoice' || invoice.amount_due === 0 || outcome?.ok === true;
  subscription.status = settled ? 'active' : 'incomplete';

  ctx.account.subscriptions.insert(subscription);
  for (const item of subscription.items.data) ctx.account.subscriptionItems.insert(item);
  ctx.world.events.emit(ctx.account, 'customer.subscription.created', subscription);
  if (collectionMethod === 'send_invoice') {
    // Stripe sends a new subscription's first invoice an hour later; until then it is a draft.
    openFirstSendInvoiceDraft(ctx.world, ctx.account, invoice);
    return render(ctx, subscription, p.expand);
  }
  ctx.account.invoices.insert(invoice);
  ctx.world.events.emit(ctx.account, 'invoice.created', invoice);
  finalizeInvoice(ctx.world, ctx.account, invoice);
  if (outcome && invoice.status === 'open') applyCharge(ctx.world, ctx.account, invoice, outcome);
  return render(ctx, subscription, p.expand);
}

function blankSubscription(id: string, customerId: string, currency: string, now: number): WireSubscription {
  return {
    id,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: now,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: { proration_discounts: 'included' }, type: 'flexible', updated_at: now },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: null,
    cancel_at_period_end: false,
    canceled_at: null,
    cancellation_details: { comment: null, feedback: null, feedback_option: null, reason: null },
    collection_method: 'charge_automatically',
    created: now,
    currency,
    customer: customerId,
    customer_account: null,
    days_until_due: null,
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    ended_at: null,
    invoice_settings: { account_tax_ids: null, custom_fields: null, description: null, footer: null, issuer: { type: 'self' } },
    items: { object: 'list', data: [], has_more: false, url: '' },
    latest_invoice: null,
    livemode: false,
    managed_payments: null,
    metadata: {},
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: { payment_method_options: null, payment_method_types: null, save_default_payment_method: 'off' },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: now,
    status: 'incomplete',
    test_clock: null,
    transfer_data: null,
    trial_end: null,
    trial_settings: null,
    trial_start: null,
  };
}

function retrieve(ctx: RequestContext): WireSubscription {
  const p = parseParams(retrieveSchema, ctx.params);
  return render(ctx, ctx.account.subscriptions.require(pathParam(ctx, 'id')), p.expand);
}

/** Changes take effect immediately; no proration lines are generated (see docs/stripe-server.md). */
function update(ctx: RequestContext): WireSubscription {
  const subscription = ctx.account.subscriptions.require(pathParam(ctx, 'id'));
  const p = parseParams(updateSubscriptionSchema, ctx.params);
  rejectUnsupported(p, 'update');
  const customer = ctx.account.customers.require(String(subscription.customer), 'customer');
  const previous: Record<string, unknown> = {};
  if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
    const allowed = ['metadata', 'cancellation_details', 'expand'];
    const other = Object.keys(ctx.params).find((key) => !allowed.includes(key));
    if (other) {
      throw invalidState('A canceled subscription can only update its cancellation_details and metadata.', undefined, other);
    }
  }
  if (p.items) applyItemChanges(ctx, subscription, p.items, previous);
  const method = p.collection_method ?? subscription.collection_method;
  const days = p.days_until_due !== undefined ? p.days_until_due : method === 'send_invoice' ? subscription.days_until_due : undefined;
  if (p.collection_method !== undefined || p.days_until_due !== undefined) checkCollection(method, days);
  if (p.collection_method !== undefined && p.collection_method !== subscription.collection_method) {
    previous.collection_method = subscription.collection_method;
    subscription.collection_method = p.collection_method;
  }
  if (method === 'charge_automatically') subscription.days_until_due = null;
  else if (days !== undefined && days !== subscription.days_until_due) {
    previous.days_until_due = subscription.days_until_due;
    subscription.days_until_due = days;
  }
  if (p.default_payment_method !== undefined) {
    checkPaymentMethod(ctx, customer, p.default_payment_method);
    previous.default_payment_method = subscription.default_payment_method;
    subscription.default_payment_method = p.default_payment_method;
  }
  if (p.metadata !== undefined) {
    previous.metadata = subscription.metadata;
    subscription.metadata = mergeMetadata(subscription.metadata, p.metadata);
  }
  if (p.description !== undefined) {
    previous.description = subscription.description;
    subscription.description = emptyToNull(p.description, subscription.description);
  }
  if (p.cancel_at_period_end !== undefined && p.cancel_at_period_end !== subscription.cancel_at_period_end) {
    previous.cancel_at_period_end = subscription.cancel_at_period_end;
    previous.cancel_at = subscription.cancel_at;
    subscription.cancel_at_period_end = p.cancel_at_period_end;
    subscription.cancel_at = p.cancel_at_period_end ? currentPeriod(subscription).end : null;
    subscription.canceled_at = p.cancel_at_period_end ? ctx.world.clock.now() : null;
  }
  if (p.cancel_at !== undefined) {
    previous.cancel_at = subscription.cancel_at;
    subscription.cancel_at = p.cancel_at === '' ? null : p.cancel_at;
  }
  if (p.cancellation_details) {
    subscription.cancellation_details = {
      comment: p.cancellation_details.comment ?? subscription.cancellation_details?.comment ?? null,
      feedback: (p.cancellation_details.feedback as never) ?? subscription.cancellation_details?.feedback ?? null,
      feedback_option: null,
      reason: subscription.cancellation_details?.reason ?? null,
    };
  }
  if (p.application_fee_percent !== undefined) {
    previous.application_fee_percent = subscription.application_fee_percent;
    subscription.application_fee_percent = checkApplicationFee(ctx, p.application_fee_percent);
  }
  ctx.world.events.emit(ctx.account, 'customer.subscription.updated', subscription, previous);
  return render(ctx, subscription, p.expand);
}

type ItemChange = NonNullable<ReturnType<typeof updateSubscriptionSchema.parse>['items']>[number];

function applyItemChanges(ctx: RequestContext, subscription: WireSubscription, changes: ItemChange[], previous: Record<string, unknown>): void {
  previous.items = JSON.parse(JSON.stringify(subscription.items)) as unknown;
  const { start, end } = currentPeriod(subscription);
  const now = ctx.world.clock.now();
  changes.forEach((change, i) => {
    const param = `items[${i}]`;
    if (change.id === undefined) {
      const price = itemPrice(ctx, change, param);
      const item = buildItem(subscription.id, price, change.quantity ?? 1, initialMetadata(change.metadata), { start, end }, now);
      subscription.items.data.push(item);
      ctx.account.subscriptionItems.insert(item);
      return;
    }
    const item = subscription.items.data.find((candidate) => candidate.id === change.id);
    if (!item) throw parameterInvalid(`${param}[id]`, `Invalid subscription item: ${change.id} does not belong to ${subscription.id}.`);
    if (change.deleted) {
      subscription.items.data = subscription.items.data.filter((candidate) => candidate.id !== item.id);
      ctx.account.subscriptionItems.delete(item.id);
      return;
    }
    if (change.price !== undefined || change.price_data !== undefined) {
      setItemPrice(item, itemPrice(ctx, change, param), change.quantity);
    } else if (change.quantity !== undefined) {
      if (item.quantity === undefined) {
        throw parameterInvalid(`${param}[quantity]`, `Quantity should not be specified where usage_type is \`metered\`. Remove quantity from \`${param}\`.`);
      }
      item.quantity = change.quantity;
    }
    if (change.metadata !== undefined) item.metadata = mergeMetadata(item.metadata, change.metadata);
  });
  if (subscription.items.data.length === 0) {
    throw invalidState('A subscription must have at least one active plan. To cancel a subscription, use DELETE.', undefined, 'items');
  }
  checkCompatible(subscription.items.data.map((item) => item.price));
  cadenceOf(subscription);
}

function cancel(ctx: RequestContext): WireSubscription {
  const subscription = ctx.account.subscriptions.require(pathParam(ctx, 'id'));
  const p = parseParams(cancelSubscriptionSchema, ctx.params);
  if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
    throw invalidState(`This subscription has already been canceled: ${subscription.id}.`);
  }
  if (p.cancellation_details) {
    subscription.cancellation_details = {
      comment: p.cancellation_details.comment ?? null,
      feedback: (p.cancellation_details.feedback as never) ?? null,
      feedback_option: null,
      reason: null,
    };
  }
  cancelNow(ctx.world, ctx.account, subscription, { invoiceNow: p.invoice_now ?? false, prorate: p.prorate ?? false });
  return render(ctx, subscription, p.expand);
}

/** Stripe's default list leaves canceled subscriptions out; `status=all` brings them in. */
function listSubscriptions(ctx: RequestContext) {
  const p = parseParams(listSubscriptionsSchema, ctx.params);
  const status = p.status;
  const matches = ctx.account.subscriptions.newestFirst(
    (s) =>
      (p.customer === undefined || s.customer === p.customer) &&
      (p.price === undefined || s.items.data.some((item) => item.price.id === p.price)) &&
      (p.collection_method === undefined || s.collection_method === p.collection_method) &&
      inRange(s.created, p.created) &&
      (status === 'all' ||
        (status === undefined && s.status !== 'canceled' && s.status !== 'incomplete_expired') ||
        (status === 'ended' && (s.status === 'canceled' || s.status === 'incomplete_expired')) ||
        s.status === status),
  );
  return render(ctx, paginate(matches, p, listUrl(ctx), 'subscription'), p.expand);
}

export const subscriptionRoutes: Route[] = [
  route('POST', '/v1/subscriptions', create),
  route('GET', '/v1/subscriptions', listSubscriptions),
  route('GET', '/v1/subscriptions/:id', retrieve),
  route('POST', '/v1/subscriptions/:id', update),
  route('DELETE', '/v1/subscriptions/:id', cancel),
];
