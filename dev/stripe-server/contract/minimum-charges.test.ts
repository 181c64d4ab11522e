import Stripe from 'stripe';
import { START, startHarness, type Harness } from './harness';
import { latestInvoice, monthlyPrice, payingCustomer } from './billing-fixtures';
import { minimumChargeAmount } from '../core/currencies';

/**
 * Minimum charges and the customer's balance, as Stripe documents them:
 * - "If the amount due for the invoice is less than Stripe's minimum allowed charge per currency,
 *   the invoice is automatically marked paid, and we add the amount due to the customer's credit
 *   balance which is applied to the next invoice": https://docs.stripe.com/api/invoices/object
 * - minimums per currency (USD 0.50, GBP 0.30, JPY 50, …):
 *   https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts
 * - the debit is an `invoice_too_small` balance transaction, and the balance "automatically
 *   applies toward the next invoice finalized to a customer":
 *   https://docs.stripe.com/billing/customer/balance
 */
let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client();
});
afterAll(() => harness.server.close());

async function subscribed(amount: number, currency = 'usd') {
  const customer = await payingCustomer(stripe);
  const price = await monthlyPrice(stripe, amount, currency);
  const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
  return { customer, subscription };
}

describe('an invoice below the minimum charge', () => {
  it('is marked paid without a charge, and its amount becomes a debit on the customer balance', async () => {
    const { customer, subscription } = await subscribed(30);
    const invoice = await latestInvoice(stripe, subscription);
    expect(invoice).toMatchObject({ status: 'paid', total: 30, amount_due: 0, amount_paid: 0, amount_remaining: 0, starting_balance: 0, ending_balance: 30 });
    await expect(stripe.customers.retrieve(customer.id)).resolves.toMatchObject({ balance: 30 });
    const ledger = await stripe.customers.listBalanceTransactions(customer.id);
    expect(ledger.data).toEqual([expect.objectContaining({ type: 'invoice_too_small', amount: 30, ending_balance: 30, invoice: invoice.id, currency: 'usd' })]);
    const subscriptionNow = await stripe.subscriptions.retrieve(subscription.id);
    expect(subscriptionNow.status).toBe('active');
  });

  it('carries the debit to the next invoice, which charges it with its own total', async () => {
    const { customer, subscription } = await subscribed(30);
    const end = subscription.items.data[0]?.current_period_end as number;
    await stripe.subscriptionItems.update(subscription.items.data[0]!.id, { quantity: 3, proration_behavior: 'none' });
    harness.server.clock.advanceTo(end + 2 * 3600);
    const renewal = await latestInvoice(stripe, await stripe.subscriptions.retrieve(subscription.id));
    expect(renewal).toMatchObject({ billing_reason: 'subscription_cycle', status: 'paid', total: 90, starting_balance: 30, amount_due: 120, amount_paid: 120, ending_balance: 0 });
    await expect(stripe.customers.retrieve(customer.id)).resolves.toMatchObject({ balance: 0 });
    const ledger = await stripe.customers.listBalanceTransactions(customer.id);
    expect(ledger.data.map((t) => [t.type, t.amount, t.ending_balance])).toEqual([
      ['applied_to_invoice', -30, 0],
      ['invoice_too_small', 30, 30],
    ]);
  });

  it('keeps adding while the amount due stays below the minimum', async () => {
    const { customer, subscription } = await subscribed(20);
    harness.server.clock.advanceTo((subscription.items.data[0]?.current_period_end as number) + 2 * 3600);
    const renewal = await latestInvoice(stripe, await stripe.subscriptions.retrieve(subscription.id));
    expect(renewal).toMatchObject({ status: 'paid', total: 20, starting_balance: 20, amount_due: 0, amount_paid: 0, ending_balance: 40 });
    await expect(stripe.customers.retrieve(customer.id)).resolves.toMatchObject({ balance: 40 });
  });

  it('uses each currency\'s minimum: GBP 0.30 is charged, JPY 49 is not', async () => {
    const gbp = await subscribed(30, 'gbp');
    await expect(latestInvoice(stripe, gbp.subscription)).resolves.toMatchObject({ status: 'paid', amount_due: 30, amount_paid: 30, ending_balance: 0 });
    const jpy = await subscribed(49, 'jpy');
    await expect(latestInvoice(stripe, jpy.subscription)).resolves.toMatchObject({ status: 'paid', amount_due: 0, amount_paid: 0, ending_balance: 49 });
  });

  it('charges exactly the minimum (USD 0.50)', async () => {
    const { subscription } = await subscribed(50);
    await expect(latestInvoice(stripe, subscription)).resolves.toMatchObject({ amount_due: 50, amount_paid: 50, ending_balance: 0 });
  });

  // Beyond USD, EUR, GBP and JPY, as the table at
  // https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts gives them.
  it.each([
    ['huf', 17500],
    ['thb', 1000],
    ['mxn', 1000],
    ['czk', 1500],
    ['dkk', 250],
  ])('uses the documented minimum in %s (%i minor units): one unit less is carried, the minimum is charged', async (currency, minimum) => {
    const below = await subscribed(minimum - 1, currency);
    await expect(latestInvoice(stripe, below.subscription)).resolves.toMatchObject({ status: 'paid', amount_due: 0, amount_paid: 0, ending_balance: minimum - 1 });
    const at = await subscribed(minimum, currency);
    await expect(latestInvoice(stripe, at.subscription)).resolves.toMatchObject({ status: 'paid', amount_due: minimum, amount_paid: minimum, ending_balance: 0 });
  });

  it("knows every minimum of Stripe's table, in minor units, and none for a currency the table leaves out", () => {
    // https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts ("Settlement currency |
    // Minimum charge amount"): USD $0.50, AED 2.00 د.إ, AUD $0.50, BGN лв1.00, BRL R$0.50, CAD $0.50,
    // CHF 0.50 Fr, CZK 15.00Kč, DKK 2.50-kr., EUR €0.50, GBP £0.30, HKD $4.00, HUF 175.00 Ft, INR ₹0.50,
    // JPY ¥50, MXN $10, MYR RM 2, NOK 3.00-kr., NZD $0.50, PLN 2.00 zł, RON lei2.00, SEK 3.00-kr.,
    // SGD $0.50, THB ฿10.
    const documented: Record<string, number> = {
      usd: 50, aed: 200, aud: 50, bgn: 100, brl: 50, cad: 50, chf: 50, czk: 1500, dkk: 250, eur: 50, gbp: 30, hkd: 400,
      huf: 17500, inr: 50, jpy: 50, mxn: 1000, myr: 200, nok: 300, nzd: 50, pln: 200, ron: 200, sek: 300, sgd: 50, thb: 1000,
    };
    expect(Object.fromEntries(Object.keys(documented).map((c) => [c, minimumChargeAmount(c)]))).toEqual(documented);
    expect(minimumChargeAmount('KWD')).toBe(1);
  });
});

describe('a credit on the customer balance', () => {
  it('reduces the amount due and keeps what is left', async () => {
    const customer = await payingCustomer(stripe);
    await stripe.customers.update(customer.id, { balance: -1500 });
    const price = await monthlyPrice(stripe, 1000);
    const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    await expect(latestInvoice(stripe, subscription)).resolves.toMatchObject({
      status: 'paid',
      total: 1000,
      starting_balance: -1500,
      amount_due: 0,
      amount_paid: 0,
      ending_balance: -500,
    });
    await expect(stripe.customers.retrieve(customer.id)).resolves.toMatchObject({ balance: -500 });
  });
});
