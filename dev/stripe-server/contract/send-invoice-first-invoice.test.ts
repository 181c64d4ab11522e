import type Stripe from 'stripe';
import { START, startHarness, type Harness } from './harness';
import { latestInvoice, meteredPrice, monthlyPrice, payingCustomer } from './billing-fixtures';
import { FIRST_SEND_INVOICE_DRAFT_SECONDS } from '../billing/invoice-lifecycle';

/**
 * A new subscription's first invoice. Stripe "Finalizes the invoice immediately when
 * collection_method is set to charge_automatically, or one hour later when it's set to
 * send_invoice" (https://docs.stripe.com/subscriptions/invoices, "New subscription invoices"; the
 * draft → open transition: https://docs.stripe.com/invoicing/integration/workflow-transitions).
 * A send_invoice subscription is active at once (nothing is charged); its invoice is a draft for
 * the hour, then open and due `days_until_due` days after finalization.
 */
let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client();
});
afterAll(() => harness.server.close());

const HOUR = 3_600;

async function invoicedSubscription(amount: number) {
  const customer = await payingCustomer(stripe);
  const price = await monthlyPrice(stripe, amount);
  const created = harness.server.clock.now();
  const subscription = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id }],
    collection_method: 'send_invoice',
    days_until_due: 30,
  });
  return { customer, subscription, created };
}

describe("a send_invoice subscription's first invoice", () => {
  it('is a draft for an hour, then sent (open, not charged) with its due date', async () => {
    expect(FIRST_SEND_INVOICE_DRAFT_SECONDS).toBe(HOUR);
    const { customer, subscription, created } = await invoicedSubscription(900);
    expect(subscription.status).toBe('active');
    const draft = await latestInvoice(stripe, subscription);
    expect(draft).toMatchObject({
      status: 'draft',
      billing_reason: 'subscription_create',
      automatically_finalizes_at: created + HOUR,
      number: null,
      due_date: null,
      hosted_invoice_url: null,
    });
    await expect(stripe.invoices.list({ customer: customer.id, status: 'open' })).resolves.toMatchObject({ data: [] });

    harness.server.clock.advanceTo(created + HOUR - 1);
    await expect(stripe.invoices.retrieve(draft.id)).resolves.toMatchObject({ status: 'draft' });
    harness.server.clock.advanceTo(created + HOUR);
    const sent = await stripe.invoices.retrieve(draft.id);
    expect(sent).toMatchObject({ status: 'open', amount_due: 900, amount_paid: 0, attempted: false, due_date: created + HOUR + 30 * 86_400 });
    expect(sent.status_transitions.finalized_at).toBe(created + HOUR);
    expect(sent.hosted_invoice_url).toEqual(expect.any(String));
    await expect(stripe.subscriptions.retrieve(subscription.id)).resolves.toMatchObject({ status: 'active' });
  });

  it('can be sent before the hour is over by finalizing it', async () => {
    const { subscription, created } = await invoicedSubscription(500);
    const draft = await latestInvoice(stripe, subscription);
    await expect(stripe.invoices.finalizeInvoice(draft.id)).resolves.toMatchObject({ status: 'open', due_date: created + 30 * 86_400 });
    harness.server.clock.advanceTo(created + HOUR);
    await expect(stripe.invoices.retrieve(draft.id)).resolves.toMatchObject({ status: 'open' });
  });

  it('is paid when finalized if nothing is due (metered items only are billed in arrears)', async () => {
    const customer = await payingCustomer(stripe);
    const { price: metered } = await meteredPrice(stripe, 'first_send_invoice_metered', '1');
    const created = harness.server.clock.now();
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: metered.id }], collection_method: 'send_invoice', days_until_due: 7 });
    await expect(latestInvoice(stripe, subscription)).resolves.toMatchObject({ status: 'draft', amount_due: 0 });
    harness.server.clock.advanceTo(created + HOUR);
    await expect(latestInvoice(stripe, subscription)).resolves.toMatchObject({ status: 'paid', amount_due: 0 });
  });

  it('charges a charge_automatically subscription\'s first invoice at once', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 700);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    await expect(latestInvoice(stripe, subscription)).resolves.toMatchObject({ status: 'paid', amount_paid: 700, automatically_finalizes_at: null });
  });
});
