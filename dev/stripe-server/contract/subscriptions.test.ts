import type Stripe from 'stripe';
import { START, failureOf, startHarness, type Harness } from './harness';
import { latestInvoice, meteredPrice, monthlyPrice, payingCustomer } from './billing-fixtures';

let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client();
});
afterAll(() => harness.server.close());

const FEB_15_2030 = Date.UTC(2030, 1, 15) / 1000;

describe('subscriptions', () => {
  it('starts active and pays its first invoice with the default payment method', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 1000);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    expect(subscription).toMatchObject({ object: 'subscription', status: 'active', collection_method: 'charge_automatically' });
    expect(subscription.id).toMatch(/^sub_/);
    await expect(latestInvoice(stripe, subscription)).resolves.toMatchObject({
      status: 'paid',
      amount_paid: 1000,
      billing_reason: 'subscription_create',
    });
  });

  it('keeps the current period on its items, one month long', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 500);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    expect(subscription.items.data[0]).toMatchObject({ current_period_start: START, current_period_end: FEB_15_2030, quantity: 1 });
  });

  it('stores metadata, default payment method and send_invoice terms', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 700);
    const pm = customer.invoice_settings.default_payment_method as string;
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
      collection_method: 'send_invoice',
      days_until_due: 14,
      default_payment_method: pm,
      metadata: { application: 'app-1' },
    });
    expect(subscription).toMatchObject({ days_until_due: 14, default_payment_method: pm, metadata: { application: 'app-1' } });
  });

  it('requires days_until_due for send_invoice', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 900);
    const error = await failureOf(
      stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], collection_method: 'send_invoice' }),
    );
    expect(error).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'days_until_due' });
  });

  it('is incomplete when the customer has no way to pay', async () => {
    const customer = await stripe.customers.create({});
    const price = await monthlyPrice(stripe, 1200);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    expect(subscription.status).toBe('incomplete');
  });

  it('refuses a quantity on a metered item', async () => {
    const customer = await payingCustomer(stripe);
    const { price } = await meteredPrice(stripe, 'subs_metered_quantity', '1');
    const error = await failureOf(stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id, quantity: 2 }] }));
    expect(error).toMatchObject({ statusCode: 400, param: 'items[0][quantity]' });
  });

  it('answers resource_missing for an unknown price in items', async () => {
    const customer = await payingCustomer(stripe);
    const error = await failureOf(stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_unknown' }] }));
    expect(error).toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'items[0][price]' });
  });

  it('changes an item\'s price on update', async () => {
    const customer = await payingCustomer(stripe);
    const gold = await monthlyPrice(stripe, 2000);
    const platinum = await monthlyPrice(stripe, 3000);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: gold.id }] });
    const item = subscription.items.data[0] as Stripe.SubscriptionItem;
    const updated = await stripe.subscriptions.update(subscription.id, { items: [{ id: item.id, price: platinum.id }] });
    expect(updated.items.data.map((i) => i.price.id)).toEqual([platinum.id]);
  });

  it('retrieves, lists and updates subscription items', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 100);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id, quantity: 2 }] });
    const item = subscription.items.data[0] as Stripe.SubscriptionItem;
    await expect(stripe.subscriptionItems.retrieve(item.id)).resolves.toMatchObject({ id: item.id, quantity: 2 });
    await expect(stripe.subscriptionItems.list({ subscription: subscription.id })).resolves.toMatchObject({ data: [{ id: item.id }] });
    await expect(stripe.subscriptionItems.update(item.id, { quantity: 5 })).resolves.toMatchObject({ quantity: 5 });
  });

  it('cancels with DELETE and drops out of the default list', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 100);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    const canceled = await stripe.subscriptions.cancel(subscription.id);
    expect(canceled).toMatchObject({ status: 'canceled', canceled_at: START, ended_at: START });
    const active = await stripe.subscriptions.list({ customer: customer.id });
    expect(active.data).toEqual([]);
    const all = await stripe.subscriptions.list({ customer: customer.id, status: 'all' });
    expect(all.data.map((s) => s.id)).toEqual([subscription.id]);
  });

  it('lives in a connected account with a connected-account customer and price', async () => {
    const connected = await stripe.accounts.create({ type: 'standard' });
    const options = { stripeAccount: connected.id };
    const customer = await payingCustomer(stripe, options);
    const price = await monthlyPrice(stripe, 1500, 'usd', options);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] }, options);
    expect(subscription.status).toBe('active');
    const error = await failureOf(stripe.subscriptions.retrieve(subscription.id));
    expect(error).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });
});
