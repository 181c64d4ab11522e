import { connectedAccount, createApi, createApplication, createPolicy, monetize, roleTokens, subscribe, type Tokens } from '../../helpers/rest-fixtures';
import { DEVPORTAL, forEachRestHarness, policyBody, uniqueName, type RestHarness } from '../../helpers/rest-harness';

/**
 * What WSO2's Developer Portal sends and calls, on a database with WSO2's own application columns
 * and tables (AM_APPLICATION.TOKEN_TYPE, AM_APPLICATION_KEY_MAPPING, added here as WSO2's apimgt
 * scripts define them): applications with token type, groups and attributes, application
 * updates, the change of business plan (PUT /subscriptions/{id}) with its Stripe subscription,
 * several subscriptions at once, and the throttling-policy listings. One service and one world per
 * database; the bodies are shaped as the devportal UI sends them.
 */
forEachRestHarness((rest) => {
  let tokens: Tokens;
  let world: Awaited<ReturnType<typeof makeWorld>>;
  beforeAll(async () => {
    const db = rest().service.db;
    // WSO2's apimgt scripts: AM_APPLICATION.TOKEN_TYPE VARCHAR(10), and the key mappings that
    // cascade with their application. Added before any application is touched (read once per process).
    await db.schema.alterTable('AM_APPLICATION', (t) => t.string('TOKEN_TYPE', 10));
    await db.schema.createTable('AM_APPLICATION_KEY_MAPPING', (t) => {
      t.string('UUID', 100);
      t.integer('APPLICATION_ID').notNullable();
      t.string('CONSUMER_KEY', 512);
      t.string('KEY_TYPE', 255).notNullable();
      t.string('KEY_MANAGER', 100).notNullable();
      t.primary(['APPLICATION_ID', 'KEY_TYPE', 'KEY_MANAGER']);
    });
    tokens = roleTokens(rest());
    world = await makeWorld(rest(), tokens);
  });

  const call = (method: string, path: string, body?: unknown, token = tokens.subscriber) =>
    rest().call(method, `${DEVPORTAL}${path}`, { token, ...(body === undefined ? {} : { body }) });
  const tokenTypeRow = async (applicationId: string) =>
    (await rest().service.db('AM_APPLICATION').where({ UUID: applicationId }).first('TOKEN_TYPE')).TOKEN_TYPE;

  describe('applications', () => {
    it("accepts the devportal's create body (token type, groups, attributes) and writes TOKEN_TYPE as WSO2", async () => {
      const name = uniqueName('Mobile');
      const created = await call('POST', '/applications', { name, throttlingPolicy: 'Unlimited', description: 'iOS app', tokenType: 'OAUTH', groups: [], attributes: { 'Mobile OS': 'iOS' } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name, tokenType: 'OAUTH', groups: [], attributes: {} });
      expect(await tokenTypeRow(created.body.applicationId)).toBe('OAUTH');
      const jwtApp = await createApplication(rest(), tokens.subscriber);
      expect(await tokenTypeRow(jwtApp)).toBe('JWT');
      expect((await call('GET', `/applications/${jwtApp}`)).body.tokenType).toBe('JWT');
    });

    it("refuses what WSO2's schema refuses, naming the field", async () => {
      const base = { name: uniqueName('Bad'), throttlingPolicy: 'Unlimited' };
      expect((await call('POST', '/applications', { ...base, colour: 'red' })).body.error[0]).toMatchObject({ code: 'colour' });
      expect((await call('POST', '/applications', { ...base, groups: 'team' })).body.error[0]).toMatchObject({ code: 'groups' });
      expect((await call('POST', '/applications', { ...base, tokenType: 'SAML' })).body.error[0]).toMatchObject({ code: 'tokenType' });
      expect((await call('POST', '/applications', { ...base, attributes: { tier: 1 } })).body.error[0]).toMatchObject({ code: 'attributes.tier' });
    });

    it('PUT replaces name, description and token type from the whole application the devportal sends back', async () => {
      const id = await createApplication(rest(), tokens.subscriber);
      const current = (await call('GET', `/applications/${id}`)).body;
      const renamed = uniqueName('Renamed');
      const updated = await call('PUT', `/applications/${id}`, { ...current, name: renamed, description: 'now with keys', tokenType: 'OAUTH' });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ applicationId: id, name: renamed, description: 'now with keys', tokenType: 'OAUTH' });
      expect((await call('GET', `/applications/${id}`)).body).toEqual(updated.body);
      expect(await tokenTypeRow(id)).toBe('OAUTH');
      // An OAuth application migrated from an older WSO2 (TOKEN_TYPE 'DEFAULT') keeps its value while it stays OAUTH.
      await rest().service.db('AM_APPLICATION').where({ UUID: id }).update({ TOKEN_TYPE: 'DEFAULT' });
      expect((await call('GET', `/applications/${id}`)).body.tokenType).toBe('OAUTH');
      expect((await call('PUT', `/applications/${id}`, { ...updated.body, description: 'migrated' })).status).toBe(200);
      expect(await tokenTypeRow(id)).toBe('DEFAULT');
      const other = await createApplication(rest(), tokens.subscriber);
      expect((await call('PUT', `/applications/${other}`, { name: renamed, throttlingPolicy: 'Unlimited' })).status).toBe(409);
      expect((await call('PUT', '/applications/missing', { name: 'x', throttlingPolicy: 'Unlimited' })).status).toBe(404);
    });

    it("never deletes WSO2's applications: DefaultApplication, or one with OAuth keys (409, nothing removed)", async () => {
      const withKeys = await createApplication(rest(), tokens.subscriber);
      const { APPLICATION_ID } = await rest().service.db('AM_APPLICATION').where({ UUID: withKeys }).first('APPLICATION_ID');
      await rest().service.db('AM_APPLICATION_KEY_MAPPING').insert({ UUID: 'km-1', APPLICATION_ID, CONSUMER_KEY: 'ck_wso2', KEY_TYPE: 'PRODUCTION', KEY_MANAGER: 'Resident Key Manager' });
      const refused = await call('DELETE', `/applications/${withKeys}`);
      expect(refused.status).toBe(409);
      expect(refused.body.description).toMatch(/OAuth keys in WSO2's Key Manager/);
      expect((await call('GET', `/applications/${withKeys}`)).status).toBe(200);
      expect(await rest().service.db('AM_APPLICATION_KEY_MAPPING').where({ APPLICATION_ID }).first('CONSUMER_KEY')).toEqual({ CONSUMER_KEY: 'ck_wso2' });

      const owner = rest().token({ sub: uniqueName('newcomer'), scopes: ['apim:subscribe'] });
      const defaultApp = await createApplication(rest(), owner, 'DefaultApplication');
      const refusedDefault = await rest().call('DELETE', `${DEVPORTAL}/applications/${defaultApp}`, { token: owner });
      expect(refusedDefault.status).toBe(409);
      expect(refusedDefault.body.description).toMatch(/DefaultApplication/);
    });
  });

  describe('subscriptions', () => {
    it("accepts the devportal's subscribe body with requestedThrottlingPolicy", async () => {
      const app = await createApplication(rest(), tokens.subscriber);
      const response = await call('POST', '/subscriptions', { apiId: world.api.id, applicationId: app, throttlingPolicy: world.free.policyName, requestedThrottlingPolicy: world.free.policyName });
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({ throttlingPolicy: world.free.policyName, status: 'UNBLOCKED' });
    });

    it('changes the business plan: free to free, free to billed, billed to billed (same Stripe subscription, new price, prorated)', async () => {
      const app = await createApplication(rest(), tokens.subscriber);
      const id = await subscribe(rest(), tokens.subscriber, app, world.api.id, world.free.policyName);
      // The devportal's "change business plan": current tier in throttlingPolicy, the new one requested.
      const change = (from: string, to: string) =>
        call('PUT', `/subscriptions/${id}`, { subscriptionId: id, apiId: world.api.id, applicationId: app, throttlingPolicy: from, requestedThrottlingPolicy: to, status: 'UNBLOCKED' });

      const toFree2 = await change(world.free.policyName, world.free2.policyName);
      expect(toFree2.status).toBe(200);
      expect(toFree2.body).toMatchObject({ subscriptionId: id, throttlingPolicy: world.free2.policyName, status: 'UNBLOCKED' });
      expect(await stripeSubscriptionsOf(app)).toEqual([]);

      const toGold = await change(world.free2.policyName, world.gold.policyName);
      expect(toGold.body).toMatchObject({ throttlingPolicy: world.gold.policyName, status: 'UNBLOCKED' });
      const [billed] = await stripeSubscriptionsOf(app);
      expect(billed!.items.data.map((item) => item.price.unit_amount)).toEqual([1000]);

      const toPlatinum = await change(world.gold.policyName, world.platinum.policyName);
      expect(toPlatinum.status).toBe(200);
      expect(toPlatinum.body).toMatchObject({ throttlingPolicy: world.platinum.policyName, status: 'UNBLOCKED' });
      const after = await stripeSubscriptionsOf(app);
      expect(after.map((s) => s.id)).toEqual([billed!.id]);
      expect(after[0]!.items.data.map((item) => item.price.unit_amount)).toEqual([2500]);
      expect(after[0]!.metadata.meterline_plan_changes).toBe('1');
      // Asking again for the tier it is on changes nothing.
      expect((await change(world.platinum.policyName, world.platinum.policyName)).status).toBe(200);
      expect((await stripeSubscriptionsOf(app))[0]!.metadata.meterline_plan_changes).toBe('1');
      const row = await rest().service.db('AM_SUBSCRIPTION').where({ UUID: id }).first('TIER_ID', 'SUB_STATUS');
      expect(row).toEqual({ TIER_ID: world.platinum.policyName, SUB_STATUS: 'UNBLOCKED' });

      // To a DYNAMICRATE tier with a base fee: the plan item gets the metered price, the base fee is a second item.
      const toMetered = await change(world.platinum.policyName, world.metered.policyName);
      expect(toMetered.body).toMatchObject({ throttlingPolicy: world.metered.policyName, status: 'UNBLOCKED' });
      const metered = (await stripeSubscriptionsOf(app))[0]!;
      expect(metered.id).toBe(billed!.id);
      expect(metered.items.data.map((item) => [item.price.recurring?.usage_type, item.price.unit_amount])).toEqual([
        ['metered', 1],
        ['licensed', 500],
      ]);
      expect(metered.metadata.meterline_plan_changes).toBe('2');

      // Billed to free is refused: unsubscribing sends the final invoice.
      const toFree = await change(world.metered.policyName, world.free.policyName);
      expect(toFree.status).toBe(409);
      expect(toFree.body.description).toMatch(/unsubscribe/);
      expect((await call('GET', `/subscriptions/${id}`)).body.throttlingPolicy).toBe(world.metered.policyName);
    });

    it('refuses moving a subscription to another application or API, or onto a tier the API does not offer', async () => {
      const app = await createApplication(rest(), tokens.subscriber);
      const id = await subscribe(rest(), tokens.subscriber, app, world.api.id, world.free.policyName);
      const other = await createApplication(rest(), tokens.subscriber);
      const moved = await call('PUT', `/subscriptions/${id}`, { applicationId: other, apiId: world.api.id, throttlingPolicy: world.free2.policyName });
      expect(moved.body.error[0]).toMatchObject({ code: 'applicationId' });
      const otherApi = await call('PUT', `/subscriptions/${id}`, { applicationId: app, apiId: 'another-api', throttlingPolicy: world.free2.policyName });
      expect(otherApi.body.error[0]).toMatchObject({ code: 'apiId' });
      const unknownTier = await call('PUT', `/subscriptions/${id}`, { applicationId: app, throttlingPolicy: 'Nope' });
      expect(unknownTier.body.error[0]).toMatchObject({ code: 'throttlingPolicy' });
      expect((await call('PUT', '/subscriptions/missing', { applicationId: app, throttlingPolicy: world.free2.policyName })).status).toBe(404);
    });

    it("the publisher's change of business plan (the service behind WSO2's change-business-plan) names businessPlan", async () => {
      const app = await createApplication(rest(), tokens.subscriber);
      const id = await subscribe(rest(), tokens.subscriber, app, world.api.id, world.free.policyName);
      const subscriptions = rest().service.services.apim.subscriptions;
      const tenant = { domain: 'carbon.super', id: -1234 };
      await expect(subscriptions.changePlanForPublisher(tenant, id, world.free2.policyName)).resolves.toMatchObject({ uuid: id, tier: world.free2.policyName });
      await expect(subscriptions.changePlanForPublisher(tenant, id, 'Nope')).rejects.toMatchObject({ context: { field: 'businessPlan' } });
      await expect(subscriptions.changePlanForPublisher({ domain: 'acme.com', id: 7 }, id, world.free.policyName)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      // A blocked subscription keeps its plan (and its block).
      await rest().service.db('AM_SUBSCRIPTION').where({ UUID: id }).update({ SUB_STATUS: 'BLOCKED' });
      const blocked = await call('PUT', `/subscriptions/${id}`, { applicationId: app, throttlingPolicy: world.free2.policyName, requestedThrottlingPolicy: world.free.policyName });
      expect(blocked.status).toBe(409);
      expect(await rest().service.db('AM_SUBSCRIPTION').where({ UUID: id }).first('TIER_ID', 'SUB_STATUS')).toEqual({ TIER_ID: world.free2.policyName, SUB_STATUS: 'BLOCKED' });
    });

    it('POST /subscriptions/multiple answers the subscriptions made and leaves out the ones that failed, as WSO2', async () => {
      const first = await createApplication(rest(), tokens.subscriber);
      const second = await createApplication(rest(), tokens.subscriber);
      const item = (applicationId: string) => ({ apiId: world.api.id, applicationId, throttlingPolicy: world.free.policyName, requestedThrottlingPolicy: world.free.policyName });
      const response = await call('POST', '/subscriptions/multiple', [item(first), item(first), item(second)]);
      expect(response.status).toBe(200);
      expect(response.body.map((s: { applicationId: string }) => s.applicationId)).toEqual([first, second]);
      expect((await call('GET', `/subscriptions?applicationId=${first}`)).body.count).toBe(1);
      const allFailed = await call('POST', '/subscriptions/multiple', [item(first)]);
      expect(allFailed.status).toBe(409);
      const malformed = await call('POST', '/subscriptions/multiple', [item(first), { apiId: world.api.id, applicationId: first, throttlingPolicy: 7 }]);
      expect(malformed.body.error[0]).toMatchObject({ code: '[1].throttlingPolicy' });
    });
  });

  describe('throttling policies', () => {
    it("lists the tenant's subscription policies with their business plans, and one by name", async () => {
      const list = await call('GET', '/throttling-policies/subscription?limit=100');
      expect(list.status).toBe(200);
      const gold = list.body.list.find((p: { name: string }) => p.name === world.gold.policyName);
      expect(gold).toMatchObject({
        policyLevel: 'subscription',
        requestCount: 1000,
        unitTime: 60_000,
        timeUnit: 'min',
        tierPlan: 'COMMERCIAL',
        monetizationAttributes: { billingType: 'fixedPrice', fixedPrice: '10.00', currencyType: 'USD', billingCycle: 'month' },
      });
      expect(list.body.list.find((p: { name: string }) => p.name === world.free.policyName)).toMatchObject({ tierPlan: 'FREE' });
      expect((await call('GET', `/throttling-policies/subscription/${world.gold.policyName}`)).body).toEqual(gold);
      expect((await call('GET', '/throttling-policies/application')).body.list.map((p: { name: string }) => p.name)).toEqual(['Unlimited']);
      expect((await call('GET', '/throttling-policies/subscription/Nope')).status).toBe(404);
      expect((await call('GET', '/throttling-policies/resource')).body.error[0]).toMatchObject({ code: 'policyLevel' });
    });
  });

  async function stripeSubscriptionsOf(applicationId: string) {
    const all = await rest().platform.subscriptions.list({ status: 'active', limit: 100 }, { stripeAccount: world.account });
    return all.data.filter((s) => s.metadata.meterline_application_uuid === applicationId);
  }
});

/** Two FREE, two FIXEDRATE (10.00 and 25.00 USD a month) and a DYNAMICRATE tier (0.01 USD a call, 5.00 a month) on one monetized API. */
async function makeWorld(rest: RestHarness, tokens: Tokens) {
  const free = await createPolicy(rest, tokens.admin, policyBody(uniqueName('Bronze')));
  const free2 = await createPolicy(rest, tokens.admin, policyBody(uniqueName('Silver')));
  const gold = await createPolicy(rest, tokens.admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '10.00' }));
  const platinum = await createPolicy(rest, tokens.admin, policyBody(uniqueName('Platinum'), { plan: 'FIXEDRATE', price: '25.00' }));
  const meteredBody = policyBody(uniqueName('Metered'), { plan: 'DYNAMICRATE', price: '0.01' });
  meteredBody.monetization!.properties.fixedPrice = '5.00';
  const metered = await createPolicy(rest, tokens.admin, meteredBody);
  const api = await createApi(rest, tokens.publisher, [free.policyName, free2.policyName, gold.policyName, platinum.policyName, metered.policyName]);
  const account = await connectedAccount(rest);
  await monetize(rest, tokens.publisher, api.id, account);
  return { free, free2, gold, platinum, metered, api, account };
}
