import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { SESSION_COOKIE } from '../../../src/http/pages/devportal-pages';
import { fixedPriceSubscription, forEachBillingHarness } from '../../helpers/billing-harness';
import { DEVPORTAL } from '../../helpers/rest-harness';

/**
 * Billing events change only what they may: another tenant's secret, another connected account
 * or metadata naming a subscription never reach it. Each attack is acknowledged with a reason
 * and leaves the victim's standing, invoices and invoice page as they were.
 */
const WEBHOOK = '/api/am/monetization/webhooks/stripe/carbon.super';
const ACME_WEBHOOK = '/api/am/monetization/webhooks/stripe/acme.com';

forEachBillingHarness({ holdUntilPaid: true, graceDays: 0 }, (harness, _kind, stripeServer) => {

  /** carbon.super's subscription at 5.00 a month, ON_HOLD with its first invoice open. */
  async function victim() {
    const subscription = await fixedPriceSubscription(harness(), { price: '5.00' });
    await stripeServer().webhooks.flush();
    const invoice = (await harness().platform.invoices.list({}, { stripeAccount: subscription.account })).data[0]!;
    const engineSubscriptionId = invoice.parent!.subscription_details!.subscription as string;
    return { ...subscription, invoice, engineSubscriptionId };
  }

  /** Everything an event could change about a subscription, as Meterline shows and stores it. */
  async function stateOf(v: Awaited<ReturnType<typeof victim>>) {
    const gateway = harness().token('gateway', ['apim:usage_ingest']);
    const page = await fetch(`${harness().url}/devportal/subscriptions/${v.subscriptionId}/invoice`, { headers: { cookie: `${SESSION_COOKIE}=${v.subscriber}` } });
    return {
      access: (await harness().call('GET', `/api/am/usage/v1/subscriptions/${v.subscriptionId}/access`, gateway)).body,
      standing: await harness().service.db('ML_SUBSCRIPTION_BILLING').where({ SUBSCRIPTION_UUID: v.subscriptionId }).first('AWAITING_FIRST_PAYMENT', 'FAILING_SINCE', 'CANCELLED_AT'),
      gatewayStatus: (await harness().service.db('AM_SUBSCRIPTION').where({ UUID: v.subscriptionId }).first('SUB_STATUS')).SUB_STATUS,
      invoices: (await harness().call('GET', `${DEVPORTAL}/subscriptions/${v.subscriptionId}/invoices`, v.subscriber)).body,
      records: await harness().service.db('ML_INVOICE').where({ ENGINE_INVOICE_ID: v.invoice.id! }).select('TENANT_DOMAIN', 'SUBSCRIPTION_UUID', 'ENGINE_ACCOUNT', 'STATUS', 'UPDATED_AT'),
      page: { status: page.status, body: await page.text() },
    };
  }

  function post(path: string, secret: string, event: { type: string; account: string | null; object: unknown }) {
    const payload = JSON.stringify({
      id: `evt_forged_${randomUUID()}`,
      object: 'event',
      type: event.type,
      created: stripeServer().clock.now(),
      account: event.account,
      data: { object: event.object },
    });
    return harness().call('POST', path, undefined, payload, { 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret }) });
  }

  /** The four events that would change a subscription: paid, failed, a new invoice with a pay link, cancelled. */
  function attacks(v: Awaited<ReturnType<typeof victim>>) {
    const { invoice } = v;
    return [
      { type: 'invoice.paid', object: { ...invoice, status: 'paid', amount_paid: invoice.total, amount_remaining: 0 } },
      { type: 'invoice.payment_failed', object: { ...invoice, status: 'open' } },
      {
        type: 'invoice.finalized',
        object: { ...invoice, id: `in_forged_${randomUUID().slice(0, 8)}`, status: 'open', total: 99999, amount_due: 99999, amount_remaining: 99999, hosted_invoice_url: 'https://evil.example/pay' },
      },
      { type: 'customer.subscription.deleted', object: { id: v.engineSubscriptionId, object: 'subscription', status: 'canceled' } },
    ];
  }

  it("an event signed with another tenant's secret changes nothing of this tenant's subscription", async () => {
    const v = await victim();
    const before = await stateOf(v);
    expect(before.access).toMatchObject({ status: 'ON_HOLD' });
    for (const attack of attacks(v)) {
      const response = await post(ACME_WEBHOOK, harness().acme.webhookSecret, { ...attack, account: v.account });
      expect({ type: attack.type, ...response }).toEqual({
        type: attack.type,
        status: 200,
        body: { received: true, outcome: 'ignored', reason: expect.stringMatching(/(bills a subscription of|is recorded for) another tenant$/) },
      });
    }
    const after = await stateOf(v);
    expect(after).toEqual(before);
    expect(after.page.body).not.toContain('evil.example');
    expect(await harness().service.db('ML_INVOICE').where({ TENANT_DOMAIN: 'acme.com' })).toEqual([]);
  });

  it('an event from a connected account other than the one that bills the subscription changes nothing', async () => {
    const v = await victim();
    const other = (await harness().platform.accounts.create({ type: 'express' })).id;
    const before = await stateOf(v);
    for (const attack of attacks(v)) {
      const response = await post(WEBHOOK, harness().webhookSecret, { ...attack, account: other });
      expect(response.body).toMatchObject({ outcome: 'ignored', reason: expect.stringMatching(new RegExp(`(billed|recorded) in account ${v.account}, not ${other}$`)) });
    }
    expect(await stateOf(v)).toEqual(before);
  });

  it("a paid subscription in another connected account whose metadata names the victim does not unblock it", async () => {
    const v = await victim();
    const before = await stateOf(v);
    // Another publisher's account: a 1.00 USD subscription that claims to be the victim's (above
    // Stripe's 0.50 USD minimum charge, so its invoice is open until paid).
    const attacker = (await harness().platform.accounts.create({ type: 'express' })).id;
    const options = { stripeAccount: attacker };
    const product = await harness().platform.products.create({ name: 'cheap' }, options);
    const price = await harness().platform.prices.create({ product: product.id, currency: 'usd', unit_amount: 100, recurring: { interval: 'month' } }, options);
    const customer = await harness().platform.customers.create({ email: 'mallory@example.com' }, options);
    const cheap = await harness().platform.subscriptions.create(
      {
        customer: customer.id,
        items: [{ price: price.id }],
        collection_method: 'send_invoice',
        days_until_due: 7,
        metadata: { meterline_subscription_uuid: v.subscriptionId, meterline_api_uuid: v.apiId, meterline_tenant: 'carbon.super' },
      },
      options,
    );
    const cheapInvoice = (await harness().platform.invoices.list({ subscription: cheap.id }, options)).data[0]!;
    expect(cheapInvoice.parent?.subscription_details?.metadata?.meterline_subscription_uuid).toBe(v.subscriptionId);
    await harness().platform.invoices.pay(cheapInvoice.id!, { paid_out_of_band: true }, options);
    await stripeServer().webhooks.flush();

    const paid = stripeServer().webhooks.deliveries().filter((d) => d.url.endsWith(WEBHOOK) && d.eventType === 'invoice.paid' && d.payload.includes(cheapInvoice.id!));
    expect(paid.map((d) => d.status)).toEqual([200]);
    expect(await stateOf(v)).toEqual(before);
    expect(await harness().service.db('ML_INVOICE').where({ ENGINE_INVOICE_ID: cheapInvoice.id! })).toEqual([]);

    // The victim's own first invoice still unblocks it.
    await harness().platform.invoices.pay(v.invoice.id!, { paid_out_of_band: true }, { stripeAccount: v.account });
    await stripeServer().webhooks.flush();
    expect((await stateOf(v)).access).toMatchObject({ status: 'UNBLOCKED', allowed: true });
  });

  describe('a signed body that is not a well-formed event is refused with 400 naming the field', () => {
    const refused = async (payload: string) => {
      const response = await harness().call('POST', WEBHOOK, undefined, payload, { 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: harness().webhookSecret }) });
      expect(response.status).toBe(400);
      return response.body.description as string;
    };
    const invoiceEvent = (fields: Record<string, unknown>) =>
      JSON.stringify({
        id: `evt_${randomUUID()}`,
        object: 'event',
        type: 'invoice.paid',
        created: stripeServer().clock.now(),
        data: { object: { id: 'in_1', currency: 'usd', status: 'paid', total: 1, amount_due: 1, amount_paid: 1, amount_remaining: 0, period_start: 1, period_end: 2, ...fields } },
      });

    it('an object without the event fields', async () => {
      expect(await refused('{"a":1}')).toMatch(/field id is invalid/);
    });

    it('an array, or null', async () => {
      expect(await refused('[]')).toMatch(/the Stripe event is invalid: .*expected object/);
      expect(await refused('null')).toMatch(/the Stripe event is invalid: .*expected object/);
    });

    it("an invoice whose period_start is not a time", async () => {
      expect(await refused(invoiceEvent({ period_start: 'x' }))).toMatch(/field data\.object\.period_start is invalid/);
      expect(await refused(invoiceEvent({ period_start: 1e20 }))).toMatch(/field data\.object\.period_start is invalid/);
    });

    it('a well-formed invoice event is accepted', async () => {
      const payload = invoiceEvent({});
      const accepted = await harness().call('POST', WEBHOOK, undefined, payload, { 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: harness().webhookSecret }) });
      expect(accepted).toEqual({ status: 200, body: { received: true, outcome: 'unknown_object', reason: 'invoice in_1 bills no subscription' } });
    });
  });
});
