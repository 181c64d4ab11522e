import Stripe from 'stripe';
import { fixedPriceSubscription, forEachBillingHarness } from '../../helpers/billing-harness';
import { DEVPORTAL, PUBLISHER, SCOPES } from '../../helpers/rest-harness';

const WEBHOOK = '/api/am/monetization/webhooks/stripe/carbon.super';

forEachBillingHarness({ holdUntilPaid: true, graceDays: 3 }, (harness, _kind, stripeServer) => {

  const subscription = () => fixedPriceSubscription(harness());

  const gatewayToken = () => harness().token('gateway', ['apim:usage_ingest']);
  const accessOf = async (subscriptionId: string) => (await harness().call('GET', `/api/am/usage/v1/subscriptions/${subscriptionId}/access`, gatewayToken())).body;
  const recordedEvents = async () => (await harness().service.db('ML_WEBHOOK_EVENT').select('EVENT_ID')).map((r: { EVENT_ID: string }) => r.EVENT_ID);

  function signed(payload: string, secret: string, at = Math.floor(Date.now() / 1000)): string {
    return Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: at });
  }

  const strangerEvent = (id: string) =>
    JSON.stringify({ id, object: 'event', type: 'customer.subscription.deleted', created: 1, account: 'acct_x', data: { object: { id: 'sub_not_ours', object: 'subscription', status: 'canceled' } } });

  describe('the webhook endpoint', () => {
    it('refuses a bad signature with 400 and changes nothing', async () => {
      const payload = strangerEvent('evt_bad_signature');
      const response = await harness().call('POST', WEBHOOK, undefined, payload, { 'stripe-signature': signed(payload, 'whsec_someone_else') });
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ code: 400, description: expect.stringContaining('does not match') });
      expect(await recordedEvents()).not.toContain('evt_bad_signature');
    });

    it('refuses a delivery signed more than 300 s ago', async () => {
      const payload = strangerEvent('evt_stale');
      const response = await harness().call('POST', WEBHOOK, undefined, payload, { 'stripe-signature': signed(payload, harness().webhookSecret, Math.floor(Date.now() / 1000) - 301) });
      expect(response.status).toBe(400);
      expect(response.body.description).toContain('tolerance');
      expect(await recordedEvents()).not.toContain('evt_stale');
    });

    it('refuses an unknown tenant, and a tenant without a webhook secret', async () => {
      const payload = strangerEvent('evt_tenant');
      const header = { 'stripe-signature': signed(payload, harness().webhookSecret) };
      expect((await harness().call('POST', '/api/am/monetization/webhooks/stripe/nowhere.com', undefined, payload, header)).status).toBe(400);
      const noSecret = await harness().call('POST', '/api/am/monetization/webhooks/stripe/nosecret.com', undefined, payload, header);
      expect(noSecret.status).toBe(400);
      expect(noSecret.body.description).toContain('stripe_webhook_secret');
    });

    it('answers 404 for an engine that does not run here', async () => {
      const payload = strangerEvent('evt_engine');
      const response = await harness().call('POST', '/api/am/monetization/webhooks/paypal/carbon.super', undefined, payload, { 'stripe-signature': signed(payload, harness().webhookSecret) });
      expect(response.status).toBe(404);
    });

    it('acknowledges an event for an object it does not know', async () => {
      const payload = strangerEvent('evt_stranger');
      const response = await harness().call('POST', WEBHOOK, undefined, payload, { 'stripe-signature': signed(payload, harness().webhookSecret) });
      expect(response).toEqual({ status: 200, body: { received: true, outcome: 'unknown_object', reason: 'no Meterline subscription is billed by sub_not_ours' } });
    });

    it('a replayed delivery is acknowledged as a duplicate and changes nothing', async () => {
      const { subscriptionId } = await subscription();
      // Stripe sends a send_invoice subscription's first invoice an hour after the create (https://docs.stripe.com/subscriptions/invoices).
      stripeServer().clock.advance(3_600);
      await stripeServer().webhooks.flush();
      const invoices = (await harness().call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, harness().token('x', SCOPES.subscriber))).status;
      expect(invoices).toBe(404); // another user's subscription is not found
      const finalized = stripeServer().webhooks.deliveries().filter((d) => d.eventType === 'invoice.finalized' && d.url.endsWith(WEBHOOK)).at(-1)!;
      stripeServer().webhooks.replay(finalized.eventId);
      await stripeServer().webhooks.flush();
      const replayed = stripeServer().webhooks.deliveries().filter((d) => d.eventId === finalized.eventId);
      expect(replayed.map((d) => d.status)).toEqual([200, 200]);
      expect((await harness().service.db('ML_WEBHOOK_EVENT').where({ EVENT_ID: finalized.eventId })).length).toBe(1);
    });

    it('a paid that arrives before its finalized leaves the invoice PAID and the subscription unblocked', async () => {
      stripeServer().webhooks.pause();
      const { subscriptionId, account, subscriber } = await subscription();
      const invoice = (await harness().platform.invoices.list({}, { stripeAccount: account })).data[0]!;
      await harness().platform.invoices.pay(invoice.id!, { paid_out_of_band: true }, { stripeAccount: account });
      stripeServer().webhooks.reorder((a, b) => rank(a.event.type) - rank(b.event.type));
      stripeServer().webhooks.resume();
      await stripeServer().webhooks.flush();
      const order = stripeServer().webhooks
        .deliveries()
        .filter((d) => d.url.endsWith(WEBHOOK) && (d.eventType === 'invoice.paid' || d.eventType === 'invoice.finalized') && d.payload.includes(invoice.id!))
        .map((d) => d.eventType);
      expect(order).toEqual(['invoice.paid', 'invoice.finalized']);
      const list = (await harness().call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, subscriber)).body;
      expect(list.list).toEqual([expect.objectContaining({ invoiceId: invoice.id, status: 'PAID', amountPaid: '10.00', finalizedTime: expect.any(String) })]);
      expect(await accessOf(subscriptionId)).toMatchObject({ allowed: true, status: 'UNBLOCKED' });
    });
  });

  describe('the access endpoint', () => {
    it('a new subscription on a paid plan is ON_HOLD until its first invoice is paid', async () => {
      const { subscriptionId, status, account } = await subscription();
      expect(status).toBe('ON_HOLD');
      await stripeServer().webhooks.flush();
      expect(await accessOf(subscriptionId)).toEqual({ subscriptionId, allowed: false, status: 'ON_HOLD', reason: 'the first invoice of this subscription is not paid yet' });
      const invoice = (await harness().platform.invoices.list({}, { stripeAccount: account })).data[0]!;
      await harness().platform.invoices.pay(invoice.id!, { paid_out_of_band: true }, { stripeAccount: account });
      await stripeServer().webhooks.flush();
      expect(await accessOf(subscriptionId)).toMatchObject({ allowed: true, status: 'UNBLOCKED' });
    });

    it('the same subscribe again, while the subscription waits for its first payment, is 409 and makes nothing more', async () => {
      const held = await subscription();
      expect(held.status).toBe('ON_HOLD');
      const body = { applicationId: held.applicationId, apiId: held.apiId, throttlingPolicy: held.throttlingPolicy };
      const again = await harness().call('POST', `${DEVPORTAL}/subscriptions`, held.subscriber, body);
      expect(again.status).toBe(409);
      const live = (await harness().platform.subscriptions.list({ status: 'all' }, { stripeAccount: held.account })).data.filter((s) => s.status !== 'canceled');
      expect(live).toHaveLength(1);
      expect((await harness().platform.invoices.list({}, { stripeAccount: held.account })).data).toHaveLength(1);
      expect(await accessOf(held.subscriptionId)).toMatchObject({ status: 'ON_HOLD' });
    });

    it('needs a token with apim:usage_ingest, and does not know other tenants\' or unknown subscriptions', async () => {
      const { subscriptionId } = await subscription();
      const path = `/api/am/usage/v1/subscriptions/${subscriptionId}/access`;
      expect((await harness().call('GET', path)).status).toBe(401);
      expect((await harness().call('GET', path, harness().token('gateway', ['apim:subscribe']))).status).toBe(403);
      expect((await harness().call('GET', '/api/am/usage/v1/subscriptions/no-such-subscription/access', gatewayToken())).status).toBe(404);
    });

    it('refuses an id the database cannot hold with 400 naming subscriptionId, on every database', async () => {
      for (const id of ['a%00b', 'x'.repeat(257)]) {
        const answer = await harness().call('GET', `/api/am/usage/v1/subscriptions/${id}/access`, gatewayToken());
        expect(answer.status).toBe(400);
        expect(JSON.stringify(answer.body)).toContain('subscriptionId');
      }
    });
  });

  describe('invoice listings', () => {
    it("the publisher lists the invoices of the tenant's API; an unknown API is 404", async () => {
      const { apiId, publisher } = await subscription();
      // Stripe sends a send_invoice subscription's first invoice an hour after the create (https://docs.stripe.com/subscriptions/invoices).
      stripeServer().clock.advance(3_600);
      await stripeServer().webhooks.flush();
      const list = (await harness().call('GET', `${PUBLISHER}/apis/${apiId}/invoices`, publisher)).body;
      expect(list).toMatchObject({ count: 1, list: [expect.objectContaining({ apiId, status: 'OPEN', total: '10.00', currency: 'USD' })] });
      expect((await harness().call('GET', `${PUBLISHER}/apis/no-such-api/invoices`, publisher)).status).toBe(404);
      expect((await harness().call('GET', `${PUBLISHER}/apis/${apiId}/invoices`, harness().token('sam', SCOPES.subscriber))).status).toBe(403);
    });
  });
});

/** Stripe sends finalized before paid; these tests deliver paid first. */
function rank(type: string): number {
  return type === 'invoice.paid' ? 0 : type === 'invoice.finalized' ? 1 : 2;
}
