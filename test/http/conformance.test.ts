import { API_BASE_PATHS, type AnyRoute } from '../../src/http/route';
import { ROUTES } from '../../src/http/routes';
import { createApi, createApplication, monetizedWorld, roleTokens, subscribe } from '../helpers/rest-fixtures';
import { ADMIN, DEVPORTAL, policyBody, PUBLISHER, SCOPES, forEachRestHarness, uniqueName, type RestResponse } from '../helpers/rest-harness';
import { Wso2ResponseValidator } from '../helpers/wso2-response-validator';

/**
 * Conformance: every response the REST API gives in a walk over all its routes — successes and
 * errors — is validated against the schema WSO2's OpenAPI document declares for that operation
 * and status (errors the spec leaves undeclared, such as 401, against WSO2's Error object). No
 * field outside WSO2's schemas is allowed. Every implemented route must be exercised with a
 * success response.
 */
interface Exchange {
  route: AnyRoute;
  method: string;
  path: string;
  response: RestResponse;
}

function routeOf(method: string, path: string): AnyRoute | undefined {
  const bare = path.split('?')[0]!;
  return ROUTES.find((route) => {
    if (route.method !== method.toLowerCase()) return false;
    const pattern = `${API_BASE_PATHS[route.api]}${route.path}`.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[A-Za-z]+\\?\}|\{[A-Za-z]+\}/g, '[^/]+');
    return new RegExp(`^${pattern}$`).test(bare);
  });
}

/**
 * WSO2's spec declares `content: {}` for getAPIMonetization's 200, while WSO2's implementation
 * answers an APIMonetizationInfo built from the tier → plan map (reference facts §3); Meterline
 * does the same, and this response is validated against that schema.
 */
const validator = new Wso2ResponseValidator({
  'publisher GET /apis/{apiId}/monetization 200': 'APIMonetizationInfo',
  // WSO2's spec declares one ThrottlingPolicy; its implementation answers the API's tiers as an array of them.
  'publisher GET /apis/{apiId}/subscription-policies 200': 'ThrottlingPolicy[]',
});

forEachRestHarness((rest) => {
  const exchanges: Exchange[] = [];
  beforeAll(async () => {
    const call = rest().call.bind(rest());
    rest().call = async (method, path, options) => {
      const response = await call(method, path, options);
      const route = routeOf(method, path);
      if (route) exchanges.push({ route, method, path, response });
      return response;
    };
  });

  it('walks every route, successes and errors', async () => {
    const tokens = roleTokens(rest());
    const world = await monetizedWorld(rest(), tokens);
    const { admin, publisher, subscriber } = tokens;
    const policies = `${ADMIN}/throttling/policies/subscription`;

    // Admin
    await rest().call('GET', policies, { token: admin });
    await rest().call('GET', `${policies}/${world.gold.policyId}`, { token: admin });
    await rest().call('PUT', `${policies}/${world.gold.policyId}`, { token: admin, body: policyBody(world.gold.policyName, { plan: 'FIXEDRATE', price: '10.00' }) });
    const spare = await rest().call('POST', policies, { token: admin, body: policyBody(uniqueName('Spare'), { plan: 'DYNAMICRATE', price: '0.001' }) });
    await rest().call('DELETE', `${policies}/${spare.body.policyId}`, { token: admin });
    await rest().call('POST', policies, { token: admin, body: policyBody(uniqueName('Bad'), { plan: 'FIXEDRATE', price: '1.001' }) });
    await rest().call('POST', policies, { token: admin, body: policyBody(world.gold.policyName) });
    await rest().call('GET', `${policies}/missing`, { token: admin });
    await rest().call('PUT', `${policies}/missing`, { token: admin, body: policyBody('missing') });
    await rest().call('DELETE', `${policies}/missing`, { token: admin });
    await rest().call('GET', policies, {});

    // Publisher
    await rest().call('GET', `${PUBLISHER}/apis`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/apis/${world.api.id}`, { token: publisher });
    const draft = await createApi(rest(), publisher, [world.free.policyName], { publish: false });
    await rest().call('POST', `${PUBLISHER}/apis/${draft.id}/monetize`, { token: publisher, body: { enabled: true, properties: { ConnectedAccountKey: world.account } } });
    await rest().call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${draft.id}&action=Publish`, { token: publisher });
    await rest().call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${draft.id}&action=Publish`, { token: publisher });
    await rest().call('POST', `${PUBLISHER}/apis/${draft.id}/monetize`, { token: publisher, body: { enabled: true, properties: {} } });
    await rest().call('POST', `${PUBLISHER}/apis/missing/monetize`, { token: publisher, body: { enabled: true, properties: { ConnectedAccountKey: world.account } } });
    await rest().call('GET', `${PUBLISHER}/apis/${world.api.id}/monetization`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/apis/missing/monetization`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/apis/${world.api.id}/revenue`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/apis/${draft.id}/revenue`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/subscriptions?apiId=${world.api.id}`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/subscriptions/${world.subscriptionId}/usage`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/subscriptions/missing/usage`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/settings`, { token: publisher });
    await rest().call('POST', `${PUBLISHER}/apis`, { token: publisher, body: { name: 'x', version: '1', context: '/x', policies: ['Nope'] } });
    await rest().call('GET', `${PUBLISHER}/apis`, { token: subscriber });
    await rest().call('GET', `${PUBLISHER}/apis`, {});
    await rest().call('GET', `${PUBLISHER}/apis/missing`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/subscriptions?apiId=missing`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/settings`, { token: subscriber });
    const apiBody = { name: world.api.name, version: '1.0.0', context: '/ignored', policies: [world.free.policyName, world.gold.policyName], gatewayType: 'wso2/synapse' };
    await rest().call('PUT', `${PUBLISHER}/apis/${world.api.id}`, { token: publisher, body: apiBody });
    await rest().call('PUT', `${PUBLISHER}/apis/missing`, { token: publisher, body: apiBody });
    await rest().call('GET', `${PUBLISHER}/throttling-policies/subscription`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/throttling-policies/global`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/throttling-policies/subscription/${world.gold.policyName}`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/throttling-policies/subscription/missing`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/throttling-policies/streaming/subscription`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/throttling-policies/streaming/subscription?limit=0`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/apis/${world.api.id}/subscription-policies`, { token: publisher });
    await rest().call('GET', `${PUBLISHER}/apis/missing/subscription-policies`, { token: publisher });
    const blocker = rest().token({ sub: 'pat', scopes: [...SCOPES.publisher, 'apim:subscription_block'] });
    await rest().call('POST', `${PUBLISHER}/subscriptions/block-subscription?subscriptionId=${world.subscriptionId}&blockState=BLOCKED`, { token: blocker });
    await rest().call('POST', `${PUBLISHER}/subscriptions/block-subscription?subscriptionId=missing&blockState=BLOCKED`, { token: blocker });
    await rest().call('POST', `${PUBLISHER}/subscriptions/unblock-subscription?subscriptionId=${world.subscriptionId}`, { token: blocker });
    await rest().call('POST', `${PUBLISHER}/subscriptions/unblock-subscription?subscriptionId=missing`, { token: blocker });
    const manager = rest().token({ sub: 'pat', scopes: [...SCOPES.publisher, 'apim:subscription_manage'] });
    await rest().call('POST', `${PUBLISHER}/subscriptions/change-business-plan?subscriptionId=${world.subscriptionId}&businessPlan=${world.gold.policyName}`, { token: manager });
    await rest().call('POST', `${PUBLISHER}/subscriptions/change-business-plan?subscriptionId=${world.subscriptionId}&businessPlan=Nope`, { token: manager });

    // Developer portal
    await rest().call('GET', `${DEVPORTAL}/applications`, { token: subscriber });
    await rest().call('GET', `${DEVPORTAL}/applications/${world.applicationId}`, { token: subscriber });
    const second = await createApplication(rest(), subscriber);
    await rest().call('POST', `${DEVPORTAL}/applications`, { token: subscriber, body: { name: 'dup-app', throttlingPolicy: 'Unlimited' } });
    await rest().call('POST', `${DEVPORTAL}/applications`, { token: subscriber, body: { name: 'dup-app', throttlingPolicy: 'Unlimited' } });
    const freeSub = await subscribe(rest(), subscriber, second, world.api.id, world.free.policyName);
    await rest().call('GET', `${DEVPORTAL}/subscriptions?applicationId=${world.applicationId}`, { token: subscriber });
    await rest().call('GET', `${DEVPORTAL}/subscriptions`, { token: subscriber });
    await rest().call('GET', `${DEVPORTAL}/subscriptions/${world.subscriptionId}`, { token: subscriber });
    await rest().call('GET', `${DEVPORTAL}/subscriptions/${world.subscriptionId}/usage`, { token: subscriber });
    await rest().call('GET', `${DEVPORTAL}/subscriptions/${freeSub}/usage`, { token: subscriber });
    await rest().call('POST', `${DEVPORTAL}/subscriptions`, { token: subscriber, body: { applicationId: second, apiId: world.api.id, throttlingPolicy: world.free.policyName } });
    await rest().call('POST', `${DEVPORTAL}/subscriptions`, { token: subscriber, body: { applicationId: second, apiId: world.api.id, throttlingPolicy: 'Nope' } });
    await rest().call('DELETE', `${DEVPORTAL}/subscriptions/${freeSub}`, { token: subscriber });
    await rest().call('DELETE', `${DEVPORTAL}/subscriptions/${freeSub}`, { token: subscriber });
    await rest().call('DELETE', `${DEVPORTAL}/applications/${second}`, { token: subscriber });
    await rest().call('GET', `${DEVPORTAL}/applications/${second}`, { token: subscriber });
    await rest().call('POST', `${DEVPORTAL}/applications`, { token: subscriber, body: 'name=x', headers: { 'content-type': 'text/plain' } });
    await rest().call('GET', `${DEVPORTAL}/applications?limit=-1`, { token: subscriber });
    await rest().call('DELETE', `${DEVPORTAL}/applications/missing`, { token: subscriber });
    await rest().call('GET', `${DEVPORTAL}/subscriptions/missing`, { token: subscriber });
    const current = await rest().call('GET', `${DEVPORTAL}/applications/${world.applicationId}`, { token: subscriber });
    await rest().call('PUT', `${DEVPORTAL}/applications/${world.applicationId}`, { token: subscriber, body: { ...current.body, description: 'updated', tokenType: 'OAUTH' } });
    await rest().call('PUT', `${DEVPORTAL}/applications/missing`, { token: subscriber, body: { name: 'x', throttlingPolicy: 'Unlimited' } });
    const third = await createApplication(rest(), subscriber);
    const many = await rest().call('POST', `${DEVPORTAL}/subscriptions/multiple`, {
      token: subscriber,
      body: [{ applicationId: third, apiId: world.api.id, throttlingPolicy: world.free.policyName, requestedThrottlingPolicy: world.free.policyName }],
    });
    await rest().call('POST', `${DEVPORTAL}/subscriptions/multiple`, { token: subscriber, body: [{ applicationId: third, apiId: world.api.id, throttlingPolicy: 7 }] });
    const thirdSub = many.body[0].subscriptionId;
    await rest().call('PUT', `${DEVPORTAL}/subscriptions/${thirdSub}`, { token: subscriber, body: { applicationId: third, apiId: world.api.id, throttlingPolicy: world.free.policyName, requestedThrottlingPolicy: world.gold.policyName, status: 'UNBLOCKED' } });
    // (Not a missing subscription: WSO2's spec declares this 404 without a body, while WSO2 and Meterline answer its Error.)
    await rest().call('PUT', `${DEVPORTAL}/subscriptions/${thirdSub}`, { token: subscriber, body: { applicationId: world.applicationId, throttlingPolicy: world.free.policyName } });
    await rest().call('GET', `${DEVPORTAL}/throttling-policies/subscription`, { token: subscriber });
    await rest().call('GET', `${DEVPORTAL}/throttling-policies/application`, { token: subscriber });
    await rest().call('GET', `${DEVPORTAL}/throttling-policies/other`, { token: subscriber });
    await rest().call('GET', `${DEVPORTAL}/throttling-policies/subscription/${world.gold.policyName}`, { token: subscriber });
    await rest().call('GET', `${DEVPORTAL}/throttling-policies/subscription/missing`, { token: subscriber });

    expect(exchanges.length).toBeGreaterThan(50);
  });

  it('every response matches the schema WSO2 declares for its operation and status', () => {
    const failures = exchanges.flatMap(({ route, method, path, response }) => {
      const { errors } = validator.check(route.api, route.path, route.method, response.status, response.body);
      return errors.map((error) => `${method} ${path} → ${response.status}: ${error}`);
    });
    expect(failures).toEqual([]);
  });

  it('every success status is one the spec declares for the operation', () => {
    const undeclared = exchanges
      .filter(({ response }) => response.status < 400)
      .filter(({ route, response }) => !validator.check(route.api, route.path, route.method, response.status, response.body).declared)
      .map(({ method, path, response }) => `${method} ${path} → ${response.status}`);
    expect(undeclared).toEqual([]);
  });

  it('every implemented route was exercised with a success and with an error', () => {
    const key = (route: AnyRoute) => `${route.method.toUpperCase()} ${route.path} (${route.api})`;
    const succeeded = new Set(exchanges.filter((e) => e.response.status < 300).map((e) => key(e.route)));
    const failed = new Set(exchanges.filter((e) => e.response.status >= 400).map((e) => key(e.route)));
    expect(ROUTES.map(key).filter((k) => !succeeded.has(k))).toEqual([]);
    expect(ROUTES.map(key).filter((k) => !failed.has(k))).toEqual([]);
  });
});

describe('the validator itself', () => {
  it('rejects a field WSO2 does not define, a wrong type and a missing required field', () => {
    const check = (body: unknown) => validator.check('publisher', '/apis/{apiId}', 'get', 200, body).errors;
    expect(check({ name: 'a', context: '/a', version: '1' })).toEqual([]);
    expect(check({ name: 'a', context: '/a', version: '1', lifecycleStatus: 'PUBLISHED' }).join()).toMatch(/lifecycleStatus/);
    expect(check({ name: 'a', context: '/a', version: 1 }).join()).toMatch(/version must be string/);
    expect(check({ name: 'a', version: '1' }).join()).toMatch(/context/);
  });

  it('checks fields inherited through allOf, and error bodies of undeclared statuses', () => {
    const policy = (extra: object) =>
      validator.check('admin', '/throttling/policies/subscription', 'post', 201, {
        policyName: 'Gold',
        defaultLimit: { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 5 } },
        ...extra,
      }).errors;
    expect(policy({ graphQLMaxDepth: 3, billingPlan: 'FREE' })).toEqual([]);
    expect(policy({ billingPlan: 7 }).join()).toMatch(/billingPlan must be string/);
    expect(policy({ defaultLimit: { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 5, extra: 1 } } }).join()).toMatch(/extra/);
    const unauthorized = validator.check('devportal', '/applications', 'get', 401, { message: 'x' });
    expect(unauthorized.declared).toBe(false);
    expect(unauthorized.errors.join()).toMatch(/code/);
  });
});
