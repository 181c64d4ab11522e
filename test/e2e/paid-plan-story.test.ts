import { startBillingHarness, type BillingHarness } from '../helpers/billing-harness';
import { forEachTestDatabase } from '../helpers/databases';
import { policyBody, ADMIN, DEVPORTAL, PUBLISHER, SCOPES, uniqueName } from '../helpers/rest-harness';
import { DEFAULT_FINALIZATION_GRACE_SECONDS, startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { STORY_START } from '../helpers/test-clock';

/**
 * The whole paid-plan story over HTTP, with the local Stripe server billing and delivering its
 * signed webhooks to Meterline's endpoint: subscribe → ON_HOLD → first invoice paid → UNBLOCKED →
 * usage → the period closes → an invoice with the base fee and the metered calls → its payment
 * fails → blocked after the grace period → paid → unblocked → unsubscribe → final invoice.
 * Meterline's clock follows the Stripe server's, so moving one moves both. Each database gets its
 * own Stripe server starting at the same fixed instant, so neither the machine's date nor the
 * order of the databases changes what the story sees.
 */
const DAY = 86_400;

forEachTestDatabase((_kind, database) => {
  let stripeServer: StripeServer;
  let harness: BillingHarness;
  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0, startAt: STORY_START });
    harness = await startBillingHarness(database(), stripeServer, { holdUntilPaid: true, graceDays: 3 });
  });
  afterAll(async () => {
    await harness?.close();
    await stripeServer?.close();
  });

  it('bills, holds, blocks and unblocks a subscription from subscribe to unsubscribe', async () => {
    const { token, call, platform, service } = harness;
    const admin = token('admin', [...SCOPES.admin, 'apim:monetization_usage_publish']);
    const publisher = token('pat', SCOPES.publisher);
    const subscriber = token('sam', SCOPES.subscriber, 'sam@example.com');
    const gateway = token('gateway', ['apim:usage_ingest']);
    const access = async (subscriptionId: string) => (await call('GET', `/api/am/usage/v1/subscriptions/${subscriptionId}/access`, gateway, undefined)).body;
    const deliverWebhooks = () => stripeServer.webhooks.flush();

    // Admin: a per-request plan with a base fee. Publisher: an API on it, published and monetized.
    const body = policyBody(uniqueName('Metered'), { plan: 'DYNAMICRATE', price: '0.01' });
    (body.monetization!.properties as Record<string, string>).fixedPrice = '5.00';
    const policy = (await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, body)).body;
    const apiName = uniqueName('Weather');
    const api = (await call('POST', `${PUBLISHER}/apis`, publisher, { name: apiName, version: '1.0.0', context: `/${apiName.toLowerCase()}`, policies: [policy.policyName] })).body;
    expect((await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher)).status).toBe(200);
    const account = (await platform.accounts.create({ type: 'express', business_profile: { name: 'Weather Inc' } })).id;
    expect((await call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: account } })).status).toBe(201);

    // Subscriber: an application, a card saved with the platform, and the subscription.
    const app = (await call('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
    const subscriberRow = await service.db('AM_SUBSCRIBER').where({ USER_ID: 'sam' }).first('SUBSCRIBER_ID');
    const platformCustomer = await platform.customers.create({ email: 'sam@example.com' });
    const card = await platform.paymentMethods.attach('pm_card_visa', { customer: platformCustomer.id });
    await platform.customers.update(platformCustomer.id, { invoice_settings: { default_payment_method: card.id } });
    await service.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').insert({ SUBSCRIBER_ID: subscriberRow.SUBSCRIBER_ID, TENANT_ID: -1234, CUSTOMER_ID: platformCustomer.id });

    // Deliveries wait until the story lets them go, so "before the first payment" is really before.
    stripeServer.webhooks.pause();
    const subscribed = await call('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: app.applicationId, apiId: api.id, throttlingPolicy: policy.policyName });
    expect(subscribed.status).toBe(201);
    const subscriptionId: string = subscribed.body.subscriptionId;
    expect(subscribed.body.status).toBe('ON_HOLD');
    expect(await access(subscriptionId)).toMatchObject({ allowed: false, status: 'ON_HOLD' });

    // The first invoice (the base fee, in advance) is charged to the cloned card; its webhooks arrive.
    stripeServer.webhooks.resume();
    await deliverWebhooks();
    expect(await access(subscriptionId)).toMatchObject({ allowed: true, status: 'UNBLOCKED' });
    let invoices = (await call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, subscriber)).body;
    expect(invoices.list).toEqual([expect.objectContaining({ status: 'PAID', total: '5.00', currency: 'USD', billingReason: 'subscription_create' })]);

    // Usage: 250 successful calls in this period, published to Stripe.
    const now = stripeServer.clock.now() * 1000;
    const events = Array.from({ length: 250 }, (_, i) => ({
      eventId: `story-${subscriptionId}-${i}`,
      timestamp: now + i * 1000,
      apiId: api.id,
      applicationId: app.applicationId,
      subscriptionId,
      httpStatus: 200,
      tenant: 'carbon.super',
    }));
    expect((await call('POST', '/api/am/usage/v1/events', gateway, { events })).status).toBe(200);
    stripeServer.clock.advance(600); // the calls are in the past now
    expect((await call('POST', `${ADMIN}/monetization/publish-usage`, admin)).status).toBe(202);
    let status = (await call('GET', `${ADMIN}/monetization/publish-usage/status`, admin)).body;
    for (let i = 0; i < 100 && status.state !== 'COMPLETED'; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = (await call('GET', `${ADMIN}/monetization/publish-usage/status`, admin)).body;
    }
    expect(status).toMatchObject({ state: 'COMPLETED', status: 'SUCCESSFULL' });

    // The period closes; the renewal (base fee for the next period + 250 calls) is declined.
    const shared = (await platform.subscriptions.list({ status: 'all' }, { stripeAccount: account })).data[0]!;
    stripeServer.payments.failNext({ customer: shared.customer as string });
    const periodEnd = shared.items.data[0]!.current_period_end;
    // Stripe keeps the renewal a draft for an hour, then finalizes and charges it.
    const chargedAt = periodEnd + DEFAULT_FINALIZATION_GRACE_SECONDS;
    stripeServer.clock.advanceTo(chargedAt + 60);
    await deliverWebhooks();
    invoices = (await call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, subscriber)).body;
    const renewal = invoices.list.find((i: { billingReason: string }) => i.billingReason === 'subscription_cycle');
    expect(renewal).toMatchObject({ status: 'OPEN', total: '7.50', amountRemaining: '7.50', lastError: expect.any(String) });
    const renewalLines = (await platform.invoices.retrieve(renewal.invoiceId, {}, { stripeAccount: account })).lines.data;
    expect(renewalLines.map((l) => [l.quantity, l.amount]).sort()).toEqual([[1, 500], [250, 250]].sort());

    // Within the grace period the calls still go through; after it they are blocked.
    expect(await access(subscriptionId)).toMatchObject({ allowed: true });
    stripeServer.clock.advanceTo(chargedAt + 3 * DAY - 60);
    expect(await access(subscriptionId)).toMatchObject({ allowed: true });
    stripeServer.clock.advanceTo(chargedAt + 3 * DAY + 60);
    expect(await access(subscriptionId)).toMatchObject({ allowed: false, status: 'BLOCKED', reason: expect.stringContaining('unpaid since') });

    // The subscriber pays; access comes back.
    await platform.invoices.pay(renewal.invoiceId, {}, { stripeAccount: account });
    await deliverWebhooks();
    expect(await access(subscriptionId)).toMatchObject({ allowed: true, status: 'UNBLOCKED' });

    // The publisher sees every invoice of the API, the failed one with its error recorded.
    const publisherView = (await call('GET', `${PUBLISHER}/apis/${api.id}/invoices`, publisher)).body;
    expect(publisherView.list.map((i: { status: string }) => i.status).sort()).toEqual(['PAID', 'PAID']);

    // Unsubscribing cancels in Stripe with a final invoice.
    expect((await call('DELETE', `${DEVPORTAL}/subscriptions/${subscriptionId}`, subscriber)).status).toBe(200);
    await deliverWebhooks();
    const after = (await call('GET', `${PUBLISHER}/apis/${api.id}/invoices`, publisher)).body;
    expect(after.count).toBe(3);
    expect((await platform.subscriptions.retrieve(shared.id, {}, { stripeAccount: account })).status).toBe('canceled');
  }, 60_000);
});
