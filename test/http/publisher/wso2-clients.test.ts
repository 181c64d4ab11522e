import { randomUUID } from 'node:crypto';
import { createApimRepositories } from '../../../src/apim/apim';
import { apimCoreRecords } from '../../../src/apim/core-records';
import { connectedAccount, createApi, createApplication, createPolicy, expectStatus, monetize, roleTokens, subscribe } from '../../helpers/rest-fixtures';
import { ADMIN, OTHER_TENANT, policyBody, PUBLISHER, SCOPES, forEachRestHarness, uniqueName, type RestHarness } from '../../helpers/rest-harness';
import { Wso2ResponseValidator } from '../../helpers/wso2-response-validator';

/**
 * What WSO2's own clients send and call (issue 15, items 2-4): the admin portal's policy body, the
 * publisher portal's and apictl's API bodies (every field of WSO2's schema, most of which Meterline
 * ignores), `PUT /apis/{apiId}` giving a WSO2-created API its tiers, the throttling-policy listings
 * the publisher portal reads (the streaming ones and an API's tiers included, each of the caller's
 * tenant only), and the publisher's block / unblock of a subscription.
 */

/**
 * The admin portal's "Add Subscription Policy" body (WSO2 API-M 4.x admin portal): every field of
 * `SubscriptionThrottlePolicy`, the unused limit kinds as null, burst control, GraphQL limits,
 * custom attributes, permissions and stop-on-quota filled in.
 */
function adminPortalPolicy(name: string) {
  return {
    policyName: name,
    displayName: name,
    description: 'Allows 5000 requests per minute',
    isDeployed: false,
    type: 'SubscriptionThrottlePolicy',
    graphQLMaxComplexity: 400,
    graphQLMaxDepth: 10,
    defaultLimit: {
      type: 'REQUESTCOUNTLIMIT',
      requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 5000 },
      bandwidth: null,
      eventCount: null,
    },
    subscriberCount: 0,
    rateLimitCount: 10,
    rateLimitTimeUnit: 'sec',
    customAttributes: [{ name: 'tier', value: 'gold' }],
    stopOnQuotaReach: true,
    billingPlan: 'COMMERCIAL',
    monetization: { monetizationPlan: 'FixedRate', properties: { fixedPrice: '25.00', currencyType: 'USD', billingCycle: 'month' } },
    permissions: { permissionType: 'ALLOW', roles: ['Internal/everyone'] },
  };
}

/** The publisher portal's "Create API" body (design from scratch): endpoints and gateway type beside the identity. */
function publisherPortalApi(name: string, tier: string) {
  return {
    name,
    version: '1.0.0',
    context: `/${name.toLowerCase()}`,
    policies: [tier],
    endpointConfig: {
      endpoint_type: 'http',
      sandbox_endpoints: { url: 'https://localhost:9443/am/sample/pizzashack/v1/api/' },
      production_endpoints: { url: 'https://localhost:9443/am/sample/pizzashack/v1/api/' },
    },
    gatewayType: 'wso2/synapse',
  };
}

/**
 * An API as apictl sends it (the `data` of an exported api.yaml, WSO2's `API` DTO): the fields
 * Meterline keeps and 40 it ignores, nulls where WSO2's export leaves a value unset.
 */
function apictlApi(name: string, tier: string) {
  return {
    id: randomUUID(),
    name,
    description: 'Pizza ordering API',
    context: `/${name.toLowerCase()}`,
    version: '1.0.0',
    provider: 'pat',
    lifeCycleStatus: 'CREATED',
    wsdlInfo: null,
    responseCachingEnabled: false,
    cacheTimeout: 300,
    hasThumbnail: false,
    isDefaultVersion: false,
    isRevision: false,
    revisionId: 0,
    enableSchemaValidation: false,
    enableSubscriberVerification: false,
    type: 'HTTP',
    audience: null,
    transport: ['http', 'https'],
    tags: ['pizza', 'food'],
    policies: [tier],
    apiThrottlingPolicy: null,
    authorizationHeader: 'Authorization',
    apiKeyHeader: 'ApiKey',
    securityScheme: ['oauth2', 'oauth_basic_auth_api_key_mandatory'],
    maxTps: null,
    visibility: 'PUBLIC',
    visibleRoles: [],
    visibleTenants: [],
    mediationPolicies: [],
    apiPolicies: { request: [{ policyName: 'addHeader', policyVersion: 'v1', parameters: { headerName: 'X-Order', headerValue: '1' } }], response: [], fault: [] },
    subscriptionAvailability: 'CURRENT_TENANT',
    subscriptionAvailableTenants: [],
    additionalProperties: [{ name: 'team', value: 'kitchen', display: true }],
    additionalPropertiesMap: { team: { name: 'team', value: 'kitchen', display: true } },
    monetization: null,
    accessControl: 'NONE',
    accessControlRoles: [],
    businessInformation: { businessOwner: 'Jane Roe', businessOwnerEmail: 'jane@example.com', technicalOwner: 'John Doe', technicalOwnerEmail: 'john@example.com' },
    corsConfiguration: {
      corsConfigurationEnabled: false,
      accessControlAllowOrigins: ['*'],
      accessControlAllowCredentials: false,
      accessControlAllowHeaders: ['authorization', 'Content-Type'],
      accessControlAllowMethods: ['GET', 'POST'],
    },
    websubSubscriptionConfiguration: { enable: false, secret: '', signingAlgorithm: 'SHA1', signatureHeader: 'x-hub-signature' },
    workflowStatus: null,
    createdTime: '1700000000000',
    lastUpdatedTime: '2023-11-14 22:13:20.0',
    endpointConfig: { endpoint_type: 'http', production_endpoints: { url: 'https://backend.example.com/pizza' } },
    endpointImplementationType: 'ENDPOINT',
    scopes: [],
    operations: [
      { id: '', target: '/order/{orderId}', verb: 'GET', authType: 'Application & Application User', throttlingPolicy: 'Unlimited', scopes: [], usedProductIds: [], operationPolicies: { request: [], response: [], fault: [] } },
    ],
    threatProtectionPolicies: null,
    categories: [],
    keyManagers: ['all'],
    serviceInfo: null,
    advertiseInfo: { advertised: false, apiOwner: 'pat', vendor: 'WSO2' },
    gatewayVendor: 'wso2',
    gatewayType: 'wso2/synapse',
    asyncTransportProtocols: [],
  };
}

/** WSO2's schemas; `GET /apis/{apiId}/subscription-policies` answers an array of ThrottlingPolicy, as WSO2 does. */
const validator = new Wso2ResponseValidator({ 'publisher GET /apis/{apiId}/subscription-policies 200': 'ThrottlingPolicy[]' });

/** A FREE policy with an event-count quota (WSO2's limit for streaming APIs), created by the tenant's admin. */
async function createStreamingPolicy(rest: RestHarness, token: string, name: string): Promise<{ policyId: string; policyName: string }> {
  const body = { ...policyBody(name), defaultLimit: { type: 'EVENTCOUNTLIMIT', eventCount: { timeUnit: 'min', unitTime: 1, eventCount: 3000 } } };
  return expectStatus(await rest.call('POST', `${ADMIN}/throttling/policies/subscription`, { token, body }), 201, 'create streaming policy').body;
}

forEachRestHarness((rest) => {
  let tokens: ReturnType<typeof roleTokens>;
  /** The API's provider with WSO2's scope to block subscriptions. */
  let blocker: string;
  let free: string;
  beforeAll(async () => {
    tokens = roleTokens(rest());
    blocker = rest().token({ sub: 'pat', scopes: [...SCOPES.publisher, 'apim:subscription_block'] });
    free = (await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Free')))).policyName;
  });

  const gateway = () => rest().token({ sub: 'gateway', scopes: ['apim:usage_ingest'] });
  const access = async (subscriptionId: string) =>
    (await rest().call('GET', `/api/am/usage/v1/subscriptions/${subscriptionId}/access`, { token: gateway() })).body as { allowed: boolean; status: string };

  describe("WSO2's client bodies", () => {
    it("the admin portal's policy body is accepted, its throttling settings ignored, and an edit of it too", async () => {
      const name = uniqueName('Portal');
      const created = await rest().call('POST', `${ADMIN}/throttling/policies/subscription`, { token: tokens.admin, body: adminPortalPolicy(name) });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        policyName: name,
        billingPlan: 'COMMERCIAL',
        defaultLimit: { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 5000 } },
        monetization: { monetizationPlan: 'FIXEDRATE', properties: { fixedPrice: '25.00', currencyType: 'USD', billingCycle: 'month' } },
      });
      expect(created.body).not.toHaveProperty('graphQLMaxComplexity');
      const edit = { ...adminPortalPolicy(name), policyId: created.body.policyId, description: 'Now 6000', defaultLimit: { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 6000 } } };
      const updated = await rest().call('PUT', `${ADMIN}/throttling/policies/subscription/${created.body.policyId}`, { token: tokens.admin, body: edit });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ description: 'Now 6000', defaultLimit: { requestCount: { requestCount: 6000 } } });
    });

    it('a policy name of 50 characters is taken and subscribed on; 51 is refused naming policyName', async () => {
      const name = `P${'x'.repeat(45)}${uniqueName('').slice(-4)}`.slice(0, 50);
      expect(name).toHaveLength(50);
      await createPolicy(rest(), tokens.admin, policyBody(name));
      const api = await createApi(rest(), tokens.publisher, [name]);
      const application = await createApplication(rest(), tokens.subscriber);
      await subscribe(rest(), tokens.subscriber, application, api.id, name);
      const refused = await rest().call('POST', `${ADMIN}/throttling/policies/subscription`, { token: tokens.admin, body: policyBody(`${name}y`) });
      expect(refused.status).toBe(400);
      expect(refused.body.error[0]).toEqual({ code: 'policyName', message: expect.stringMatching(/at most 50.*TIER_ID/) });
    });

    it.each([
      ['the publisher portal', publisherPortalApi],
      ['apictl', apictlApi],
    ])("%s's API body is accepted: Meterline keeps identity and tiers", async (_client, body) => {
      const name = uniqueName('Pizza');
      const created = await rest().call('POST', `${PUBLISHER}/apis`, { token: tokens.publisher, body: body(name, free) });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name, version: '1.0.0', context: `/${name.toLowerCase()}`, provider: 'pat', lifeCycleStatus: 'CREATED', policies: [free] });
      expect(created.body).not.toHaveProperty('endpointConfig');
    });

    it('a field inside an ignored WSO2 object is still checked against its schema', async () => {
      const body = { ...apictlApi(uniqueName('Pizza'), free), corsConfiguration: { corsConfigurationEnabled: 'no' } };
      const refused = await rest().call('POST', `${PUBLISHER}/apis`, { token: tokens.publisher, body });
      expect(refused.status).toBe(400);
      expect(refused.body.error.map((e: { code: string }) => e.code)).toContain('corsConfiguration.corsConfigurationEnabled');
    });
  });

  describe('PUT /apis/{apiId}', () => {
    /** An API as WSO2's publisher writes it: its AM_API row, its tiers only in WSO2's registry. */
    async function wso2CreatedApi(): Promise<{ id: string; name: string }> {
      const name = uniqueName('PizzaShackAPI');
      const uuid = randomUUID();
      await rest().service.db('AM_API').insert({
        API_UUID: uuid,
        API_PROVIDER: 'pat',
        API_NAME: name,
        API_VERSION: '1.0.0',
        CONTEXT: `/${name.toLowerCase()}/1.0.0`,
        API_TYPE: 'HTTP',
        STATUS: 'PUBLISHED',
        ORGANIZATION: 'carbon.super',
        CREATED_BY: 'pat',
      });
      return { id: uuid, name };
    }

    it('gives a WSO2-created API its tiers, so it can be subscribed; name, version, context and provider stay', async () => {
      const api = await wso2CreatedApi();
      const application = await createApplication(rest(), tokens.subscriber);
      const before = await rest().call('POST', '/api/am/devportal/v3/subscriptions', { token: tokens.subscriber, body: { applicationId: application, apiId: api.id, throttlingPolicy: free } });
      expect(before.status).toBe(400);
      expect(before.body.description).toMatch(/is not offered on/);

      const body = { ...publisherPortalApi('Renamed', free), version: '9.9.9', context: '/elsewhere', provider: 'someone', displayName: 'Pizza Shack' };
      const updated = await rest().call('PUT', `${PUBLISHER}/apis/${api.id}`, { token: tokens.publisher, body });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ id: api.id, name: api.name, version: '1.0.0', context: `/${api.name.toLowerCase()}`, provider: 'pat', lifeCycleStatus: 'PUBLISHED', policies: [free] });
      await subscribe(rest(), tokens.subscriber, application, api.id, free);
    });

    it('keeps the tiers when the body has none; 400 naming an unknown tier, or for no tier on a PUBLISHED API', async () => {
      const api = await createApi(rest(), tokens.publisher, [free]);
      const { policies: _omitted, ...withoutTiers } = publisherPortalApi(api.name, free);
      const kept = await rest().call('PUT', `${PUBLISHER}/apis/${api.id}`, { token: tokens.publisher, body: withoutTiers });
      expect(kept.status).toBe(200);
      expect(kept.body.policies).toEqual([free]);
      const unknown = await rest().call('PUT', `${PUBLISHER}/apis/${api.id}`, { token: tokens.publisher, body: { ...withoutTiers, policies: [free, 'NoSuchTier'] } });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error[0].code).toBe('policies[1]');
      const none = await rest().call('PUT', `${PUBLISHER}/apis/${api.id}`, { token: tokens.publisher, body: { ...withoutTiers, policies: [] } });
      expect(none.status).toBe(400);
      expect(none.body.error[0].code).toBe('policies');
      expect((await rest().call('PUT', `${PUBLISHER}/apis/${randomUUID()}`, { token: tokens.publisher, body: withoutTiers })).status).toBe(404);
    });

    it('a COMMERCIAL tier added to a monetized API gets its plan, and a subscription on it is billed', async () => {
      const api = await createApi(rest(), tokens.publisher, [free]);
      await monetize(rest(), tokens.publisher, api.id, await connectedAccount(rest()));
      const gold = (await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '12.00' }))).policyName;
      expectStatus(await rest().call('PUT', `${PUBLISHER}/apis/${api.id}`, { token: tokens.publisher, body: publisherPortalApi(api.name, gold) }), 200, 'update API');
      const monetization = await rest().call('GET', `${PUBLISHER}/apis/${api.id}/monetization`, { token: tokens.publisher });
      expect(Object.keys(monetization.body.properties)).toEqual([gold]);
      const application = await createApplication(rest(), tokens.subscriber);
      const subscriptionId = await subscribe(rest(), tokens.subscriber, application, api.id, gold);
      const usage = await rest().call('GET', `/api/am/devportal/v3/subscriptions/${subscriptionId}/usage`, { token: tokens.subscriber });
      expect(usage.status).toBe(200);
    });
  });

  describe('throttling-policy listings', () => {
    it("lists the tenant's subscription policies as WSO2's ThrottlingPolicy, none at API level; one by name; 404 and 400", async () => {
      const gold = await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '9.00' }));
      const listed = await rest().call('GET', `${PUBLISHER}/throttling-policies/subscription?limit=1000`, { token: tokens.publisher });
      expect(listed.status).toBe(200);
      const entry = listed.body.list.find((p: { name: string }) => p.name === gold.policyName);
      expect(entry).toEqual({
        name: gold.policyName,
        description: `${gold.policyName} plan`,
        policyLevel: 'subscription',
        displayName: gold.policyName,
        attributes: {},
        requestCount: 1000,
        unitTime: 60000,
        timeUnit: 'min',
        rateLimitCount: 0,
        quotaPolicyType: 'REQUESTCOUNT',
        tierPlan: 'COMMERCIAL',
        stopOnQuotaReach: true,
        monetizationProperties: { fixedPrice: '9.00', currencyType: 'USD', billingCycle: 'month' },
      });
      expect(listed.body.pagination.total).toBe(listed.body.list.length);
      const apiLevel = await rest().call('GET', `${PUBLISHER}/throttling-policies/api`, { token: tokens.publisher });
      expect(apiLevel.body).toMatchObject({ count: 0, list: [] });
      const one = await rest().call('GET', `${PUBLISHER}/throttling-policies/subscription/${gold.policyName}`, { token: tokens.publisher });
      expect(one.body).toEqual(entry);
      expect((await rest().call('GET', `${PUBLISHER}/throttling-policies/subscription/NoSuchTier`, { token: tokens.publisher })).status).toBe(404);
      const badLevel = await rest().call('GET', `${PUBLISHER}/throttling-policies/global`, { token: tokens.publisher });
      expect(badLevel.status).toBe(400);
      expect(badLevel.body.error[0].code).toBe('policyLevel');
    });

    it("lists the tenant's event-count policies as WSO2's SubscriptionPolicy, and no other tenant's", async () => {
      const other = roleTokens(rest(), OTHER_TENANT.domain);
      const events = await createStreamingPolicy(rest(), tokens.admin, uniqueName('Events'));
      const requests = await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Requests')));
      const elsewhere = await createStreamingPolicy(rest(), other.admin, uniqueName('Elsewhere'));

      const path = '/throttling-policies/streaming/subscription';
      const listed = await rest().call('GET', `${PUBLISHER}${path}?limit=1000`, { token: tokens.publisher });
      expect(listed.status).toBe(200);
      expect(validator.check('publisher', path, 'get', 200, listed.body).errors).toEqual([]);
      const names = listed.body.list.map((p: { policyName: string }) => p.policyName);
      expect(names).toContain(events.policyName);
      expect(names).not.toContain(requests.policyName);
      expect(names).not.toContain(elsewhere.policyName);
      expect(listed.body.list.find((p: { policyName: string }) => p.policyName === events.policyName)).toEqual({
        uuid: events.policyId,
        policyName: events.policyName,
        displayName: events.policyName,
        description: `${events.policyName} plan`,
        isDeployed: true,
        tenantId: -1234,
        tenantDomain: 'carbon.super',
        defaultLimit: { type: 'EVENTCOUNTLIMIT', eventCount: { timeUnit: 'min', unitTime: 1, eventCount: 3000 } },
        stopOnQuotaReach: true,
        billingPlan: 'FREE',
      });
      expect(listed.body.pagination.total).toBe(listed.body.list.length);

      const theirs = await rest().call('GET', `${PUBLISHER}${path}?limit=1000`, { token: other.publisher });
      expect(theirs.body.list.map((p: { policyName: string }) => p.policyName)).toEqual(expect.arrayContaining([elsewhere.policyName]));
      expect(theirs.body.list.map((p: { policyName: string }) => p.policyName)).not.toContain(events.policyName);

      const bad = await rest().call('GET', `${PUBLISHER}${path}?limit=0`, { token: tokens.publisher });
      expect([bad.status, bad.body.error?.[0]?.code]).toEqual([400, 'limit']);
    });

    it("answers an API's tiers as an array of ThrottlingPolicy, in the tier listing's order; 404 for another tenant's API or none", async () => {
      const other = roleTokens(rest(), OTHER_TENANT.domain);
      const gold = await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '9.00' }));
      const plain = await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Free')));
      const api = await createApi(rest(), tokens.publisher, [gold.policyName, plain.policyName]);

      const template = '/apis/{apiId}/subscription-policies';
      const answer = await rest().call('GET', `${PUBLISHER}/apis/${api.id}/subscription-policies`, { token: tokens.publisher });
      expect(answer.status).toBe(200);
      expect(validator.check('publisher', template, 'get', 200, answer.body).errors).toEqual([]);
      expect(answer.body.map((p: { name: string; tierPlan: string }) => [p.name, p.tierPlan]).sort()).toEqual(
        [
          [gold.policyName, 'COMMERCIAL'],
          [plain.policyName, 'FREE'],
        ].sort(),
      );
      // In the tier listing's order, each as the listing presents it.
      const listing = await rest().call('GET', `${PUBLISHER}/throttling-policies/subscription?limit=1000`, { token: tokens.publisher });
      expect(answer.body).toEqual(listing.body.list.filter((p: { name: string }) => [gold.policyName, plain.policyName].includes(p.name)));

      const foreign = await rest().call('GET', `${PUBLISHER}/apis/${api.id}/subscription-policies`, { token: other.publisher });
      expect(foreign.status).toBe(404);
      expect(validator.check('publisher', template, 'get', 404, foreign.body).errors).toEqual([]);
      expect((await rest().call('GET', `${PUBLISHER}/apis/missing/subscription-policies`, { token: tokens.publisher })).status).toBe(404);
    });
  });

  describe('block and unblock a subscription', () => {
    it('a block refuses the calls (BLOCKED and PROD_ONLY_BLOCKED), an unblock lets them through again', async () => {
      const api = await createApi(rest(), tokens.publisher, [free]);
      const subscriptionId = await subscribe(rest(), tokens.subscriber, await createApplication(rest(), tokens.subscriber), api.id, free);
      expect(await access(subscriptionId)).toMatchObject({ allowed: true });
      for (const blockState of ['BLOCKED', 'PROD_ONLY_BLOCKED']) {
        const blocked = await rest().call('POST', `${PUBLISHER}/subscriptions/block-subscription?subscriptionId=${subscriptionId}&blockState=${blockState}`, { token: blocker });
        expect(blocked.status).toBe(200);
        expect(await access(subscriptionId)).toMatchObject({ allowed: false, status: 'BLOCKED' });
        const listed = await rest().call('GET', `${PUBLISHER}/subscriptions?apiId=${api.id}`, { token: tokens.publisher });
        expect(listed.body.list[0].subscriptionStatus).toBe(blockState);
      }
      expect((await rest().call('POST', `${PUBLISHER}/subscriptions/unblock-subscription?subscriptionId=${subscriptionId}`, { token: blocker })).status).toBe(200);
      expect(await access(subscriptionId)).toMatchObject({ allowed: true, status: 'UNBLOCKED' });
    });

    it("a billed subscription is refused while blocked, and billing's decisions do not lift the block", async () => {
      const gold = (await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '10.00' }))).policyName;
      const api = await createApi(rest(), tokens.publisher, [gold]);
      await monetize(rest(), tokens.publisher, api.id, await connectedAccount(rest()));
      const subscriptionId = await subscribe(rest(), tokens.subscriber, await createApplication(rest(), tokens.subscriber), api.id, gold);
      const before = await access(subscriptionId);
      expectStatus(await rest().call('POST', `${PUBLISHER}/subscriptions/block-subscription?subscriptionId=${subscriptionId}&blockState=BLOCKED`, { token: blocker }), 200, 'block');
      expect(await access(subscriptionId)).toMatchObject({ allowed: false });
      // Billing records its decision (as on each invoice event): the publisher's block stands.
      const core = apimCoreRecords(rest().service.db);
      await core.setStatusOf(rest().service.db, subscriptionId, 'UNBLOCKED');
      expect((await core.statusOf(subscriptionId))?.status).toBe('BLOCKED');
      expectStatus(await rest().call('POST', `${PUBLISHER}/subscriptions/unblock-subscription?subscriptionId=${subscriptionId}`, { token: blocker }), 200, 'unblock');
      expect(await access(subscriptionId)).toEqual(before);
      // Right after the unblock (the row last written by the publisher), a BLOCKED the subscribe
      // workflow records (billing's decision, e.g. a failed first payment with no grace) is
      // billing's own: a later payment lifts it.
      const { subscriptions } = createApimRepositories(rest().service.db);
      await subscriptions.setStatus((await subscriptions.findByUuid(subscriptionId))!.id, 'BLOCKED', '2026-01-01 00:00:00');
      await core.setStatusOf(rest().service.db, subscriptionId, 'UNBLOCKED');
      expect((await core.statusOf(subscriptionId))?.status).toBe('UNBLOCKED');
      // After the unblock, billing's decisions apply again.
      await core.setStatusOf(rest().service.db, subscriptionId, 'ON_HOLD');
      expect((await core.statusOf(subscriptionId))?.status).toBe('ON_HOLD');
    });

    it("the API's provider changes a subscription's business plan to another tier the API offers; 400 names businessPlan", async () => {
      const other = (await createPolicy(rest(), tokens.admin, policyBody(uniqueName('Free')))).policyName;
      const api = await createApi(rest(), tokens.publisher, [free, other]);
      const subscriptionId = await subscribe(rest(), tokens.subscriber, await createApplication(rest(), tokens.subscriber), api.id, free);
      const manager = rest().token({ sub: 'pat', scopes: [...SCOPES.publisher, 'apim:subscription_manage'] });
      const change = (plan: string) => rest().call('POST', `${PUBLISHER}/subscriptions/change-business-plan?subscriptionId=${subscriptionId}&businessPlan=${plan}`, { token: manager });
      expect((await change(other)).status).toBe(200);
      const listed = await rest().call('GET', `${PUBLISHER}/subscriptions?apiId=${api.id}`, { token: tokens.publisher });
      expect(listed.body.list[0]).toMatchObject({ subscriptionId, throttlingPolicy: other, subscriptionStatus: 'UNBLOCKED' });
      const refused = await change('NoSuchTier');
      expect(refused.status).toBe(400);
      expect(refused.body.error[0].code).toBe('businessPlan');
    });

    it('400 for a block state WSO2 does not define, 404 for an unknown subscription', async () => {
      const api = await createApi(rest(), tokens.publisher, [free]);
      const subscriptionId = await subscribe(rest(), tokens.subscriber, await createApplication(rest(), tokens.subscriber), api.id, free);
      const bad = await rest().call('POST', `${PUBLISHER}/subscriptions/block-subscription?subscriptionId=${subscriptionId}&blockState=SANDBOX_ONLY_BLOCKED`, { token: blocker });
      expect(bad.status).toBe(400);
      expect(bad.body.error[0].code).toBe('blockState');
      expect((await rest().call('POST', `${PUBLISHER}/subscriptions/unblock-subscription?subscriptionId=${randomUUID()}`, { token: blocker })).status).toBe(404);
    });
  });
});
