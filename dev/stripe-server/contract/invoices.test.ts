import Stripe from 'stripe';
import { DAY, START, failureOf, startHarness, type Harness } from './harness';
import { latestInvoice, meteredPrice, monthlyPrice, payingCustomer, reportUsage } from './billing-fixtures';
import { DEFAULT_AGGREGATION_DELAY_SECONDS, DEFAULT_FINALIZATION_GRACE_SECONDS } from '../billing/usage';
import { FIRST_SEND_INVOICE_DRAFT_SECONDS } from '../billing/invoice-lifecycle';

let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client();
});
afterAll(() => harness.server.close());

/** A paying customer subscribed to a base price and a metered price (0.05 ¢ per call = 0.0005 USD). */
async function meteredSubscription(eventName: string, base = 1000) {
  const customer = await payingCustomer(stripe);
  const fixed = await monthlyPrice(stripe, base);
  const { price: metered } = await meteredPrice(stripe, eventName, '0.05');
  const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: fixed.id }, { price: metered.id }] });
  return { customer, fixed, metered, subscription };
}

/** Lets the server aggregate the meter events sent so far (Stripe aggregates asynchronously). */
function aggregated(): void {
  harness.server.clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS);
}

describe('invoice preview (create_preview)', () => {
  it('bills 1,234 calls at 0.0005 USD as 62 cents (61.7 rounded half up on the line)', async () => {
    const { customer, subscription, metered } = await meteredSubscription('preview_1234');
    const now = harness.server.clock.now();
    await reportUsage(stripe, 'preview_1234', customer.id, 1000, now + 10);
    await reportUsage(stripe, 'preview_1234', customer.id, 234, now + 20);
    aggregated();
    const preview = await stripe.invoices.createPreview({ customer: customer.id, subscription: subscription.id });
    const usageLine = preview.lines.data.find((line) => line.pricing?.price_details?.price === metered.id);
    expect(usageLine).toMatchObject({ quantity: 1234, amount: 62 });
    expect(String(usageLine?.pricing?.unit_amount_decimal)).toBe('0.05');
  });

  it('rounds an exact half cent up (1,230 calls → 61.5 → 62)', async () => {
    const { customer, subscription, metered } = await meteredSubscription('preview_half');
    await reportUsage(stripe, 'preview_half', customer.id, 1230, harness.server.clock.now() + 10);
    aggregated();
    const preview = await stripe.invoices.createPreview({ subscription: subscription.id });
    expect(preview.lines.data.find((l) => l.pricing?.price_details?.price === metered.id)?.amount).toBe(62);
  });

  it('totals usage for this period plus the next period\'s base price', async () => {
    const { customer, subscription } = await meteredSubscription('preview_total', 1000);
    await reportUsage(stripe, 'preview_total', customer.id, 200, harness.server.clock.now() + 10); // 200 × 0.05 ¢ = 10 ¢
    aggregated();
    const preview = await stripe.invoices.createPreview({ subscription: subscription.id });
    expect(preview).toMatchObject({ total: 1010, amount_due: 1010, currency: 'usd', status: 'draft', billing_reason: 'upcoming' });
    expect(preview.parent?.subscription_details?.subscription).toBe(subscription.id);
  });

  // "aggregated usage ... on upcoming invoices might not immediately reflect recently received
  // meter events": https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage
  it('leaves out meter events still being aggregated, and counts them once aggregated', async () => {
    const { customer, subscription, metered } = await meteredSubscription('preview_async');
    await reportUsage(stripe, 'preview_async', customer.id, 300, harness.server.clock.now());
    aggregated();
    await reportUsage(stripe, 'preview_async', customer.id, 45, harness.server.clock.now());
    const usageOf = async () =>
      (await stripe.invoices.createPreview({ subscription: subscription.id })).lines.data.find((l) => l.pricing?.price_details?.price === metered.id)?.quantity;
    expect(await usageOf()).toBe(300);
    harness.server.clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS - 1);
    expect(await usageOf()).toBe(300);
    harness.server.clock.advance(1);
    expect(await usageOf()).toBe(345);
  });

  it('answers invoice_upcoming_none for a canceled subscription', async () => {
    const { subscription } = await meteredSubscription('preview_canceled');
    await stripe.subscriptions.cancel(subscription.id);
    const error = await failureOf(stripe.invoices.createPreview({ subscription: subscription.id }));
    expect(error).toMatchObject({ statusCode: 404, code: 'invoice_upcoming_none' });
  });
});

describe('subscription invoices', () => {
  it('bills a JPY plan in whole yen', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 1500, 'jpy');
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    await expect(latestInvoice(stripe, subscription)).resolves.toMatchObject({ currency: 'jpy', total: 1500, amount_paid: 1500 });
  });

  it('shows one line per price with quantity, unit amount and the subscription item', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 250);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id, quantity: 3 }] });
    const invoice = await latestInvoice(stripe, subscription);
    expect(invoice.lines.data).toHaveLength(1);
    expect(invoice.lines.data[0]).toMatchObject({
      amount: 750,
      quantity: 3,
      pricing: { type: 'price_details', price_details: { price: price.id } },
      parent: { subscription_item_details: { subscription_item: subscription.items.data[0]?.id } },
    });
  });

  it('lists invoices by subscription and status', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 300);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    const paid = await stripe.invoices.list({ subscription: subscription.id, status: 'paid' });
    const open = await stripe.invoices.list({ subscription: subscription.id, status: 'open' });
    expect(paid.data.map((i) => i.id)).toEqual([subscription.latest_invoice]);
    expect(open.data).toEqual([]);
  });

  it('gives finalized invoices a number and a hosted_invoice_url', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 300);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    const invoice = await latestInvoice(stripe, subscription);
    expect(invoice.number).toMatch(/^[A-Z0-9]+-\d{4}$/);
    expect(invoice.hosted_invoice_url).toContain(`/_test/hosted_invoices/`);
  });

  // invoice_pdf: "The link to download the PDF for the invoice" (https://docs.stripe.com/api/invoices/object#invoice_object-invoice_pdf).
  it('gives finalized invoices an invoice_pdf that downloads a PDF', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 300);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    const invoice = await latestInvoice(stripe, subscription);
    const pdf = await fetch(invoice.invoice_pdf!);
    expect([pdf.status, pdf.headers.get('content-type')]).toEqual([200, 'application/pdf']);
    const body = Buffer.from(await pdf.arrayBuffer()).toString('latin1');
    expect(body.startsWith('%PDF-1.4\n') && body.endsWith('%%EOF\n')).toBe(true);
    expect(body).toContain(`(Invoice ${invoice.number}) '`);
  });
});

describe('invoice status transitions', () => {
  async function draft(): Promise<Stripe.Invoice> {
    const customer = await payingCustomer(stripe);
    return stripe.invoices.create({ customer: customer.id, collection_method: 'send_invoice', days_until_due: 10 });
  }

  it('finalizes an empty draft, which is paid at once as a zero-amount invoice', async () => {
    const invoice = await draft();
    expect(invoice.status).toBe('draft');
    const finalized = await stripe.invoices.finalizeInvoice(invoice.id);
    expect(finalized).toMatchObject({ status: 'paid', amount_due: 0 });
    expect(finalized.status_transitions.finalized_at).toBe(harness.server.clock.now());
  });

  it('refuses to finalize an invoice twice', async () => {
    const invoice = await draft();
    await stripe.invoices.finalizeInvoice(invoice.id);
    const error = await failureOf(stripe.invoices.finalizeInvoice(invoice.id));
    expect(error).toMatchObject({ statusCode: 400, type: 'StripeInvalidRequestError' });
  });

  async function openInvoice(): Promise<Stripe.Invoice> {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 4200);
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
      collection_method: 'send_invoice',
      days_until_due: 30,
    });
    // The first invoice of a send_invoice subscription is sent (finalized) an hour after the create.
    harness.server.clock.advance(FIRST_SEND_INVOICE_DRAFT_SECONDS);
    const invoice = await latestInvoice(stripe, subscription);
    expect(invoice.status).toBe('open');
    return invoice;
  }

  it('voids an open invoice', async () => {
    const invoice = await openInvoice();
    await expect(stripe.invoices.voidInvoice(invoice.id)).resolves.toMatchObject({ status: 'void' });
  });

  it('refuses to pay a void invoice', async () => {
    const invoice = await openInvoice();
    await stripe.invoices.voidInvoice(invoice.id);
    const error = await failureOf(stripe.invoices.pay(invoice.id));
    expect(error).toMatchObject({ statusCode: 400 });
  });

  it('marks an open invoice uncollectible, and it can still be paid', async () => {
    const invoice = await openInvoice();
    await expect(stripe.invoices.markUncollectible(invoice.id)).resolves.toMatchObject({ status: 'uncollectible' });
    await expect(stripe.invoices.pay(invoice.id)).resolves.toMatchObject({ status: 'paid', amount_paid: 4200 });
  });

  it('refuses to mark a paid invoice uncollectible', async () => {
    const invoice = await openInvoice();
    await stripe.invoices.pay(invoice.id, { paid_out_of_band: true });
    const error = await failureOf(stripe.invoices.markUncollectible(invoice.id));
    expect(error).toMatchObject({ statusCode: 400 });
  });

  it('records an out-of-band payment', async () => {
    const invoice = await openInvoice();
    const paid = await stripe.invoices.pay(invoice.id, { paid_out_of_band: true });
    expect(paid).toMatchObject({ status: 'paid', amount_paid: 4200, amount_remaining: 0 });
  });

  it('answers a declined card with a 402 card error and leaves the invoice open', async () => {
    const invoice = await openInvoice();
    harness.server.payments.failNext({ customer: String(invoice.customer) });
    const error = await failureOf(stripe.invoices.pay(invoice.id));
    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
    await expect(stripe.invoices.retrieve(invoice.id)).resolves.toMatchObject({ status: 'open', attempt_count: 1 });
  });
});

describe('the clock', () => {
  it('rolls the period at its end and invoices usage plus the next base price', async () => {
    const { customer, subscription } = await meteredSubscription('clock_roll', 1000);
    const periodEnd = subscription.items.data[0]?.current_period_end as number;
    harness.server.clock.advance(DAY);
    await reportUsage(stripe, 'clock_roll', customer.id, 1234, harness.server.clock.now());
    harness.server.clock.advanceTo(periodEnd + 60);
    const rolled = await stripe.subscriptions.retrieve(subscription.id);
    expect(rolled.items.data[0]?.current_period_start).toBe(periodEnd);
    const draft = await latestInvoice(stripe, rolled);
    expect(draft).toMatchObject({ billing_reason: 'subscription_cycle', status: 'draft', created: periodEnd });
    harness.server.clock.advanceTo(periodEnd + DEFAULT_FINALIZATION_GRACE_SECONDS);
    const invoice = await latestInvoice(stripe, rolled);
    expect(invoice).toMatchObject({
      billing_reason: 'subscription_cycle',
      period_start: subscription.items.data[0]?.current_period_start,
      period_end: periodEnd,
      total: 1062,
      status: 'paid',
      created: periodEnd,
    });
  });

  it('leaves a cycle invoice open for send_invoice subscriptions', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 800);
    const subscription = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: price.id }],
      collection_method: 'send_invoice',
      days_until_due: 7,
    });
    harness.server.clock.advanceTo((subscription.items.data[0]?.current_period_end as number) + DEFAULT_FINALIZATION_GRACE_SECONDS);
    const invoice = await latestInvoice(stripe, await stripe.subscriptions.retrieve(subscription.id));
    expect(invoice).toMatchObject({ billing_reason: 'subscription_cycle', status: 'open' });
  });

  it('marks the subscription past_due when the renewal payment fails', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 800);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    harness.server.payments.failNext({ customer: customer.id });
    harness.server.clock.advanceTo((subscription.items.data[0]?.current_period_end as number) + DEFAULT_FINALIZATION_GRACE_SECONDS);
    const renewed = await stripe.subscriptions.retrieve(subscription.id);
    expect(renewed.status).toBe('past_due');
    await expect(latestInvoice(stripe, renewed)).resolves.toMatchObject({ status: 'open', attempt_count: 1 });
  });

  it('issues a final invoice for usage since the last invoice on cancel with invoice_now', async () => {
    const { customer, subscription, metered } = await meteredSubscription('cancel_now', 1000);
    const now = harness.server.clock.now();
    await reportUsage(stripe, 'cancel_now', customer.id, 4000, now);
    aggregated();
    const canceled = await stripe.subscriptions.cancel(subscription.id, { invoice_now: true, prorate: false });
    const finalInvoice = await latestInvoice(stripe, canceled);
    expect(finalInvoice.id).not.toBe(subscription.latest_invoice);
    expect(finalInvoice.lines.data).toEqual([expect.objectContaining({ quantity: 4000, amount: 200 })]);
    expect(finalInvoice.lines.data[0]?.pricing?.price_details?.price).toBe(metered.id);
  });

  it('leaves usage still being aggregated off the final invoice of a cancel with invoice_now', async () => {
    const { customer, subscription } = await meteredSubscription('cancel_async', 1000);
    await reportUsage(stripe, 'cancel_async', customer.id, 4000, harness.server.clock.now());
    aggregated();
    await reportUsage(stripe, 'cancel_async', customer.id, 600, harness.server.clock.now());
    const canceled = await stripe.subscriptions.cancel(subscription.id, { invoice_now: true, prorate: false });
    expect((await latestInvoice(stripe, canceled)).lines.data).toEqual([expect.objectContaining({ quantity: 4000, amount: 200 })]);
  });

  it('ends a subscription set to cancel at period end when the period closes', async () => {
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 800);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    await stripe.subscriptions.update(subscription.id, { cancel_at_period_end: true });
    const end = subscription.items.data[0]?.current_period_end as number;
    harness.server.clock.advanceTo(end + 1);
    await expect(stripe.subscriptions.retrieve(subscription.id)).resolves.toMatchObject({ status: 'canceled', ended_at: end });
  });
});
