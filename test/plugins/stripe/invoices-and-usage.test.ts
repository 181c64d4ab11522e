import { migrateLatest } from '../../helpers/migrations';
import type { PolicyPricing } from '../../../src/domain/model';
import { toWso2RevenueMap, toWso2UsageMap } from '../../../src/monetization/wso2-usage-map';
import { forEachTestDatabase } from '../../helpers/databases';
import { DEFAULT_AGGREGATION_DELAY_SECONDS } from '../../../dev/stripe-server';
import { buildEngine, connectedAccount, fixedMonthly, GatewaySeed, perRequest, sdkFor, tenantWithKey, uniquePlatformKey, useStripeServer } from './harness';

const stripeServer = useStripeServer();

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  /** One monetized API with one tier, and `count` applications subscribed to it. */
  async function subscribedWorld(pricing: PolicyPricing, count = 1) {
    const key = uniquePlatformKey();
    const db = database().knex;
    const engine = buildEngine(stripeServer(), db, [tenantWithKey(key)]);
    const seed = new GatewaySeed(db);
    const stripe = sdkFor(stripeServer(), key);
    const account = await connectedAccount(stripe);
    const policy = await seed.policy('Tier', pricing);
    const api = await seed.api({ name: 'Maps', provider: `bob-${account.slice(-6)}` });
    await engine.enableMonetization({ api, policies: [policy], properties: { ConnectedAccountKey: account } });
    await seed.recordMonetization(api, true, { ConnectedAccountKey: account });
    const subscriptions = [];
    for (let i = 0; i < count; i += 1) {
      const subscriber = await seed.subscriber();
      const app = await seed.application(subscriber);
      const subscription = await seed.subscription(api, app, subscriber, policy);
      const outcome = await engine.createSubscription(subscription);
      subscriptions.push({ subscription, stripeId: outcome.engineSubscriptionId! });
    }
    return { engine, stripe, account, api, subscriptions };
  }

  const now = () => new Date(stripeServer().clock.now() * 1000);
  /** Lets Stripe aggregate the meter events sent so far (it aggregates asynchronously). */
  const aggregated = () => stripeServer().clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS);

  describe('the pending invoice', () => {
    it('of a per-request plan bills 1,234 calls at 0.0005 USD as 0.62 USD, with WSO2 keys', async () => {
      const { engine, subscriptions } = await subscribedWorld(perRequest('0.0005'));
      const { subscription } = subscriptions[0]!;
      await engine.reportUsage({ subscription, quantity: 1234, windowStart: now(), windowEnd: now(), identifier: `u-${subscription.uuid}` });
      aggregated();

      const invoice = await engine.getCurrentUsageForSubscription(subscription);
      expect(invoice.currency).toBe('usd');
      expect(invoice.amountDue).toBe(62n);
      expect(invoice.lines).toEqual([expect.objectContaining({ quantity: 1234, unitAmountDecimal: '0.05', amount: 62n, apiName: 'Maps' })]);

      const map = toWso2UsageMap(invoice);
      expect(map).toMatchObject({ Currency: 'USD', 'Amount Due': '0.62', Total: '0.62', Subtotal: '0.62', Paid: 'false', 'Account Name': 'Publisher Inc' });
      expect(Object.keys(map).sort()).toEqual(
        [
          'Description', 'Paid', 'Tax', 'Invoice ID', 'Account Name', 'Next Payment Attempt', 'Customer Email', 'Currency',
          'Account Country', 'Amount Remaining', 'Period End', 'Due Date', 'Amount Due', 'Total Tax Amounts', 'Amount Paid',
          'Subtotal', 'Total', 'Period Start',
        ].sort(),
      );
      expect(map['Period Start']).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
    });

    it('of a per-request plan with a base fee has both lines: the fee in advance, the calls in arrears', async () => {
      const { engine, stripe, account, subscriptions } = await subscribedWorld({ ...perRequest('0.01'), fixedPrice: '5.00' });
      const { subscription, stripeId } = subscriptions[0]!;
      const stripeSub = await stripe.subscriptions.retrieve(stripeId, {}, { stripeAccount: account });
      expect(stripeSub.items.data.map((i) => i.price.recurring?.usage_type).sort()).toEqual(['licensed', 'metered']);
      const first = (await stripe.invoices.list({ subscription: stripeId }, { stripeAccount: account })).data[0]!;
      expect(first.total).toBe(500);

      await engine.reportUsage({ subscription, quantity: 300, windowStart: now(), windowEnd: now(), identifier: `base-${subscription.uuid}` });
      aggregated();
      const preview = await engine.getCurrentUsageForSubscription(subscription);
      expect(preview.lines.map((l) => [l.quantity, l.amount])).toEqual(expect.arrayContaining([[1, 500n], [300, 300n]]));
      expect(preview.amountDue).toBe(800n);
    });

    it('of a JPY fixed plan is in whole yen', async () => {
      const { engine, subscriptions } = await subscribedWorld(fixedMonthly('500', 'jpy'));
      const invoice = await engine.getCurrentUsageForSubscription(subscriptions[0]!.subscription);
      expect(invoice.currency).toBe('jpy');
      expect(toWso2UsageMap(invoice)).toMatchObject({ Currency: 'JPY', 'Amount Due': '500', Total: '500' });
    });

    it('of an unmonetized subscription is a NOT_MONETIZED error', async () => {
      const { engine, subscriptions } = await subscribedWorld(perRequest('0.01'));
      const unknown = { ...subscriptions[0]!.subscription, application: { uuid: 'no-such-app', name: 'x' } };
      await expect(engine.getCurrentUsageForSubscription(unknown)).rejects.toMatchObject({ code: 'NOT_MONETIZED' });
    });
  });

  describe('usage reports', () => {
    it('sending the same usage twice is billed once', async () => {
      const { engine, subscriptions } = await subscribedWorld(perRequest('0.01'));
      const { subscription } = subscriptions[0]!;
      const report = { subscription, quantity: 40, windowStart: now(), windowEnd: now(), identifier: `twice-${subscription.uuid}` };
      expect(await engine.reportUsage(report)).toEqual({ sent: true });
      expect(await engine.reportUsage(report)).toEqual({ sent: true });
      aggregated();
      const invoice = await engine.getCurrentUsageForSubscription(subscription);
      expect(invoice.lines.map((l) => l.quantity)).toEqual([40]);
    });

    it('a window with no usage sends nothing', async () => {
      const { engine, subscriptions } = await subscribedWorld(perRequest('0.01'));
      const { subscription } = subscriptions[0]!;
      stripeServer().requests.reset();
      expect(await engine.reportUsage({ subscription, quantity: 0, windowStart: now(), windowEnd: now(), identifier: 'zero' })).toEqual({
        sent: false,
        reason: 'no usage in the window',
      });
      expect(stripeServer().requests.list()).toEqual([]);
    });
  });

  describe('revenue', () => {
    it('is the sum of the paid invoices of every subscription of the API', async () => {
      const { engine, stripe, account, api, subscriptions } = await subscribedWorld(fixedMonthly('10.00'), 2);
      // Stripe sends a send_invoice subscription's first invoice an hour after the create (https://docs.stripe.com/subscriptions/invoices).
      stripeServer().clock.advance(3_600);
      for (const { stripeId } of subscriptions) {
        const invoices = await stripe.invoices.list({ subscription: stripeId, limit: 10 }, { stripeAccount: account });
        for (const invoice of invoices.data.filter((i) => i.status === 'open')) {
          await stripe.invoices.pay(invoice.id!, { paid_out_of_band: true }, { stripeAccount: account });
        }
      }
      const revenue = await engine.getTotalRevenue(api);
      expect(revenue.byCurrency).toEqual({ usd: 2000n });
      expect(toWso2RevenueMap(revenue)['Total Revenue (USD)']).toBe('20.00');
      expect(revenue.subscriptions.map((s) => s.subscriptionUuid).sort()).toEqual(subscriptions.map((s) => s.subscription.uuid).sort());
    });

    it('counts nothing that is not paid', async () => {
      const { engine, api } = await subscribedWorld(fixedMonthly('10.00'), 1);
      expect((await engine.getTotalRevenue(api)).byCurrency).toEqual({});
    });
  });
});

describe('WSO2 maps format money exactly in the major unit', () => {
  const base = {
    invoiceId: null, description: null, accountName: null, accountCountry: null, customerEmail: null,
    periodStart: new Date(Date.UTC(2026, 10, 1)), periodEnd: new Date(Date.UTC(2026, 11, 1)), dueDate: null, nextPaymentAttempt: null,
    paid: false, tax: 0n, amountPaid: 0n, lines: [], hostedInvoiceUrl: null,
  };

  it.each([
    ['kwd', 1234n, '1.234'],
    ['usd', 5n, '0.05'],
    ['jpy', 500n, '500'],
  ])('%s %s minor units → %s', (currency, minor, text) => {
    const map = toWso2UsageMap({ ...base, currency, subtotal: minor, total: minor, amountDue: minor, amountRemaining: minor });
    expect(map['Amount Due']).toBe(text);
    expect(map.Currency).toBe(currency.toUpperCase());
  });

  it('formats times as WSO2 does, in UTC', () => {
    const map = toWso2UsageMap({ ...base, currency: 'usd', subtotal: 0n, total: 0n, amountDue: 0n, amountRemaining: 0n });
    expect(map['Period Start']).toBe('2026-11-01 00:00:00 UTC');
    expect(map['Due Date']).toBe('');
  });
});
