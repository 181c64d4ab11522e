import { forEachTestDatabase } from '../../helpers/databases';
import { createApi, createApplication, createPolicy, monetizedWorld, roleTokens, subscribe } from '../../helpers/rest-fixtures';
import { DEVPORTAL, policyBody, PUBLISHER, startRestHarness, uniqueName, type RestHarness } from '../../helpers/rest-harness';
import { startStripeServer, type StripeServer } from '../../../dev/stripe-server';

/** Developer portal v3: applications and subscriptions (the subscription workflows) and the pending invoice. */
let stripeServer: StripeServer;
beforeAll(async () => {
  stripeServer = await startStripeServer({ port: 0 });
});
afterAll(() => stripeServer.close());

forEachTestDatabase((_kind, database) => {
  let rest: RestHarness;
  let tokens: ReturnType<typeof roleTokens>;
  let subscriber: string;
  beforeAll(async () => {
    rest = await startRestHarness(database(), stripeServer);
    tokens = roleTokens(rest);
    subscriber = rest.token({ sub: `dev-${uniqueName('u')}`, email: 'dev@example.com', scopes: ['apim:subscribe'] });
  });
  afterAll(() => rest.close());

  describe('applications', () => {
    it('creates, gets and lists the caller\'s applications in WSO2 shape', async () => {
      const name = uniqueName('weather-app');
      const created = await rest.call('POST', `${DEVPORTAL}/applications`, {
        token: subscriber,
        body: { name, throttlingPolicy: 'Unlimited', description: 'forecasts' },
      });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        applicationId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        name,
        throttlingPolicy: 'Unlimited',
        description: 'forecasts',
        status: 'APPROVED',
        groups: [],
        subscriptionCount: 0,
        attributes: {},
        owner: expect.stringMatching(/^dev-/),
        tokenType: 'JWT',
      });
      expect(created.headers.get('location')).toBe(`${DEVPORTAL}/applications/${created.body.applicationId}`);
      const one = await rest.call('GET', `${DEVPORTAL}/applications/${created.body.applicationId}`, { token: subscriber });
      expect(one.body).toEqual(created.body);
      const byName = await rest.call('GET', `${DEVPORTAL}/applications?query=${name}`, { token: subscriber });
      expect(byName.body).toMatchObject({ count: 1, list: [{ applicationId: created.body.applicationId, name }], pagination: { total: 1 } });
    });

    it('the subscriber row is created on first use, with the token\'s email', async () => {
      const sub = `first-${uniqueName('u')}`;
      const token = rest.token({ sub, email: `${sub}@example.com`, scopes: ['apim:subscribe'] });
      expect((await rest.call('GET', `${DEVPORTAL}/applications`, { token })).body.count).toBe(0);
      await createApplication(rest, token);
      const row = await rest.service.db('AM_SUBSCRIBER').where({ USER_ID: sub, TENANT_ID: -1234 }).first('EMAIL_ADDRESS');
      expect(row.EMAIL_ADDRESS).toBe(`${sub}@example.com`);
    });

    it('409 for a second application of the same name; 400 naming the field for bad input', async () => {
      const name = uniqueName('dup');
      await createApplication(rest, subscriber, name);
      const duplicate = await rest.call('POST', `${DEVPORTAL}/applications`, { token: subscriber, body: { name, throttlingPolicy: 'Unlimited' } });
      expect(duplicate.status).toBe(409);
      const noTier = await rest.call('POST', `${DEVPORTAL}/applications`, { token: subscriber, body: { name: 'x' } });
      expect(noTier.body.error[0].code).toBe('throttlingPolicy');
      const tokenType = await rest.call('POST', `${DEVPORTAL}/applications`, { token: subscriber, body: { name: 'y', throttlingPolicy: 'Unlimited', tokenType: 'SAML' } });
      expect(tokenType.body.error[0].code).toBe('tokenType');
      // `keys` is in WSO2's schema (read-only): accepted when well typed, refused naming it when not.
      const keys = await rest.call('POST', `${DEVPORTAL}/applications`, { token: subscriber, body: { name: 'z', throttlingPolicy: 'Unlimited', keys: 'none' } });
      expect(keys.body.error[0].code).toBe('keys');
      const unknown = await rest.call('POST', `${DEVPORTAL}/applications`, { token: subscriber, body: { name: 'w', throttlingPolicy: 'Unlimited', secret: 's' } });
      expect(unknown.body.error[0]).toEqual({ code: 'secret', message: 'is not a supported field' });
    });

    it('deleting an application cancels its billed subscriptions first', async () => {
      const world = await monetizedWorld(rest, tokens);
      const response = await rest.call('DELETE', `${DEVPORTAL}/applications/${world.applicationId}`, { token: tokens.subscriber });
      expect(response.status).toBe(200);
      const stripeSubscriptions = await rest.platform.subscriptions.list({ status: 'all', limit: 10 }, { stripeAccount: world.account });
      expect(stripeSubscriptions.data.map((s) => s.status)).toEqual(['canceled']);
      expect((await rest.call('GET', `${DEVPORTAL}/applications/${world.applicationId}`, { token: tokens.subscriber })).status).toBe(404);
      expect((await rest.call('GET', `${DEVPORTAL}/subscriptions/${world.subscriptionId}`, { token: tokens.subscriber })).status).toBe(404);
      expect((await rest.call('DELETE', `${DEVPORTAL}/applications/${world.applicationId}`, { token: tokens.subscriber })).status).toBe(404);
    });
  });

  describe('subscriptions', () => {
    it('a FREE subscription is UNBLOCKED and creates nothing in Stripe', async () => {
      const free = await createPolicy(rest, tokens.admin, policyBody(uniqueName('Free')));
      const api = await createApi(rest, tokens.publisher, [free.policyName]);
      const app = await createApplication(rest, subscriber);
      const response = await rest.call('POST', `${DEVPORTAL}/subscriptions`, { token: subscriber, body: { applicationId: app, apiId: api.id, throttlingPolicy: free.policyName } });
      expect(response.status).toBe(201);
      expect(response.body).toEqual({
        subscriptionId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        applicationId: app,
        apiId: api.id,
        apiInfo: expect.objectContaining({ id: api.id, name: api.name, lifeCycleStatus: 'PUBLISHED', throttlingPolicies: [free.policyName] }),
        applicationInfo: expect.objectContaining({ applicationId: app }),
        throttlingPolicy: free.policyName,
        status: 'UNBLOCKED',
      });
      expect(response.headers.get('location')).toBe(`${DEVPORTAL}/subscriptions/${response.body.subscriptionId}`);
      const usage = await rest.call('GET', `${DEVPORTAL}/subscriptions/${response.body.subscriptionId}/usage`, { token: subscriber });
      expect(usage.status).toBe(404);
    });

    it('a COMMERCIAL subscription to a monetized API runs the workflow: a Stripe subscription at the tier\'s price', async () => {
      const world = await monetizedWorld(rest, tokens);
      const stripeSubscriptions = await rest.platform.subscriptions.list({ limit: 10 }, { stripeAccount: world.account });
      expect(stripeSubscriptions.data).toHaveLength(1);
      expect(stripeSubscriptions.data[0]!.items.data[0]!.price.unit_amount).toBe(1000);
      const one = await rest.call('GET', `${DEVPORTAL}/subscriptions/${world.subscriptionId}`, { token: tokens.subscriber });
      expect(one.body).toMatchObject({ subscriptionId: world.subscriptionId, status: 'UNBLOCKED', throttlingPolicy: world.gold.policyName });
      const app = await rest.call('GET', `${DEVPORTAL}/applications/${world.applicationId}`, { token: tokens.subscriber });
      expect(app.body.subscriptionCount).toBe(1);
      const usage = await rest.call('GET', `${DEVPORTAL}/subscriptions/${world.subscriptionId}/usage`, { token: tokens.subscriber });
      expect(usage.status).toBe(200);
      expect(usage.body.properties).toMatchObject({ Currency: 'USD', Subtotal: '10.00', Total: '10.00', 'Amount Due': '10.00' });
      expect(usage.body.properties['Period Start']).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
    });

    it('lists by application or by API (one is required, as in WSO2)', async () => {
      const world = await monetizedWorld(rest, tokens);
      const byApp = await rest.call('GET', `${DEVPORTAL}/subscriptions?applicationId=${world.applicationId}`, { token: tokens.subscriber });
      expect(byApp.body).toMatchObject({ count: 1, list: [{ subscriptionId: world.subscriptionId }] });
      const byApi = await rest.call('GET', `${DEVPORTAL}/subscriptions?apiId=${world.api.id}`, { token: tokens.subscriber });
      expect(byApi.body.list.map((s: { subscriptionId: string }) => s.subscriptionId)).toEqual([world.subscriptionId]);
      const neither = await rest.call('GET', `${DEVPORTAL}/subscriptions`, { token: tokens.subscriber });
      expect(neither.status).toBe(400);
      expect(neither.body.error[0].code).toBe('applicationId');
    });

    it('400 for a tier the API does not offer, or an API that is not PUBLISHED; 409 when already subscribed; 404 for unknown ids', async () => {
      const world = await monetizedWorld(rest, tokens);
      const other = await createApplication(rest, tokens.subscriber);
      const wrongTier = await rest.call('POST', `${DEVPORTAL}/subscriptions`, { token: tokens.subscriber, body: { applicationId: other, apiId: world.api.id, throttlingPolicy: 'Platinum' } });
      expect(wrongTier.status).toBe(400);
      expect(wrongTier.body.error[0].code).toBe('throttlingPolicy');
      const draft = await createApi(rest, tokens.publisher, [world.free.policyName], { publish: false });
      const unpublished = await rest.call('POST', `${DEVPORTAL}/subscriptions`, { token: tokens.subscriber, body: { applicationId: other, apiId: draft.id, throttlingPolicy: world.free.policyName } });
      expect(unpublished.status).toBe(400);
      expect(unpublished.body.error[0].code).toBe('apiId');
      const again = await rest.call('POST', `${DEVPORTAL}/subscriptions`, { token: tokens.subscriber, body: { applicationId: world.applicationId, apiId: world.api.id, throttlingPolicy: world.free.policyName } });
      expect(again.status).toBe(409);
      expect((await rest.call('POST', `${DEVPORTAL}/subscriptions`, { token: tokens.subscriber, body: { applicationId: 'nope', apiId: world.api.id, throttlingPolicy: world.free.policyName } })).status).toBe(404);
      expect((await rest.call('POST', `${DEVPORTAL}/subscriptions`, { token: tokens.subscriber, body: { applicationId: other, apiId: 'nope', throttlingPolicy: world.free.policyName } })).status).toBe(404);
      const missing = await rest.call('POST', `${DEVPORTAL}/subscriptions`, { token: tokens.subscriber, body: { applicationId: other, throttlingPolicy: world.free.policyName } });
      expect(missing.body.error[0].code).toBe('apiId');
    });

    it('parallel requests to subscribe the same application to the same API make exactly one subscription', async () => {
      const world = await monetizedWorld(rest, tokens);
      const app = await createApplication(rest, tokens.subscriber);
      const body = { applicationId: app, apiId: world.api.id, throttlingPolicy: world.gold.policyName };
      const answers = await Promise.all(Array.from({ length: 6 }, () => rest.call('POST', `${DEVPORTAL}/subscriptions`, { token: tokens.subscriber, body })));
      expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
      const listed = await rest.call('GET', `${DEVPORTAL}/subscriptions?applicationId=${app}`, { token: tokens.subscriber });
      expect(listed.body.count).toBe(1);
      const live = (await rest.platform.subscriptions.list({ status: 'all' }, { stripeAccount: world.account })).data.filter(
        (s) => s.status !== 'canceled' && s.metadata.meterline_application_uuid === app,
      );
      expect(live).toHaveLength(1);
    });

    it('when the engine fails, no subscription is left behind and the same request then succeeds', async () => {
      const world = await monetizedWorld(rest, tokens);
      const app = await createApplication(rest, tokens.subscriber);
      const body = { applicationId: app, apiId: world.api.id, throttlingPolicy: world.gold.policyName };
      const fault = stripeServer.faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/subscriptions', account: world.account }, times: 1 });
      try {
        const failed = await rest.call('POST', `${DEVPORTAL}/subscriptions`, { token: tokens.subscriber, body });
        expect(failed.status).toBe(503);
      } finally {
        stripeServer.faults.remove(fault);
      }
      const listed = await rest.call('GET', `${DEVPORTAL}/subscriptions?applicationId=${app}`, { token: tokens.subscriber });
      expect(listed.body.count).toBe(0);
      const retried = await rest.call('POST', `${DEVPORTAL}/subscriptions`, { token: tokens.subscriber, body });
      expect(retried.status).toBe(201);
      const live = await rest.platform.subscriptions.list({ limit: 10 }, { stripeAccount: world.account });
      expect(live.data).toHaveLength(2);
    });

    it('unsubscribing cancels the Stripe subscription, then removes the subscription', async () => {
      const world = await monetizedWorld(rest, tokens);
      const response = await rest.call('DELETE', `${DEVPORTAL}/subscriptions/${world.subscriptionId}`, { token: tokens.subscriber });
      expect(response.status).toBe(200);
      const stripeSubscriptions = await rest.platform.subscriptions.list({ status: 'all', limit: 10 }, { stripeAccount: world.account });
      expect(stripeSubscriptions.data.map((s) => s.status)).toEqual(['canceled']);
      expect((await rest.call('GET', `${DEVPORTAL}/subscriptions/${world.subscriptionId}`, { token: tokens.subscriber })).status).toBe(404);
      const publisherList = await rest.call('GET', `${PUBLISHER}/subscriptions?apiId=${world.api.id}`, { token: tokens.publisher });
      expect(publisherList.body.count).toBe(0);
    });

    it('when cancelling in Stripe fails, the subscription stays and the request can be retried', async () => {
      const world = await monetizedWorld(rest, tokens);
      const fault = stripeServer.faults.add({ kind: 'error', match: { method: 'DELETE', path: '/v1/subscriptions/:id', account: world.account }, times: 1 });
      try {
        expect((await rest.call('DELETE', `${DEVPORTAL}/subscriptions/${world.subscriptionId}`, { token: tokens.subscriber })).status).toBe(503);
      } finally {
        stripeServer.faults.remove(fault);
      }
      expect((await rest.call('GET', `${DEVPORTAL}/subscriptions/${world.subscriptionId}`, { token: tokens.subscriber })).status).toBe(200);
      expect((await rest.call('DELETE', `${DEVPORTAL}/subscriptions/${world.subscriptionId}`, { token: tokens.subscriber })).status).toBe(200);
    });
  });
});
