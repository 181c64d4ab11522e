import { ADMIN, DEVPORTAL, PUBLISHER, policyBody, SCOPES, uniqueName, type RestHarness, type RestResponse } from './rest-harness';

/** Fails the test with the response when a setup call did not answer as expected. */
export function expectStatus(response: RestResponse, status: number, what: string): RestResponse {
  if (response.status !== status) throw new Error(`${what}: expected ${status}, got ${response.status} ${response.text}`);
  return response;
}

export interface Tokens {
  admin: string;
  publisher: string;
  subscriber: string;
}

export function roleTokens(rest: RestHarness, tenant?: string, names = { publisher: 'pat', subscriber: 'sam' }): Tokens {
  const t = tenant === undefined ? {} : { tenant };
  return {
    admin: rest.token({ sub: 'admin', scopes: SCOPES.admin, ...t }),
    publisher: rest.token({ sub: names.publisher, scopes: SCOPES.publisher, ...t }),
    subscriber: rest.token({ sub: names.subscriber, email: `${names.subscriber}@example.com`, scopes: SCOPES.subscriber, ...t }),
  };
}

export async function createPolicy(rest: RestHarness, token: string, body: ReturnType<typeof policyBody>): Promise<{ policyId: string; policyName: string }> {
  const response = expectStatus(await rest.call('POST', `${ADMIN}/throttling/policies/subscription`, { token, body }), 201, 'create policy');
  return response.body;
}

export async function createApi(rest: RestHarness, token: string, policies: string[], options: { publish?: boolean } = {}): Promise<{ id: string; name: string }> {
  const name = uniqueName('Api');
  const response = expectStatus(
    await rest.call('POST', `${PUBLISHER}/apis`, { token, body: { name, version: '1.0.0', context: `/${name.toLowerCase()}`, policies } }),
    201,
    'create API',
  );
  if (options.publish ?? true) {
    expectStatus(await rest.call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${response.body.id}&action=Publish`, { token }), 200, 'publish API');
  }
  return { id: response.body.id, name };
}

export async function connectedAccount(rest: RestHarness): Promise<string> {
  return (await rest.platform.accounts.create({ type: 'express', country: 'US', business_profile: { name: 'Publisher Inc' } })).id;
}

export async function monetize(rest: RestHarness, token: string, apiId: string, account: string): Promise<void> {
  expectStatus(
    await rest.call('POST', `${PUBLISHER}/apis/${apiId}/monetize`, { token, body: { enabled: true, properties: { ConnectedAccountKey: account } } }),
    201,
    'monetize API',
  );
}

export async function createApplication(rest: RestHarness, token: string, name = uniqueName('app')): Promise<string> {
  const response = expectStatus(
    await rest.call('POST', `${DEVPORTAL}/applications`, { token, body: { name, throttlingPolicy: 'Unlimited' } }),
    201,
    'create application',
  );
  return response.body.applicationId;
}

export async function subscribe(rest: RestHarness, token: string, applicationId: string, apiId: string, tier: string): Promise<string> {
  const response = expectStatus(
    await rest.call('POST', `${DEVPORTAL}/subscriptions`, { token, body: { applicationId, apiId, throttlingPolicy: tier } }),
    201,
    'subscribe',
  );
  return response.body.subscriptionId;
}

/**
 * A tenant's complete monetized world, made through the REST API: a FREE and a FIXEDRATE
 * (10.00 USD a month) policy, a published API on both, monetized with a connected account, an
 * application subscribed on the commercial tier.
 */
export async function monetizedWorld(rest: RestHarness, tokens: Tokens) {
  const free = await createPolicy(rest, tokens.admin, policyBody(uniqueName('Free')));
  const gold = await createPolicy(rest, tokens.admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '10.00' }));
  const api = await createApi(rest, tokens.publisher, [free.policyName, gold.policyName]);
  const account = await connectedAccount(rest);
  await monetize(rest, tokens.publisher, api.id, account);
  const applicationId = await createApplication(rest, tokens.subscriber);
  const subscriptionId = await subscribe(rest, tokens.subscriber, applicationId, api.id, gold.policyName);
  return { free, gold, api, account, applicationId, subscriptionId };
}
