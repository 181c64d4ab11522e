import jwt from 'jsonwebtoken';
import { mintToken } from '../../src/http/auth/tokens';
import { API_BASE_PATHS, type AnyRoute } from '../../src/http/route';
import { ROUTES } from '../../src/http/routes';
import { engineDeliveryRoutes } from '../../src/http/routes/admin/engine-deliveries';
import { notificationRoutes } from '../../src/http/routes/admin/notifications';
import type { NotificationsAdmin } from '../../src/notifications/notifications-admin';
import { EXTENSION_ROUTES } from '../../src/http/routes/extensions';
import { forEachTestDatabase } from '../helpers/databases';
import { createApi, monetize, monetizedWorld, roleTokens } from '../helpers/rest-fixtures';
import { ADMIN, DEVPORTAL, JWT_SECRET, OTHER_TENANT, policyBody, PUBLISHER, startRestHarness, type RestHarness, type RestResponse } from '../helpers/rest-harness';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';

/**
 * The security suite, run over every route Meterline registers (the list comes from the route
 * table itself, so a new route without a probe fails here): no token, malformed header, expired,
 * wrong audience, wrong issuer, `alg: none`, wrong key, no expiry, unknown tenant → 401; a valid
 * token without the route's scopes → 403; a token of another tenant (with the right scopes)
 * never reads or changes this tenant's data; on developer-portal routes, another user of the
 * same tenant neither. Routes that change an API (lifecycle, monetization and its connected
 * account) or show its money (revenue, subscriptions, pending invoices, invoices) are for the
 * API's provider and admins (`apim:admin`) only: another publisher of the tenant gets WSO2's 403
 * and nothing changes.
 */
/** The monetized world, and a notification channel of its tenant with a delivery made by the world's story. */
type World = Awaited<ReturnType<typeof monetizedWorld>> & { channelId: string; deliveryId: string };

/** An API of the provider `pat`, monetized with `account`, and a subscription to it (the world's). */
interface Target {
  apiId: string;
  account: string;
  subscriptionId: string;
  /** The name of the world's FREE tier, which every API of the provider's offers. */
  freeTier: string;
  /** The world's COMMERCIAL tier, on which its subscription is. */
  goldTier: string;
}

/** A route only the API's provider, or an admin, may call. */
interface ProviderOnly {
  /** Path and query under the API's base path. */
  path(target: Target): string;
  body?(target: Target): unknown;
  /** The status of success. */
  status: number;
  /** The route changes the API: each attempt gets a fresh API of the provider's. */
  changes: boolean;
}

interface Probe {
  /** Path and query under the API's base path. */
  path(world: World): string;
  body?(world: World): unknown;
  /** Safe to repeat with the owner's token as a positive control. */
  readOnly: boolean;
  /** What a token of the other tenant (holding the route's scopes) gets, checked by `otherTenant`. */
  otherTenant(response: RestResponse, world: World, rest: RestHarness): Promise<void> | void;
  /** Developer-portal routes: what another user of the same tenant gets. */
  otherUser?(response: RestResponse, world: World): void;
  providerOnly?: ProviderOnly;
}

const notFound = (response: RestResponse) => {
  expect(response.status).toBe(404);
};
const excludes = (ids: (world: World) => string[]) => (response: RestResponse, world: World) => {
  expect(response.status).toBe(200);
  const text = JSON.stringify(response.body);
  for (const id of ids(world)) expect(text).not.toContain(id);
};

const PROBES: Record<string, Probe> = {
  'POST /api/am/admin/v4/throttling/policies/subscription': {
    path: () => '/throttling/policies/subscription',
    body: (w) => policyBody(w.gold.policyName),
    readOnly: false,
    // The other tenant's namespace is its own: the same name is free there, and what it made is invisible here.
    async otherTenant(response, world, rest) {
      expect(response.status).toBe(201);
      const own = await rest.call('GET', `${ADMIN}/throttling/policies/subscription/${response.body.policyId}`, { token: roleTokens(rest).admin });
      expect(own.status).toBe(404);
      const still = await rest.call('GET', `${ADMIN}/throttling/policies/subscription/${world.gold.policyId}`, { token: roleTokens(rest).admin });
      expect(still.body.billingPlan).toBe('COMMERCIAL');
    },
  },
  'GET /api/am/admin/v4/throttling/policies/subscription': {
    path: () => '/throttling/policies/subscription',
    readOnly: true,
    otherTenant: excludes((w) => [w.free.policyId, w.gold.policyId]),
  },
  'GET /api/am/admin/v4/throttling/policies/subscription/{policyId}': {
    path: (w) => `/throttling/policies/subscription/${w.gold.policyId}`,
    readOnly: true,
    otherTenant: notFound,
  },
  'PUT /api/am/admin/v4/throttling/policies/subscription/{policyId}': {
    path: (w) => `/throttling/policies/subscription/${w.free.policyId}`,
    body: (w) => policyBody(w.free.policyName),
    readOnly: false,
    otherTenant: notFound,
  },
  'DELETE /api/am/admin/v4/throttling/policies/subscription/{policyId}': {
    path: (w) => `/throttling/policies/subscription/${w.free.policyId}`,
    readOnly: false,
    async otherTenant(response, world, rest) {
      expect(response.status).toBe(404);
      expect((await rest.call('GET', `${ADMIN}/throttling/policies/subscription/${world.free.policyId}`, { token: roleTokens(rest).admin })).status).toBe(200);
    },
  },
  'POST /api/am/publisher/v4/apis': {
    path: () => '/apis',
    body: (w) => ({ name: 'Probe', version: '1', context: '/probe', policies: [w.free.policyName] }),
    readOnly: false,
    // This tenant's tiers do not exist in the other tenant.
    otherTenant(response) {
      expect(response.status).toBe(400);
      expect(response.body.error[0].code).toBe('policies[0]');
    },
  },
  'GET /api/am/publisher/v4/apis': { path: () => '/apis', readOnly: true, otherTenant: excludes((w) => [w.api.id]) },
  'POST /api/am/publisher/v4/apis/change-lifecycle': {
    path: (w) => `/apis/change-lifecycle?apiId=${w.api.id}&action=Block`,
    readOnly: false,
    otherTenant: notFound,
    providerOnly: { path: (t) => `/apis/change-lifecycle?apiId=${t.apiId}&action=Block`, status: 200, changes: true },
  },
  'GET /api/am/publisher/v4/apis/{apiId}': { path: (w) => `/apis/${w.api.id}`, readOnly: true, otherTenant: notFound },
  'PUT /api/am/publisher/v4/apis/{apiId}': {
    path: (w) => `/apis/${w.api.id}`,
    body: (w) => ({ name: w.api.name, version: '1.0.0', context: '/probe', policies: [w.free.policyName, w.gold.policyName], gatewayType: 'wso2/synapse' }),
    readOnly: false,
    otherTenant: notFound,
    // The provider drops the COMMERCIAL tier of a fresh API of theirs.
    providerOnly: { path: (t) => `/apis/${t.apiId}`, body: (t) => ({ name: 'Probe', version: '1.0.0', context: '/probe', policies: [t.freeTier] }), status: 200, changes: true },
  },
  'POST /api/am/publisher/v4/apis/{apiId}/monetize': {
    path: (w) => `/apis/${w.api.id}/monetize`,
    body: () => ({ enabled: false, properties: { ConnectedAccountKey: 'acct_probe' } }),
    readOnly: false,
    async otherTenant(response, world, rest) {
      expect(response.status).toBe(404);
      const status = await rest.call('GET', `${PUBLISHER}/apis/${world.api.id}/monetization`, { token: roleTokens(rest).publisher });
      expect(status.body.enabled).toBe(true);
    },
    providerOnly: {
      path: (t) => `/apis/${t.apiId}/monetize`,
      body: (t) => ({ enabled: false, properties: { ConnectedAccountKey: t.account } }),
      status: 201,
      changes: true,
    },
  },
  'GET /api/am/publisher/v4/apis/{apiId}/monetization': { path: (w) => `/apis/${w.api.id}/monetization`, readOnly: true, otherTenant: notFound },
  'GET /api/am/publisher/v4/apis/{apiId}/revenue': {
    path: (w) => `/apis/${w.api.id}/revenue`,
    readOnly: true,
    otherTenant: notFound,
    providerOnly: { path: (t) => `/apis/${t.apiId}/revenue`, status: 200, changes: false },
  },
  'GET /api/am/publisher/v4/apis/{apiId}/invoices': {
    path: (w) => `/apis/${w.api.id}/invoices`,
    readOnly: true,
    otherTenant: notFound,
    providerOnly: { path: (t) => `/apis/${t.apiId}/invoices`, status: 200, changes: false },
  },
  'GET /api/am/publisher/v4/subscriptions': {
    path: (w) => `/subscriptions?apiId=${w.api.id}`,
    readOnly: true,
    otherTenant: notFound,
    providerOnly: { path: (t) => `/subscriptions?apiId=${t.apiId}`, status: 200, changes: false },
  },
  'GET /api/am/publisher/v4/subscriptions/{subscriptionId}/usage': {
    path: (w) => `/subscriptions/${w.subscriptionId}/usage`,
    readOnly: true,
    otherTenant: notFound,
    providerOnly: { path: (t) => `/subscriptions/${t.subscriptionId}/usage`, status: 200, changes: false },
  },
  'POST /api/am/publisher/v4/subscriptions/block-subscription': {
    path: (w) => `/subscriptions/block-subscription?subscriptionId=${w.subscriptionId}&blockState=PROD_ONLY_BLOCKED`,
    readOnly: false,
    otherTenant: notFound,
    providerOnly: { path: (t) => `/subscriptions/block-subscription?subscriptionId=${t.subscriptionId}&blockState=PROD_ONLY_BLOCKED`, status: 200, changes: false },
  },
  'POST /api/am/publisher/v4/subscriptions/unblock-subscription': {
    path: (w) => `/subscriptions/unblock-subscription?subscriptionId=${w.subscriptionId}`,
    readOnly: false,
    otherTenant: notFound,
    providerOnly: { path: (t) => `/subscriptions/unblock-subscription?subscriptionId=${t.subscriptionId}`, status: 200, changes: false },
  },
  'POST /api/am/publisher/v4/subscriptions/change-business-plan': {
    path: (w) => `/subscriptions/change-business-plan?subscriptionId=${w.subscriptionId}&businessPlan=${w.gold.policyName}`,
    readOnly: false,
    otherTenant: notFound,
    // The plan it is on: the change is a no-op that only the API's provider or an admin may make.
    providerOnly: { path: (t) => `/subscriptions/change-business-plan?subscriptionId=${t.subscriptionId}&businessPlan=${t.goldTier}`, status: 200, changes: false },
  },
  'GET /api/am/publisher/v4/throttling-policies/{policyLevel}': {
    path: () => '/throttling-policies/subscription?limit=1000',
    readOnly: true,
    // Names are per tenant: the admin probe above may have made a FREE policy named like this tenant's gold there.
    otherTenant(response, world) {
      excludes((w) => [w.free.policyName])(response, world);
      const named = response.body.list.filter((p: { name: string }) => p.name === world.gold.policyName);
      expect(named.map((p: { tierPlan: string }) => p.tierPlan)).not.toContain('COMMERCIAL');
    },
  },
  'GET /api/am/publisher/v4/throttling-policies/streaming/subscription': {
    path: () => '/throttling-policies/streaming/subscription?limit=1000',
    readOnly: true,
    otherTenant: excludes((w) => [w.free.policyName, w.gold.policyName]),
  },
  'GET /api/am/publisher/v4/apis/{apiId}/subscription-policies': { path: (w) => `/apis/${w.api.id}/subscription-policies`, readOnly: true, otherTenant: notFound },
  'GET /api/am/publisher/v4/throttling-policies/{policyLevel}/{policyName}': {
    path: (w) => `/throttling-policies/subscription/${w.free.policyName}`,
    readOnly: true,
    otherTenant: notFound,
  },
  'GET /api/am/publisher/v4/settings': {
    path: () => '/settings',
    readOnly: true,
    // Deployment-wide configuration, the same for every tenant; no tenant data in it.
    otherTenant(response) {
      expect(response.status).toBe(200);
      expect(response.body.monetizationAttributes.map((a: { name: string }) => a.name)).toEqual(['ConnectedAccountKey']);
    },
  },
  'POST /api/am/devportal/v3/applications': {
    path: () => '/applications',
    body: () => ({ name: 'probe-app', throttlingPolicy: 'Unlimited' }),
    readOnly: false,
    async otherTenant(response, _world, rest) {
      expect(response.status).toBe(201);
      const own = await rest.call('GET', `${DEVPORTAL}/applications/${response.body.applicationId}`, { token: roleTokens(rest).subscriber });
      expect(own.status).toBe(404);
    },
  },
  'GET /api/am/devportal/v3/applications': {
    path: () => '/applications',
    readOnly: true,
    otherTenant: excludes((w) => [w.applicationId]),
    otherUser: excludes((w) => [w.applicationId]),
  },
  'GET /api/am/devportal/v3/applications/{applicationId}': {
    path: (w) => `/applications/${w.applicationId}`,
    readOnly: true,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'PUT /api/am/devportal/v3/applications/{applicationId}': {
    path: (w) => `/applications/${w.applicationId}`,
    body: () => ({ name: 'probe-renamed', throttlingPolicy: 'Unlimited' }),
    readOnly: false,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'DELETE /api/am/devportal/v3/applications/{applicationId}': {
    path: (w) => `/applications/${w.applicationId}`,
    readOnly: false,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'POST /api/am/devportal/v3/subscriptions': {
    path: () => '/subscriptions',
    body: (w) => ({ applicationId: w.applicationId, apiId: w.api.id, throttlingPolicy: w.free.policyName }),
    readOnly: false,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'POST /api/am/devportal/v3/subscriptions/multiple': {
    path: () => '/subscriptions/multiple',
    body: (w) => [{ applicationId: w.applicationId, apiId: w.api.id, throttlingPolicy: w.free.policyName }],
    readOnly: false,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'GET /api/am/devportal/v3/subscriptions': {
    path: (w) => `/subscriptions?applicationId=${w.applicationId}`,
    readOnly: true,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'GET /api/am/devportal/v3/subscriptions/{subscriptionId}': {
    path: (w) => `/subscriptions/${w.subscriptionId}`,
    readOnly: true,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'PUT /api/am/devportal/v3/subscriptions/{subscriptionId}': {
    path: (w) => `/subscriptions/${w.subscriptionId}`,
    body: (w) => ({ applicationId: w.applicationId, apiId: w.api.id, throttlingPolicy: w.gold.policyName, requestedThrottlingPolicy: w.free.policyName }),
    readOnly: false,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'DELETE /api/am/devportal/v3/subscriptions/{subscriptionId}': {
    path: (w) => `/subscriptions/${w.subscriptionId}`,
    readOnly: false,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'GET /api/am/devportal/v3/subscriptions/{subscriptionId}/usage': {
    path: (w) => `/subscriptions/${w.subscriptionId}/usage`,
    readOnly: true,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'GET /api/am/devportal/v3/subscriptions/{subscriptionId}/invoices': {
    path: (w) => `/subscriptions/${w.subscriptionId}/invoices`,
    readOnly: true,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'GET /api/am/devportal/v3/subscriptions/{subscriptionId}/spend-limit': {
    path: (w) => `/subscriptions/${w.subscriptionId}/spend-limit`,
    readOnly: true,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'PUT /api/am/devportal/v3/subscriptions/{subscriptionId}/spend-limit': {
    path: (w) => `/subscriptions/${w.subscriptionId}/spend-limit`,
    body: () => ({ amount: '100.00' }),
    readOnly: false,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'DELETE /api/am/devportal/v3/subscriptions/{subscriptionId}/spend-limit': {
    path: (w) => `/subscriptions/${w.subscriptionId}/spend-limit`,
    readOnly: false,
    otherTenant: notFound,
    otherUser: notFound,
  },
  'GET /api/am/publisher/v4/subscriptions/{subscriptionId}/spend-limit': {
    path: (w) => `/subscriptions/${w.subscriptionId}/spend-limit`,
    readOnly: true,
    otherTenant: notFound,
    providerOnly: { path: (t) => `/subscriptions/${t.subscriptionId}/spend-limit`, status: 200, changes: false },
  },
  'PUT /api/am/publisher/v4/subscriptions/{subscriptionId}/spend-limit': {
    path: (w) => `/subscriptions/${w.subscriptionId}/spend-limit`,
    body: () => ({ amount: '100.00' }),
    readOnly: false,
    otherTenant: notFound,
    providerOnly: { path: (t) => `/subscriptions/${t.subscriptionId}/spend-limit`, body: () => ({ amount: '100.00' }), status: 200, changes: false },
  },
  'DELETE /api/am/publisher/v4/subscriptions/{subscriptionId}/spend-limit': {
    path: (w) => `/subscriptions/${w.subscriptionId}/spend-limit`,
    readOnly: false,
    otherTenant: notFound,
    providerOnly: { path: (t) => `/subscriptions/${t.subscriptionId}/spend-limit`, status: 200, changes: false },
  },
  'GET /api/am/admin/v4/monetization/own-invoices': {
    path: (w) => `/monetization/own-invoices?subscriptionId=${w.subscriptionId}`,
    readOnly: true,
    otherTenant: excludes((w) => [w.subscriptionId]),
  },
  'POST /api/am/admin/v4/monetization/own-invoices/close': {
    path: () => '/monetization/own-invoices/close',
    body: (w) => ({ subscriptionId: w.subscriptionId }),
    readOnly: false,
    otherTenant: notFound,
  },
  // The engine's delivery log (app.ts registers these routes whatever the engine): the harness's
  // Stripe engine keeps none, so every caller who passes the checks gets 404, never another tenant's.
  'GET /api/am/admin/v4/monetization/deliveries': {
    path: () => '/monetization/deliveries?status=DEAD',
    readOnly: false,
    otherTenant: notFound,
  },
  'POST /api/am/admin/v4/monetization/deliveries/{deliveryId}/replay': {
    path: () => '/monetization/deliveries/00000000-0000-4000-8000-000000000000/replay',
    readOnly: false,
    otherTenant: notFound,
  },
  'GET /api/am/admin/v4/notifications/channels': {
    path: () => '/notifications/channels',
    readOnly: true,
    otherTenant: excludes((w) => [w.channelId]),
  },
  'POST /api/am/admin/v4/notifications/channels': {
    path: () => '/notifications/channels',
    body: () => ({ name: 'security-ops', kind: 'slack', target: 'http://127.0.0.1:9/other', events: ['*'] }),
    readOnly: false,
    // Made in the other tenant's own namespace (the same name is free there), invisible here.
    async otherTenant(response, world, rest) {
      expect(response.status).toBe(201);
      const own = await rest.call('GET', `${ADMIN}/notifications/channels`, { token: roleTokens(rest).admin });
      expect(own.body.list.map((c: { id: string }) => c.id)).toEqual([world.channelId]);
    },
  },
  'GET /api/am/admin/v4/notifications/channels/{channelId}': {
    path: (w) => `/notifications/channels/${w.channelId}`,
    readOnly: true,
    otherTenant: notFound,
  },
  'PUT /api/am/admin/v4/notifications/channels/{channelId}': {
    path: (w) => `/notifications/channels/${w.channelId}`,
    body: () => ({ name: 'taken-over', kind: 'slack', target: 'http://127.0.0.1:9/evil', events: ['*'] }),
    readOnly: false,
    otherTenant: notFound,
  },
  'DELETE /api/am/admin/v4/notifications/channels/{channelId}': {
    path: (w) => `/notifications/channels/${w.channelId}`,
    readOnly: false,
    otherTenant: notFound,
  },
  'GET /api/am/admin/v4/notifications/deliveries': {
    path: () => '/notifications/deliveries?limit=100',
    readOnly: true,
    otherTenant: excludes((w) => [w.deliveryId, w.channelId]),
  },
  'POST /api/am/admin/v4/notifications/deliveries/{deliveryId}/retry': {
    path: (w) => `/notifications/deliveries/${w.deliveryId}/retry`,
    readOnly: false,
    otherTenant: notFound,
  },
  'GET /api/am/devportal/v3/throttling-policies/{policyLevel}': {
    path: () => '/throttling-policies/subscription?limit=1000',
    readOnly: true,
    // Names are per tenant: the admin probe above may have made a FREE policy named like this tenant's gold there.
    otherTenant(response, world) {
      excludes((w) => [w.free.policyName])(response, world);
      const named = response.body.list.filter((p: { name: string }) => p.name === world.gold.policyName);
      expect(named.map((p: { tierPlan: string }) => p.tierPlan)).not.toContain('COMMERCIAL');
    },
  },
  'GET /api/am/devportal/v3/throttling-policies/{policyLevel}/{policyId}': {
    path: (w) => `/throttling-policies/subscription/${w.free.policyName}`,
    readOnly: true,
    otherTenant: notFound,
  },
};

/**
 * The engine delivery and notification routes are built on their services (app.ts); their paths
 * and scopes do not depend on them (these copies only list them: the harness's service answers).
 */
const SECURED_ROUTES: readonly AnyRoute[] = [...ROUTES, ...EXTENSION_ROUTES, ...engineDeliveryRoutes(undefined), ...notificationRoutes({} as NotificationsAdmin)];
const keyOf = (route: AnyRoute) => `${route.method.toUpperCase()} ${API_BASE_PATHS[route.api]}${route.path}`;
const ALL_SCOPES = [...new Set(SECURED_ROUTES.flatMap((r) => r.scopes))];
/** Reads that show an API's money; every publisher write but creating an API (which has its own provider rule) changes one. */
const MONEY_READS = ['getAPIRevenue', 'meterlineListApiInvoices', 'getSubscriptions', 'getSubscriptionUsage', 'meterline.getPublisherSpendLimit'];

function expectWso2Error(response: RestResponse, status: number): void {
  expect(response.status).toBe(status);
  expect(response.body).toEqual({ code: expect.any(Number), message: expect.any(String), description: expect.any(String), moreInfo: '', error: expect.any(Array) });
}

it('every registered route has a security probe, and every probe a route', () => {
  expect(SECURED_ROUTES.map(keyOf).sort()).toEqual(Object.keys(PROBES).sort());
});

it('every publisher route that changes an API, and every read of an API\'s money, is probed as provider-only', () => {
  const providerOnly = (route: AnyRoute) =>
    route.api === 'publisher' && ((route.method !== 'get' && route.operationId !== 'createAPI') || MONEY_READS.includes(route.operationId));
  expect(SECURED_ROUTES.filter(providerOnly).map(keyOf).sort()).toEqual(Object.keys(PROBES).filter((key) => PROBES[key]!.providerOnly).sort());
});

let stripeServer: StripeServer;
beforeAll(async () => {
  stripeServer = await startStripeServer({ port: 0 });
});
afterAll(() => stripeServer.close());

forEachTestDatabase((_kind, database) => {
  let rest: RestHarness;
  let world: World;
  beforeAll(async () => {
    rest = await startRestHarness(database(), stripeServer);
    // A channel for every event first, so the world's story leaves deliveries in its outbox (to a
    // closed port: they stay unsent, which does not matter here).
    const channel = await rest.call('POST', `${ADMIN}/notifications/channels`, {
      token: roleTokens(rest).admin,
      body: { name: 'security-ops', kind: 'slack', target: 'http://127.0.0.1:9/ops', events: ['*'] },
    });
    expect(channel.status).toBe(201);
    const story = await monetizedWorld(rest, roleTokens(rest));
    const deliveries = await rest.call('GET', `${ADMIN}/notifications/deliveries?limit=1`, { token: roleTokens(rest).admin });
    expect(deliveries.body.list).toHaveLength(1);
    world = { ...story, channelId: channel.body.id, deliveryId: deliveries.body.list[0].id };
  });
  afterAll(() => rest.close());

  const jwtConfig = () => rest.config.auth.jwt!;
  const claims = (scopes: readonly string[]) => ({ sub: 'pat', scope: scopes.join(' ') });
  const forged = (scopes: readonly string[]) => {
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ ...claims(scopes), iss: 'meterline', aud: 'meterline', exp: now + 600 })}.`;
  };

  describe.each(SECURED_ROUTES.map((route) => [keyOf(route), route] as const))('%s', (key, route) => {
    const probe = PROBES[key]!;
    const send = (headers: Record<string, string>, token?: string) =>
      rest.call(route.method.toUpperCase(), `${API_BASE_PATHS[route.api]}${probe.path(world)}`, {
        ...(token ? { token } : {}),
        headers,
        ...(probe.body ? { body: probe.body(world) } : {}),
      });
    const withToken = (token: string) => send({}, token);

    const unauthenticated: Array<[string, () => Promise<RestResponse>]> = [
      ['no token', () => send({})],
      ['a non-bearer Authorization header', () => send({ authorization: `Basic ${Buffer.from('pat:secret').toString('base64')}` })],
      ['an expired token', () => withToken(mintToken(jwtConfig(), { subject: 'pat', tenant: undefined, scopes: route.scopes, expiresIn: 60 }, new Date(Date.now() - 3_600_000)))],
      ['a token for another audience', () => withToken(jwt.sign(claims(route.scopes), JWT_SECRET, { algorithm: 'HS256', issuer: 'meterline', audience: 'someone-else', expiresIn: 600 }))],
      ['a token from another issuer', () => withToken(jwt.sign(claims(route.scopes), JWT_SECRET, { algorithm: 'HS256', issuer: 'evil', audience: 'meterline', expiresIn: 600 }))],
      ['an unsigned alg:none token', () => withToken(forged(route.scopes))],
      ['a token signed with another key', () => withToken(jwt.sign(claims(route.scopes), 'not-the-secret-0123456789abcdef', { algorithm: 'HS256', issuer: 'meterline', audience: 'meterline', expiresIn: 600 }))],
      ['a token without expiry', () => withToken(jwt.sign(claims(route.scopes), JWT_SECRET, { algorithm: 'HS256', issuer: 'meterline', audience: 'meterline' }))],
      ['a token of a tenant this server does not serve', () => withToken(rest.token({ sub: 'pat', tenant: 'nowhere.example', scopes: route.scopes }))],
    ];
    it.each(unauthenticated)('401 with %s', async (_label, request) => {
      const response = await request();
      expectWso2Error(response, 401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
    });

    it('403 with a valid token lacking every scope the route accepts', async () => {
      const others = ALL_SCOPES.filter((scope) => !route.scopes.includes(scope));
      const response = await withToken(rest.token({ sub: 'pat', scopes: others }));
      expectWso2Error(response, 403);
      expect(response.body.description).toContain(route.scopes[0]);
    });

    it('another tenant, holding the scopes, cannot read or change this tenant\'s data', async () => {
      const response = await withToken(rest.token({ sub: 'pat', tenant: OTHER_TENANT.domain, scopes: route.scopes }));
      await probe.otherTenant(response, world, rest);
    });

    if (probe.otherUser) {
      it('another user of the same tenant cannot reach the subscriber\'s data', async () => {
        const response = await withToken(rest.token({ sub: 'mallory', scopes: route.scopes }));
        probe.otherUser!(response, world);
      });
    }

    if (probe.readOnly) {
      it('the owner, with any one of the route\'s scopes, gets 200', async () => {
        const owner = route.api === 'devportal' ? 'sam' : 'pat';
        const response = await withToken(rest.token({ sub: owner, scopes: [route.scopes[route.scopes.length - 1]!] }));
        expect(response.status).toBe(200);
      });
    }

    const providerOnly = probe.providerOnly;
    if (providerOnly) {
      /** Where to act: a fresh API of the provider's when the route changes it, else the world's. */
      const target = async (): Promise<Target> => {
        const world_ = { apiId: world.api.id, account: world.account, subscriptionId: world.subscriptionId, freeTier: world.free.policyName, goldTier: world.gold.policyName };
        if (!providerOnly.changes) return world_;
        const api = await createApi(rest, roleTokens(rest).publisher, [world.free.policyName, world.gold.policyName]);
        await monetize(rest, roleTokens(rest).publisher, api.id, world.account);
        return { ...world_, apiId: api.id };
      };
      const actAs = (target: Target, sub: string, scopes: readonly string[]) =>
        rest.call(route.method.toUpperCase(), `${API_BASE_PATHS[route.api]}${providerOnly.path(target)}`, {
          token: rest.token({ sub, scopes }),
          ...(providerOnly.body ? { body: providerOnly.body(target) } : {}),
        });
      /** What the route could change, as the provider reads it back. */
      const stateOf = async (target: Target) =>
        (await rest.call('GET', `${API_BASE_PATHS.publisher}/apis/${target.apiId}`, { token: roleTokens(rest).publisher })).body;

      it('another publisher of the tenant, holding the scopes, gets 403 and changes nothing', async () => {
        const t = await target();
        const before = await stateOf(t);
        const response = await actAs(t, 'pia', route.scopes);
        expectWso2Error(response, 403);
        expect(response.body).toMatchObject({ code: 900910, message: 'Forbidden', description: expect.stringContaining(t.apiId) });
        expect(await stateOf(t)).toEqual(before);
      });

      it.each([
        ['the provider', 'pat', route.scopes],
        ['an admin (apim:admin) who is not the provider', 'root', [...route.scopes, 'apim:admin']],
      ])('%s succeeds', async (_label, sub, scopes) => {
        const t = await target();
        const before = await stateOf(t);
        const response = await actAs(t, sub, scopes);
        expect(response.status).toBe(providerOnly.status);
        if (providerOnly.changes) expect(await stateOf(t)).not.toEqual(before);
      });
    }
  });
});
