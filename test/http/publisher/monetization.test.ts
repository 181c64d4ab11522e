import { connectedAccount, createApi, createApplication, createPolicy, monetize, monetizedWorld, roleTokens, subscribe } from '../../helpers/rest-fixtures';
import { DEVPORTAL, policyBody, PUBLISHER, forEachRestHarness, uniqueName } from '../../helpers/rest-harness';

/**
 * Publisher v4 monetization: POST /apis/{apiId}/monetize, GET /apis/{apiId}/monetization,
 * GET /apis/{apiId}/revenue, GET /subscriptions, GET /subscriptions/{id}/usage, GET /settings.
 */
forEachRestHarness((rest, _kind, stripeServer) => {
  let tokens: ReturnType<typeof roleTokens>;
  beforeAll(async () => {
    tokens = roleTokens(rest());
  });

  async function publishedApi(options: { publish?: boolean } = {}) {
    const gold = await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '20.00' }));
    const free = await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Free')));
    const api = await createApi(rest(), tokens.publisher, [gold.policyName, free.policyName], options);
    return { api, gold, free };
  }
  const monetizeCall = (apiId: string, body: unknown) => rest().call('POST', `${PUBLISHER}/apis/${apiId}/monetize`, { token: tokens.publisher, body });

  describe('POST /apis/{apiId}/monetize', () => {
    it('enables monetization: 201 {}, a price per COMMERCIAL tier in the connected account, the state recorded', async () => {
      const { api, gold } = await publishedApi();
      const account = await connectedAccount(rest());
      const response = await monetizeCall(api.id, { enabled: true, properties: { ConnectedAccountKey: account } });
      expect(response.status).toBe(201);
      expect(response.body).toEqual({});
      const prices = await rest().platform.prices.list({ active: true, limit: 10 }, { stripeAccount: account });
      expect(prices.data.map((p) => p.unit_amount)).toEqual([2000]);

      const status = await rest().call('GET', `${PUBLISHER}/apis/${api.id}/monetization`, { token: tokens.publisher });
      expect(status.status).toBe(200);
      expect(status.body).toEqual({ enabled: true, properties: { [gold.policyName]: prices.data[0]!.id } });
      const detail = await rest().call('GET', `${PUBLISHER}/apis/${api.id}`, { token: tokens.publisher });
      expect(detail.body.monetization).toEqual({ enabled: true, properties: { ConnectedAccountKey: account } });
    });

    it('disables monetization: the prices are archived and the status says so', async () => {
      const { api } = await publishedApi();
      const account = await connectedAccount(rest());
      await monetize(rest(), tokens.publisher, api.id, account);
      const response = await monetizeCall(api.id, { enabled: false, properties: { ConnectedAccountKey: account } });
      expect(response.status).toBe(201);
      expect((await rest().platform.prices.list({ active: true, limit: 10 }, { stripeAccount: account })).data).toEqual([]);
      const status = await rest().call('GET', `${PUBLISHER}/apis/${api.id}/monetization`, { token: tokens.publisher });
      expect(status.body).toEqual({ enabled: false, properties: {} });
    });

    it('400 with WSO2 code 904300 for an API that is not PUBLISHED', async () => {
      const { api } = await publishedApi({ publish: false });
      const response = await monetizeCall(api.id, { enabled: true, properties: { ConnectedAccountKey: await connectedAccount(rest()) } });
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ code: 904300, message: 'Invalid API state' });
      expect(response.body.description).toMatch(/only for PUBLISHED APIs; API .* is CREATED/);
    });

    it('400 (WSO2 900700) for empty properties, and for a missing required attribute, naming it', async () => {
      const { api } = await publishedApi();
      const empty = await monetizeCall(api.id, { enabled: true, properties: {} });
      expect(empty.status).toBe(400);
      expect(empty.body).toMatchObject({ code: 900700, error: [{ code: 'properties' }] });
      const missing = await monetizeCall(api.id, { enabled: true, properties: { Other: 'x' } });
      expect(missing.status).toBe(400);
      expect(missing.body.error).toEqual([{ code: 'properties.ConnectedAccountKey', message: 'Connected Account Key is required' }]);
      const blank = await monetizeCall(api.id, { enabled: true, properties: { ConnectedAccountKey: '  ' } });
      expect(blank.body.error[0].code).toBe('properties.ConnectedAccountKey');
    });

    it('400 from the engine for an account that is not connected to the platform; nothing recorded', async () => {
      const { api } = await publishedApi();
      const response = await monetizeCall(api.id, { enabled: true, properties: { ConnectedAccountKey: 'acct_notconnected1' } });
      expect(response.status).toBe(400);
      expect(response.body.description).toMatch(/is not a connected account of this tenant's Stripe platform/);
      const status = await rest().call('GET', `${PUBLISHER}/apis/${api.id}/monetization`, { token: tokens.publisher });
      expect(status.body.enabled).toBe(false);
    });

    it('400 for a body without enabled, or with a non-string property; 404 for an unknown API', async () => {
      const { api } = await publishedApi();
      expect((await monetizeCall(api.id, { properties: { ConnectedAccountKey: 'acct_1' } })).body.error[0].code).toBe('enabled');
      expect((await monetizeCall(api.id, { enabled: true, properties: { ConnectedAccountKey: 5 } })).body.error[0].code).toBe('properties.ConnectedAccountKey');
      expect((await monetizeCall('no-such-api', { enabled: true, properties: { ConnectedAccountKey: 'acct_1' } })).status).toBe(404);
    });

    it('503 when Stripe is unavailable; the API stays unmonetized, no key is echoed, and a retry succeeds', async () => {
      const { api } = await publishedApi();
      const account = await connectedAccount(rest());
      const fault = stripeServer().faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/products', account }, times: 1 });
      try {
        const response = await monetizeCall(api.id, { enabled: true, properties: { ConnectedAccountKey: account } });
        expect(response.status).toBe(503);
        expect(response.text).not.toContain('sk_test');
      } finally {
        stripeServer().faults.remove(fault);
      }
      expect((await rest().call('GET', `${PUBLISHER}/apis/${api.id}`, { token: tokens.publisher })).body.monetization.enabled).toBe(false);
      expect((await monetizeCall(api.id, { enabled: true, properties: { ConnectedAccountKey: account } })).status).toBe(201);
    });
  });

  describe('revenue, subscriptions and usage', () => {
    it('lists the subscriptions of an API and shows a subscription\'s pending invoice', async () => {
      const world = await monetizedWorld(rest(), tokens);
      const list = await rest().call('GET', `${PUBLISHER}/subscriptions?apiId=${world.api.id}`, { token: tokens.publisher });
      expect(list.status).toBe(200);
      expect(list.body).toMatchObject({
        count: 1,
        list: [
          {
            subscriptionId: world.subscriptionId,
            applicationInfo: { applicationId: world.applicationId, subscriber: 'sam' },
            throttlingPolicy: world.gold.policyName,
            subscriptionStatus: 'UNBLOCKED',
          },
        ],
        pagination: { offset: 0, limit: 25, total: 1 },
      });
      const usage = await rest().call('GET', `${PUBLISHER}/subscriptions/${world.subscriptionId}/usage`, { token: tokens.publisher });
      expect(usage.status).toBe(200);
      expect(usage.body.properties).toMatchObject({ Currency: 'USD', Total: '10.00', 'Amount Due': '10.00', 'Customer Email': 'sam@example.com' });
    });

    it('all subscriptions of the tenant\'s APIs without apiId; 404 for an unknown apiId', async () => {
      const world = await monetizedWorld(rest(), tokens);
      const all = await rest().call('GET', `${PUBLISHER}/subscriptions?limit=1000`, { token: tokens.publisher });
      expect(all.body.list.map((s: { subscriptionId: string }) => s.subscriptionId)).toContain(world.subscriptionId);
      expect((await rest().call('GET', `${PUBLISHER}/subscriptions?apiId=nope`, { token: tokens.publisher })).status).toBe(404);
    });

    it('usage of a FREE subscription is 404 (not billed)', async () => {
      const world = await monetizedWorld(rest(), tokens);
      const app = await createApplication(rest(), tokens.subscriber);
      const freeSubscription = await subscribe(rest(), tokens.subscriber, app, world.api.id, world.free.policyName);
      const usage = await rest().call('GET', `${PUBLISHER}/subscriptions/${freeSubscription}/usage`, { token: tokens.publisher });
      expect(usage.status).toBe(404);
      expect(usage.body.description).toMatch(/is not billed/);
    });

    it('revenue is WSO2\'s APIRevenue map of paid invoices; 404 for an API that is not monetized', async () => {
      const world = await monetizedWorld(rest(), tokens);
      const before = await rest().call('GET', `${PUBLISHER}/apis/${world.api.id}/revenue`, { token: tokens.publisher });
      expect(before.status).toBe(200);
      expect(before.body).toEqual({ properties: {} });
      // The subscriber pays the first (send_invoice) invoice in the publisher's account.
      const invoices = await rest().platform.invoices.list({ limit: 10 }, { stripeAccount: world.account });
      expect(invoices.data).toHaveLength(1);
      await rest().platform.invoices.pay(invoices.data[0]!.id!, { paid_out_of_band: true }, { stripeAccount: world.account });
      const after = await rest().call('GET', `${PUBLISHER}/apis/${world.api.id}/revenue`, { token: tokens.publisher });
      expect(after.body).toEqual({
        properties: { 'Total Revenue (USD)': '10.00', [`Revenue for subscription ID : ${world.subscriptionId} (USD)`]: '10.00' },
      });
      const plain = await createApi(rest(), tokens.publisher, [world.free.policyName]);
      const notMonetized = await rest().call('GET', `${PUBLISHER}/apis/${plain.id}/revenue`, { token: tokens.publisher });
      expect(notMonetized.status).toBe(404);
      expect(notMonetized.body.description).toMatch(/Monetization is not enabled/);
    });

    it('the subscriber\'s invoice is reachable by the publisher only through their tenant', async () => {
      const world = await monetizedWorld(rest(), tokens);
      const own = await rest().call('GET', `${DEVPORTAL}/subscriptions/${world.subscriptionId}/usage`, { token: tokens.subscriber });
      const published = await rest().call('GET', `${PUBLISHER}/subscriptions/${world.subscriptionId}/usage`, { token: tokens.publisher });
      expect(published.body.properties.Total).toBe(own.body.properties.Total);
    });
  });

  describe('GET /settings', () => {
    it('exposes the configured additional attributes as monetizationAttributes', async () => {
      const response = await rest().call('GET', `${PUBLISHER}/settings`, { token: rest().token({ sub: 'pat', scopes: ['apim:publisher_settings'] }) });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        monetizationAttributes: [
          { required: true, name: 'ConnectedAccountKey', displayName: 'Connected Account Key', description: 'Stripe Connect account id of the API publisher', hidden: false },
        ],
        crossTenantSubscriptionEnabled: false,
      });
    });
  });
});
