import { API_BASE_PATHS, type AnyRoute } from '../../src/http/route';
import { ROUTES } from '../../src/http/routes';
import { EXTENSION_ROUTES } from '../../src/http/routes/extensions';
import { createApplication, createPolicy, roleTokens } from '../helpers/rest-fixtures';
import { DEVPORTAL, policyBody, PUBLISHER, SCOPES, forEachRestHarness, uniqueName, type RestResponse } from '../helpers/rest-harness';

/**
 * Input no route can use is refused with 400 and WSO2's error body naming the field, on every
 * database, never with a 5xx: a path parameter that is not valid percent-encoding (refused while
 * express matches the route, so before authentication too), an id longer than its column or
 * holding a control character (PostgreSQL cannot store NUL), a body value beyond what its column
 * keeps; and, as the safety net behind the routes' validation, a value the database itself
 * refuses as too long.
 */
const TABLE: readonly AnyRoute[] = [...ROUTES, ...EXTENSION_ROUTES];
const parametersOf = (route: AnyRoute) => [...route.path.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!);
/** Each path parameter of each route, as [route key, route, parameter]. */
const PATH_PARAMETERS = TABLE.flatMap((route) =>
  parametersOf(route).map((parameter) => [`${route.method.toUpperCase()} ${API_BASE_PATHS[route.api]}${route.path}`, route, parameter] as const),
);

/** A valid value for the parameters that take one of a few values (WSO2's policy levels); any id for the others. */
const PLAIN_VALUES: Readonly<Record<string, string>> = { policyLevel: 'subscription' };

/** The route's path with `raw` (already encoded) as the value of `parameter`, and a plain value for the others. */
function pathWith(route: AnyRoute, parameter: string, raw: string): string {
  return `${API_BASE_PATHS[route.api]}${route.path}`.replace(/\{([A-Za-z0-9_]+)\}/g, (_m, name: string) => (name === parameter ? raw : (PLAIN_VALUES[name] ?? 'some-id')));
}

function expectRefused(response: RestResponse, field: string): void {
  expect(response.status).toBe(400);
  expect(response.body).toEqual({ code: 400, message: 'Bad Request', description: expect.stringContaining(field), moreInfo: '', error: expect.any(Array) });
  expect(response.body.error[0].code).toBe(field);
}

it('the route tables have path parameters to probe', () => {
  expect(PATH_PARAMETERS.length).toBeGreaterThanOrEqual(10);
});

forEachRestHarness((rest, kind) => {

  const call = (route: AnyRoute, path: string, token?: string) =>
    rest().call(route.method.toUpperCase(), path, { ...(token ? { token } : {}), ...(route.body ? { body: {} } : {}) });
  const tokenFor = (route: AnyRoute) => rest().token({ sub: route.api === 'devportal' ? 'sam' : 'pat', scopes: [...route.scopes, 'apim:admin'] });

  describe.each(PATH_PARAMETERS)('%s, parameter %s', (_key, route, parameter) => {
    it.each(['%E0%A4%A', '%ZZ', '%'])('%s (not percent-encoding) is 400 naming the parameter, without and with a token', async (raw) => {
      expectRefused(await call(route, pathWith(route, parameter, raw)), parameter);
      expectRefused(await call(route, pathWith(route, parameter, raw), tokenFor(route)), parameter);
    });

    it('an id longer than its column (256) is 400 naming the parameter', async () => {
      expectRefused(await call(route, pathWith(route, parameter, 'a'.repeat(257)), tokenFor(route)), parameter);
    });

    it('an id with a NUL or another control character is 400 naming the parameter', async () => {
      expectRefused(await call(route, pathWith(route, parameter, 'a%00b'), tokenFor(route)), parameter);
      expectRefused(await call(route, pathWith(route, parameter, '%0A'), tokenFor(route)), parameter);
    });
  });

  it.each([
    ['the invoice page', '/devportal/subscriptions/%E0%A4%A/invoice'],
    ["the gateway's access check", '/api/am/usage/v1/subscriptions/%ZZ/access'],
  ])('outside the REST route tables, %s answers a path that is not percent-encoding with 400 naming the path', async (_label, path) => {
    expectRefused(await rest().call('GET', path), 'path');
  });

  it.each([
    ['GET', `${PUBLISHER}/subscriptions?apiId=`],
    ['POST', `${PUBLISHER}/apis/change-lifecycle?action=Block&apiId=`],
  ])('%s %s: an apiId longer than its column, or holding a NUL, is 400 naming apiId', async (method, path) => {
    const token = rest().token({ sub: 'pat', scopes: SCOPES.publisher });
    expectRefused(await rest().call(method, `${path}${'a'.repeat(257)}`, { token }), 'apiId');
    expectRefused(await rest().call(method, `${path}a%00b`, { token }), 'apiId');
  });

  describe('body values beyond what their column keeps', () => {
    const publisher = () => roleTokens(rest()).publisher;
    const monetize = (properties: Record<string, string>) =>
      rest().call('POST', `${PUBLISHER}/apis/some-api/monetize`, { token: publisher(), body: { enabled: true, properties } });

    it('monetization properties: a value over 1000 characters, a name over 100, more than 20, or a control character, each 400 naming it', async () => {
      expectRefused(await monetize({ ConnectedAccountKey: 'a'.repeat(1001) }), 'properties.ConnectedAccountKey');
      expectRefused(await monetize({ ['n'.repeat(101)]: 'x' }), `properties.${'n'.repeat(101)}`);
      expectRefused(await monetize(Object.fromEntries(Array.from({ length: 21 }, (_v, i) => [`p${i}`, 'x']))), 'properties');
      expectRefused(await monetize({ ConnectedAccountKey: 'acct_\u0000' }), 'properties.ConnectedAccountKey');
    });

    it('API fields: a name over its limit or with a NUL, a provider over its limit, each 400 naming it', async () => {
      const body = (overrides: Record<string, unknown>) => ({ name: uniqueName('Api'), version: '1', context: `/${uniqueName('ctx')}`, ...overrides });
      const create = (overrides: Record<string, unknown>) => rest().call('POST', `${PUBLISHER}/apis`, { token: publisher(), body: body(overrides) });
      expectRefused(await create({ name: 'n'.repeat(61) }), 'name');
      expectRefused(await create({ name: 'a\u0000b' }), 'name');
      expectRefused(await create({ version: '1\u0000' }), 'version');
      expectRefused(await create({ provider: 'p'.repeat(51) }), 'provider');
    });
  });

  describe('the safety net: a value the database refuses is 400, not 500', () => {
    // A user name longer than CREATED_BY (100) no longer reaches the database: the token is
    // refused at verification (test/http/token-claims.test.ts). The safety net itself, with
    // real driver errors on each database, is covered by test/logging.test.ts.
    it('a user name longer than the CREATED_BY column (100) is refused before the database, 401 naming sub', async () => {
      const tier = (await createPolicy(rest(), roleTokens(rest()).admin, policyBody(uniqueName('Tier')))).policyName;
      const longName = rest().token({ sub: 'p'.repeat(150), scopes: SCOPES.publisher });
      const name = uniqueName('Api');
      const response = await rest().call('POST', `${PUBLISHER}/apis`, { token: longName, body: { name, version: '1', context: `/${name}`, policies: [tier] } });
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({ description: "The access token's sub is longer than 100 characters" });
    });

    it('a NUL in a free-text query is never a server error', async () => {
      await createApplication(rest(), roleTokens(rest()).subscriber);
      const response = await rest().call('GET', `${DEVPORTAL}/applications?query=a%00b`, { token: roleTokens(rest()).subscriber });
      expect(response.status).toBeLessThan(500);
    });
  });
});
