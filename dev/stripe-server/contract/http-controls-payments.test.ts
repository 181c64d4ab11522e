import Stripe from 'stripe';
import { PLATFORM_KEY, START, startHarness, type Harness } from './harness';
import { latestInvoice, monthlyPrice, payingCustomer } from './billing-fixtures';

/**
 * The HTTP forms of the payment controls: the customer completing 3-D Secure
 * (https://docs.stripe.com/testing#regulatory-cards) and the end of a failed payment's retries
 * (https://docs.stripe.com/billing/revenue-recovery/smart-retries).
 */
let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client();
});
afterAll(() => harness.server.close());

async function control(path: string, body: unknown): Promise<number> {
  return (await fetch(`${harness.server.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).status;
}

it('POST /_test/payments/complete_authentication pays an invoice waiting for 3-D Secure', async () => {
  const customer = await stripe.customers.create({ payment_method: 'pm_card_threeDSecure2Required' });
  const [pm] = (await stripe.customers.listPaymentMethods(customer.id)).data;
  await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm!.id } });
  const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: (await monthlyPrice(stripe, 900)).id }] });
  const invoice = await latestInvoice(stripe, subscription);
  const account = harness.server.accountIdForKey(PLATFORM_KEY);
  expect(await control('/_test/payments/complete_authentication', { account, invoice: invoice.id })).toBe(200);
  expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('active');
  // Nothing waits any more: a second call is refused.
  expect(await control('/_test/payments/complete_authentication', { account, invoice: invoice.id })).toBe(400);
});

it('POST /_test/billing/exhaust_retries ends a failed renewal as asked, and refuses an unknown outcome', async () => {
  const customer = await payingCustomer(stripe);
  const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: (await monthlyPrice(stripe, 900)).id }] });
  harness.server.payments.failNext({ customer: customer.id });
  harness.server.clock.advanceTo(subscription.items.data[0]!.current_period_end + 2 * 3600);
  const invoice = await latestInvoice(stripe, await stripe.subscriptions.retrieve(subscription.id));
  const account = harness.server.accountIdForKey(PLATFORM_KEY);
  expect(await control('/_test/billing/exhaust_retries', { account, invoice: invoice.id, subscription: 'never' })).toBe(400);
  expect(await control('/_test/billing/exhaust_retries', { account, invoice: invoice.id, subscription: 'unpaid' })).toBe(200);
  expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('unpaid');
});
