import Stripe from 'stripe';
import { failureOf, PLATFORM_KEY, START, startHarness, type Harness } from './harness';
import { latestInvoice, monthlyPrice } from './billing-fixtures';

/**
 * Connected accounts that cannot take charges yet, and first payments that need 3-D Secure:
 * - capabilities are requested (`capabilities[card_payments][requested]`) and stay inactive until
 *   the account's requirements are met; `charges_enabled` says whether it can process charges:
 *   https://docs.stripe.com/connect/account-capabilities, https://docs.stripe.com/api/accounts/object
 * - a direct charge on such an account is refused ("You cannot create a charge on a connected
 *   account without the `card_payments` capability enabled.", as reported in
 *   https://github.com/stripe/stripe-node/pull/737)
 * - a subscription whose first payment needs authentication (pm_card_threeDSecure2Required,
 *   https://docs.stripe.com/testing#regulatory-cards) starts `incomplete`, becomes `active` once its
 *   first invoice is paid, or `incomplete_expired` after 23 hours with the invoice voided:
 *   https://docs.stripe.com/billing/subscriptions/overview#payment-status
 */
let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client();
});
afterAll(() => harness.server.close());

const REQUESTED = { card_payments: { requested: true }, transfers: { requested: true } };

describe('a connected account whose onboarding is unfinished', () => {
  it('reports its requested capabilities inactive and charges disabled, and refuses a subscription', async () => {
    const account = await stripe.accounts.create({ type: 'custom', country: 'US', capabilities: REQUESTED });
    expect(account).toMatchObject({ charges_enabled: false, capabilities: { card_payments: 'inactive', transfers: 'inactive' } });
    const options = { stripeAccount: account.id };
    const customer = await stripe.customers.create({ payment_method: 'pm_card_visa', invoice_settings: {} }, options);
    const price = await monthlyPrice(stripe, 1000, 'usd', options);
    const refused = await failureOf(stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] }, options));
    expect(refused).toMatchObject({ statusCode: 400, type: 'StripeInvalidRequestError' });
    expect(refused.message).toContain('without the `card_payments` capability enabled');
    expect((await stripe.subscriptions.list({ status: 'all' }, options)).data).toEqual([]);
  });

  it('takes charges once its requirements are met (terms accepted)', async () => {
    const account = await stripe.accounts.create({ type: 'custom', country: 'US', capabilities: REQUESTED });
    const updated = await stripe.accounts.update(account.id, { tos_acceptance: { date: START, ip: '203.0.113.7' } });
    expect(updated).toMatchObject({ charges_enabled: true, capabilities: { card_payments: 'active', transfers: 'active' } });
    const options = { stripeAccount: account.id };
    const customer = await stripe.customers.create({ email: 'ok@example.com' }, options);
    const price = await monthlyPrice(stripe, 1000, 'usd', options);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], collection_method: 'send_invoice', days_until_due: 7 }, options);
    expect(subscription.status).toBe('active');
  });

  it('is ready at once when created with its terms accepted', async () => {
    const account = await stripe.accounts.create({ type: 'custom', country: 'US', capabilities: REQUESTED, tos_acceptance: { date: START, ip: '203.0.113.7' } });
    expect(account).toMatchObject({ charges_enabled: true, capabilities: { card_payments: 'active' } });
  });
});

describe('a first payment that needs 3-D Secure', () => {
  async function subscribedWith(card: string) {
    const customer = await stripe.customers.create({ payment_method: card });
    const [pm] = (await stripe.customers.listPaymentMethods(customer.id)).data;
    await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm!.id } });
    const price = await monthlyPrice(stripe, 1000);
    return stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
  }

  it('leaves the subscription incomplete with its invoice open, announced by invoice.payment_action_required', async () => {
    const subscription = await subscribedWith('pm_card_threeDSecure2Required');
    expect(subscription.status).toBe('incomplete');
    const invoice = await latestInvoice(stripe, subscription);
    expect(invoice).toMatchObject({ status: 'open', amount_paid: 0, billing_reason: 'subscription_create' });
    const events = await stripe.events.list({ type: 'invoice.payment_action_required' });
    expect(events.data.some((e) => (e.data.object as Stripe.Invoice).id === invoice.id)).toBe(true);
  });

  it('activates the subscription once the customer completes the authentication (the test control)', async () => {
    const subscription = await subscribedWith('pm_card_threeDSecure2Required');
    const invoice = await latestInvoice(stripe, subscription);
    harness.server.payments.completeAuthentication(harness.server.accountIdForKey(PLATFORM_KEY), invoice.id!);
    expect((await stripe.invoices.retrieve(invoice.id!)).status).toBe('paid');
    expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('active');
  });

  it('also activates it when the customer pays the invoice with another card', async () => {
    const subscription = await subscribedWith('pm_card_threeDSecure2Required');
    const invoice = await latestInvoice(stripe, subscription);
    const other = await stripe.paymentMethods.attach('pm_card_visa', { customer: String(subscription.customer) });
    await stripe.invoices.pay(invoice.id!, { payment_method: other.id });
    expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('active');
  });

  it('expires the subscription after 23 hours unpaid and voids its first invoice', async () => {
    const subscription = await subscribedWith('pm_card_authenticationRequired');
    expect(subscription.status).toBe('incomplete');
    harness.server.clock.advance(23 * 3600 + 1);
    expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('incomplete_expired');
    expect((await latestInvoice(stripe, subscription)).status).toBe('void');
  });
});

/**
 * The end of Stripe's retries of a failed renewal payment, per the account's settings: the
 * subscription cancelled (customer.subscription.deleted, cancellation_details.reason
 * payment_failed), marked unpaid or left past_due; the invoice left open or marked uncollectible
 * (https://docs.stripe.com/billing/revenue-recovery/smart-retries,
 * https://docs.stripe.com/billing/subscriptions/overview#settings).
 */
describe('when the retries of a failed renewal are exhausted', () => {
  async function pastDue() {
    const customer = await stripe.customers.create({ payment_method: 'pm_card_visa' });
    const [pm] = (await stripe.customers.listPaymentMethods(customer.id)).data;
    await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm!.id } });
    const price = await monthlyPrice(stripe, 1000);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    harness.server.payments.failNext({ customer: customer.id });
    const periodEnd = subscription.items.data[0]!.current_period_end;
    harness.server.clock.advanceTo(periodEnd + 2 * 3600); // past the renewal's finalization hour
    const renewed = await stripe.subscriptions.retrieve(subscription.id);
    expect(renewed.status).toBe('past_due');
    const invoice = await latestInvoice(stripe, renewed);
    expect(invoice).toMatchObject({ status: 'open', attempted: true, billing_reason: 'subscription_cycle' });
    const account = harness.server.accountIdForKey(PLATFORM_KEY);
    return { subscription: renewed, invoice, account };
  }

  it('cancels the subscription by default, for the failed payment, and leaves the invoice open', async () => {
    const { subscription, invoice, account } = await pastDue();
    harness.server.billing.exhaustRetries(account, invoice.id!);
    const ended = await stripe.subscriptions.retrieve(subscription.id);
    expect(ended).toMatchObject({ status: 'canceled', cancellation_details: { reason: 'payment_failed' } });
    expect((await stripe.invoices.retrieve(invoice.id!)).status).toBe('open');
    const events = await stripe.events.list({ type: 'customer.subscription.deleted' });
    expect(events.data.some((e) => (e.data.object as Stripe.Subscription).id === subscription.id)).toBe(true);
  });

  it('marks the subscription unpaid and the invoice uncollectible when the settings say so', async () => {
    const { subscription, invoice, account } = await pastDue();
    harness.server.billing.exhaustRetries(account, invoice.id!, { subscription: 'unpaid', invoice: 'uncollectible' });
    expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('unpaid');
    expect((await stripe.invoices.retrieve(invoice.id!)).status).toBe('uncollectible');
  });
});
