import Stripe from 'stripe';
import { START, startHarness, type Harness } from './harness';
import { latestInvoice, meteredPrice, monthlyPrice, payingCustomer, reportUsage } from './billing-fixtures';
import { DEFAULT_AGGREGATION_DELAY_SECONDS, DEFAULT_FINALIZATION_GRACE_SECONDS } from '../billing/usage';

/**
 * The renewal draft hour. "All invoices have a default finalization grace period of 1 hour.
 * During the finalization grace period, you can continue to report usage for the previous billing
 * period. During finalization, Stripe updates the invoice to reflect the latest quantity":
 * https://docs.stripe.com/billing/subscriptions/usage-based/configure-grace-period (the renewal
 * lifecycle: https://docs.stripe.com/billing/invoices/subscription#subscription-renewal). Meter
 * events are aggregated asynchronously, so one received just before finalization may miss it:
 * https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage
 */
let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client();
});
afterAll(() => harness.server.close());

const HOUR = DEFAULT_FINALIZATION_GRACE_SECONDS;

/** A paying customer on a 10.00 base price and a 1 ¢-per-call metered price; the clock at its period end. */
async function atPeriodEnd(eventName: string) {
  const customer = await payingCustomer(stripe);
  const fixed = await monthlyPrice(stripe, 1000);
  const { price: metered } = await meteredPrice(stripe, eventName, '1');
  const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: fixed.id }, { price: metered.id }] });
  const end = subscription.items.data[0]?.current_period_end as number;
  await reportUsage(stripe, eventName, customer.id, 100, harness.server.clock.now());
  harness.server.clock.advanceTo(end);
  const renewal = await latestInvoice(stripe, await stripe.subscriptions.retrieve(subscription.id));
  const report = (value: number, timestamp: number) => reportUsage(stripe, eventName, customer.id, value, timestamp);
  const usageOn = (invoice: Stripe.Invoice) => invoice.lines.data.find((l) => l.pricing?.price_details?.price === metered.id)?.quantity;
  return { subscription, end, renewal, report, usageOn };
}

describe('the renewal draft hour', () => {
  it('drafts the renewal invoice at period end and finalizes it an hour later', async () => {
    const { end, renewal } = await atPeriodEnd('draft_exists');
    expect(renewal).toMatchObject({ status: 'draft', billing_reason: 'subscription_cycle', period_end: end, automatically_finalizes_at: end + HOUR, number: null });
    harness.server.clock.advanceTo(end + HOUR - 1);
    await expect(stripe.invoices.retrieve(renewal.id)).resolves.toMatchObject({ status: 'draft' });
    harness.server.clock.advanceTo(end + HOUR);
    const finalized = await stripe.invoices.retrieve(renewal.id);
    expect(finalized).toMatchObject({ status: 'paid', total: 1000 + 100 });
    expect(finalized.status_transitions.finalized_at).toBe(end + HOUR);
  });

  it('puts usage reported during the hour for the closed period on its invoice', async () => {
    const { end, renewal, report, usageOn } = await atPeriodEnd('draft_late_usage');
    expect(usageOn(renewal)).toBe(100);
    harness.server.clock.advanceTo(end + 30 * 60);
    await report(25, end - 60); // the closed period's last minute, sent half an hour after it ended
    await report(7, end + 60); // the new period: not on this invoice
    harness.server.clock.advanceTo(end + HOUR);
    const finalized = await stripe.invoices.retrieve(renewal.id);
    expect(usageOn(finalized)).toBe(125);
    expect(finalized).toMatchObject({ status: 'paid', total: 1000 + 125, amount_paid: 1125 });
  });

  it("re-bills a graduated price's tier lines when usage of the hour crosses into the next tier", async () => {
    const customer = await payingCustomer(stripe);
    const meter = await stripe.billing.meters.create({ display_name: 'draft_tiers', event_name: 'draft_tiers', default_aggregation: { formula: 'sum' } });
    const product = await stripe.products.create({ name: 'Tiers' });
    const price = await stripe.prices.create({
      product: product.id,
      currency: 'usd',
      billing_scheme: 'tiered',
      tiers_mode: 'graduated',
      tiers: [
        { up_to: 100, unit_amount_decimal: Stripe.Decimal.from('1') },
        { up_to: 'inf', unit_amount_decimal: Stripe.Decimal.from('0.5'), flat_amount: 200 },
      ],
      recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
    });
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    const end = subscription.items.data[0]?.current_period_end as number;
    await reportUsage(stripe, 'draft_tiers', customer.id, 90, harness.server.clock.now());
    harness.server.clock.advanceTo(end);
    const renewal = await latestInvoice(stripe, await stripe.subscriptions.retrieve(subscription.id));
    const layout = (invoice: Stripe.Invoice) => invoice.lines.data.map((l) => [l.quantity, l.amount]);
    expect(layout(renewal)).toEqual([[90, 90]]);
    harness.server.clock.advanceTo(end + 30 * 60);
    await reportUsage(stripe, 'draft_tiers', customer.id, 21, end - 60);
    harness.server.clock.advanceTo(end + HOUR);
    const finalized = await stripe.invoices.retrieve(renewal.id);
    expect(layout(finalized)).toEqual([
      [100, 100],
      [11, 6], // 5.5 → 6
      [0, 200],
    ]);
    expect(finalized.total).toBe(306);
  });

  it('leaves usage for the closed period off its invoice once it is finalized', async () => {
    const { end, renewal, report, usageOn } = await atPeriodEnd('draft_too_late');
    harness.server.clock.advanceTo(end + HOUR + 60);
    await report(40, end - 60); // accepted (within 35 days), but its period's invoice is closed
    harness.server.clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS);
    const finalized = await stripe.invoices.retrieve(renewal.id);
    expect(usageOn(finalized)).toBe(100);
    expect(finalized.total).toBe(1100);
  });

  it('misses usage still being aggregated when the draft is finalized', async () => {
    const { end, renewal, report, usageOn } = await atPeriodEnd('draft_aggregating');
    harness.server.clock.advanceTo(end + HOUR - DEFAULT_AGGREGATION_DELAY_SECONDS);
    await report(3, end - 1); // aggregated exactly at finalization: counted
    harness.server.clock.advance(1);
    await report(9, end - 1); // still aggregating at finalization: missed
    harness.server.clock.advanceTo(end + HOUR);
    expect(usageOn(await stripe.invoices.retrieve(renewal.id))).toBe(103);
  });

  it('finalizes a draft early with its latest usage when asked to', async () => {
    const { end, renewal, report, usageOn } = await atPeriodEnd('draft_finalize_now');
    harness.server.clock.advanceTo(end + 60);
    await report(11, end - 30);
    harness.server.clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS);
    const finalized = await stripe.invoices.finalizeInvoice(renewal.id);
    expect(usageOn(finalized)).toBe(111);
    expect(finalized.total).toBe(1000 + 111);
  });
});

describe('the aggregation switch', () => {
  async function control(method: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const init: RequestInit = { method };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(`${harness.server.url}/_test/billing/aggregation_delay`, init);
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  it('is on by default, and turned off (0) a preview counts an event at once', async () => {
    await expect(control('GET')).resolves.toEqual({ status: 200, json: { seconds: DEFAULT_AGGREGATION_DELAY_SECONDS } });
    const customer = await payingCustomer(stripe);
    const { price } = await meteredPrice(stripe, 'switch_off', '1');
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    await expect(control('POST', { seconds: -1 })).resolves.toMatchObject({ status: 400 });
    await expect(control('POST', { seconds: 0 })).resolves.toEqual({ status: 200, json: { seconds: 0 } });
    try {
      await reportUsage(stripe, 'switch_off', customer.id, 8, harness.server.clock.now());
      const preview = await stripe.invoices.createPreview({ subscription: subscription.id });
      expect(preview.lines.data[0]?.quantity).toBe(8);
    } finally {
      harness.server.billing.setAggregationDelay(DEFAULT_AGGREGATION_DELAY_SECONDS);
    }
  });
});
