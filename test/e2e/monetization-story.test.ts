import { forEachTestDatabase } from '../helpers/databases';
import { ADMIN, DEVPORTAL, PUBLISHER, policyBody, SCOPES, startRestHarness, uniqueName, type RestHarness } from '../helpers/rest-harness';
import { DEFAULT_AGGREGATION_DELAY_SECONDS, startStripeServer, type StripeServer } from '../../dev/stripe-server';

/**
 * The whole story through Meterline's REST API, as WSO2 clients drive it: an admin creates a
 * per-request policy, a publisher creates, publishes and monetizes an API with their connected
 * account, a subscriber creates an application and subscribes, and sees the pending invoice.
 * Only two steps leave Meterline's HTTP API: the publisher opening a Stripe Connect account (done
 * in Stripe), and metered usage being reported (the usage publisher, a separate issue), which
 * goes through the same billing engine the service runs.
 */
let stripeServer: StripeServer;
beforeAll(async () => {
  stripeServer = await startStripeServer({ port: 0 });
});
afterAll(() => stripeServer.close());

forEachTestDatabase((_kind, database) => {
  let rest: RestHarness;
  beforeAll(async () => {
    rest = await startRestHarness(database(), stripeServer);
  });
  afterAll(() => rest.close());

  it('admin policy → published, monetized API → subscription → the subscriber sees the pending invoice', async () => {
    const admin = rest.token({ sub: 'admin', scopes: SCOPES.admin });
    const publisher = rest.token({ sub: 'pat', scopes: SCOPES.publisher });
    const subscriber = rest.token({ sub: 'sam', email: 'sam@example.com', scopes: SCOPES.subscriber });
    const tier = uniqueName('PerCall');

    // 1. The admin creates a DYNAMICRATE policy: 0.0005 USD per request, billed monthly.
    const policy = await rest.call('POST', `${ADMIN}/throttling/policies/subscription`, {
      token: admin,
      body: policyBody(tier, { plan: 'DYNAMICRATE', price: '0.0005' }),
    });
    expect(policy.status).toBe(201);
    expect(policy.body.monetization).toEqual({
      monetizationPlan: 'DYNAMICRATE',
      properties: { pricePerRequest: '0.0005', currencyType: 'USD', billingCycle: 'month' },
    });

    // 2. The publisher creates the API on that tier and publishes it.
    const api = await rest.call('POST', `${PUBLISHER}/apis`, {
      token: publisher,
      body: { name: uniqueName('Weather'), version: '1.0.0', context: `/${uniqueName('weather')}`, policies: [tier] },
    });
    expect(api.status).toBe(201);
    expect(api.body).toMatchObject({ provider: 'pat', lifeCycleStatus: 'CREATED', policies: [tier] });
    const apiId: string = api.body.id;
    const published = await rest.call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${apiId}&action=Publish`, { token: publisher });
    expect(published.status).toBe(200);
    expect(published.body.lifecycleState.state).toBe('Published');

    // 3. With a connected account opened in Stripe, the publisher enables monetization.
    const account = (await rest.platform.accounts.create({ type: 'express', country: 'US', business_profile: { name: 'Weather Co' } })).id;
    const monetized = await rest.call('POST', `${PUBLISHER}/apis/${apiId}/monetize`, {
      token: publisher,
      body: { enabled: true, properties: { ConnectedAccountKey: account } },
    });
    expect(monetized.status).toBe(201);
    const status = await rest.call('GET', `${PUBLISHER}/apis/${apiId}/monetization`, { token: publisher });
    expect(status.body.enabled).toBe(true);
    expect(status.body.properties[tier]).toMatch(/^price_/);

    // 4. The subscriber creates an application and subscribes it on the tier.
    const app = await rest.call('POST', `${DEVPORTAL}/applications`, { token: subscriber, body: { name: 'forecaster', throttlingPolicy: 'Unlimited' } });
    expect(app.status).toBe(201);
    const subscription = await rest.call('POST', `${DEVPORTAL}/subscriptions`, {
      token: subscriber,
      body: { applicationId: app.body.applicationId, apiId, throttlingPolicy: tier },
    });
    expect(subscription.status).toBe(201);
    expect(subscription.body).toMatchObject({ apiId, applicationId: app.body.applicationId, throttlingPolicy: tier, status: 'UNBLOCKED' });
    const subscriptionId: string = subscription.body.subscriptionId;

    // The subscription lives in the publisher's connected account, for a customer with the subscriber's email.
    const stripeSubscriptions = await rest.platform.subscriptions.list({ limit: 10 }, { stripeAccount: account });
    expect(stripeSubscriptions.data).toHaveLength(1);
    expect(stripeSubscriptions.data[0]!.metadata).toMatchObject({ meterline_subscription_uuid: subscriptionId });

    // 5. 1,234 calls are reported (the usage publisher's job, run through the service's engine).
    const now = new Date(stripeServer.clock.now() * 1000);
    const sent = await rest.service.engine.reportUsage({
      subscription: {
        uuid: subscriptionId,
        api: { uuid: apiId, name: api.body.name, version: '1.0.0', provider: 'pat', tenant: { domain: 'carbon.super', id: -1234 } },
        application: { uuid: app.body.applicationId, name: 'forecaster' },
        subscriber: { userId: 'sam', email: 'sam@example.com' },
        policy: { uuid: policy.body.policyId, name: tier, tenant: { domain: 'carbon.super', id: -1234 }, billingPlan: 'COMMERCIAL', pricing: { plan: 'DYNAMICRATE', currency: 'usd', billingCycle: 'month', pricePerRequest: '0.0005' } },
      },
      quantity: 1234,
      windowStart: now,
      windowEnd: now,
      identifier: `e2e-${subscriptionId}`,
    });
    expect(sent).toEqual({ sent: true });
    stripeServer.clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS); // Stripe aggregates meter events asynchronously

    // 6. The subscriber sees the pending invoice: 1,234 × 0.0005 USD = 0.617 → 0.62 USD.
    const usage = await rest.call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/usage`, { token: subscriber });
    expect(usage.status).toBe(200);
    expect(usage.body.properties).toMatchObject({
      Currency: 'USD',
      Subtotal: '0.62',
      Total: '0.62',
      'Amount Due': '0.62',
      Paid: 'false',
      'Account Name': 'Weather Co',
      'Customer Email': 'sam@example.com',
    });
    // The publisher sees the same invoice for the subscription to their API.
    const publisherView = await rest.call('GET', `${PUBLISHER}/subscriptions/${subscriptionId}/usage`, { token: publisher });
    expect(publisherView.status).toBe(200);
    expect(publisherView.body.properties.Total).toBe('0.62');
  });
});
