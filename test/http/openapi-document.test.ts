import Ajv2019 from 'ajv/dist/2019';
import { API_BASE_PATHS } from '../../src/http/route';
import { ROUTES } from '../../src/http/routes';
import { EXTENSION_ROUTES } from '../../src/http/routes/extensions';
import { migrateLatest } from '../helpers/migrations';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { startRestHarness, type RestHarness } from '../helpers/rest-harness';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';

/** GET /api/am/openapi.json: Meterline's own OpenAPI document of what it implements (independent of the database: SQLite only). */
let stripeServer: StripeServer;
let database: TestDatabase;
let rest: RestHarness;
let doc: any; // eslint-disable-line @typescript-eslint/no-explicit-any
beforeAll(async () => {
  stripeServer = await startStripeServer({ port: 0 });
  database = await createTestDatabase({ kind: 'sqlite' });
  await migrateLatest(database.knex);
  rest = await startRestHarness(database, stripeServer);
  const response = await rest.call('GET', '/api/am/openapi.json');
  expect(response.status).toBe(200);
  doc = response.body;
});
afterAll(async () => {
  await rest?.close();
  await database?.destroy();
  await stripeServer?.close();
});

describe('the OpenAPI document', () => {
  it("documents the webhook's signature header the configured engine declares", () => {
    const parameters = doc.paths['/api/am/monetization/webhooks/{engine}/{tenantDomain}'].post.parameters as Array<{ name: string; in: string; required: boolean }>;
    expect(parameters.filter((p) => p.in === 'header')).toEqual([expect.objectContaining({ name: 'Stripe-Signature', required: true })]);
  });

  it('lists exactly the implemented operations, each with its scopes', () => {
    expect(doc.openapi).toBe('3.0.1');
    const operations = Object.entries(doc.paths as Record<string, Record<string, { security: Array<{ OAuth2Security: string[] }> }>>).flatMap(
      ([path, methods]) => Object.entries(methods).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op.security[0]?.OAuth2Security ?? []] as const),
    );
    const wso2 = ROUTES.map((r) => [`${r.method.toUpperCase()} ${API_BASE_PATHS[r.api]}${r.path}`, [...r.scopes]] as const);
    const extensions = [
      ...EXTENSION_ROUTES.map((r) => [`${r.method.toUpperCase()} ${API_BASE_PATHS[r.api]}${r.path}`, [...r.scopes]] as const),
      ['POST /api/am/monetization/webhooks/{engine}/{tenantDomain}', []] as const, // signed by the engine, not a bearer token
      ['GET /api/am/usage/v1/subscriptions/{subscriptionId}/access', ['apim:usage_ingest']] as const,
      ['POST /api/am/usage/v1/events', ['apim:usage_ingest']] as const,
      // WSO2's publish-usage operations, served by the usage publisher.
      ['POST /api/am/admin/v4/monetization/publish-usage', ['apim:admin', 'apim:monetization_usage_publish']] as const,
      ['GET /api/am/admin/v4/monetization/publish-usage/status', ['apim:admin', 'apim:monetization_usage_publish']] as const,
      ['GET /api/am/admin/v4/monetization/usage-reconciliation', ['apim:admin', 'apim:monetization_usage_publish']] as const,
      ['POST /api/am/admin/v4/monetization/usage-records/requeue', ['apim:admin', 'apim:monetization_usage_publish']] as const,
      // The billing engine's delivery log (src/http/routes/admin/engine-deliveries.ts).
      ['GET /api/am/admin/v4/monetization/deliveries', ['apim:admin']] as const,
      ['POST /api/am/admin/v4/monetization/deliveries/{deliveryId}/replay', ['apim:admin']] as const,
      // The notification admin routes (src/http/routes/admin/notifications.ts).
      ['GET /api/am/admin/v4/notifications/channels', ['apim:admin']] as const,
      ['POST /api/am/admin/v4/notifications/channels', ['apim:admin']] as const,
      ['GET /api/am/admin/v4/notifications/channels/{channelId}', ['apim:admin']] as const,
      ['PUT /api/am/admin/v4/notifications/channels/{channelId}', ['apim:admin']] as const,
      ['DELETE /api/am/admin/v4/notifications/channels/{channelId}', ['apim:admin']] as const,
      ['GET /api/am/admin/v4/notifications/deliveries', ['apim:admin']] as const,
      ['POST /api/am/admin/v4/notifications/deliveries/{deliveryId}/retry', ['apim:admin']] as const,
    ];
    expect(Object.fromEntries(operations)).toEqual(Object.fromEntries([...wso2, ...extensions]));
    expect(Object.keys(doc.components.securitySchemes.OAuth2Security.flows.clientCredentials.scopes).sort()).toEqual(
      [...new Set([...[...ROUTES, ...EXTENSION_ROUTES].flatMap((r) => r.scopes), 'apim:monetization_usage_publish', 'apim:usage_ingest'])].sort(),
    );
  });

  it('every $ref resolves inside the document', () => {
    const refs: string[] = [];
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(visit);
      if (typeof node !== 'object' || node === null) return;
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string') refs.push(value);
        else visit(value);
      }
    };
    visit(doc);
    expect(refs.length).toBeGreaterThan(20);
    const unresolved = refs.filter((ref) => {
      const [, section, name] = /^#\/components\/([^/]+)\/(.+)$/.exec(ref) ?? [];
      return section === undefined || doc.components[section]?.[name!] === undefined;
    });
    expect(unresolved).toEqual([]);
  });

  it('request bodies are what Meterline validates: the policy body refuses unknown fields', () => {
    const schema = doc.paths['/api/am/admin/v4/throttling/policies/subscription'].post.requestBody.content['application/json'].schema;
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(expect.arrayContaining(['policyName', 'defaultLimit']));
    const validate = new Ajv2019({ strict: false }).compile(schema);
    expect(validate({ policyName: 'Gold', defaultLimit: { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 5 } } })).toBe(true);
    // WSO2's fields Meterline ignores are documented with WSO2's types; others are refused.
    expect(validate({ policyName: 'Gold', defaultLimit: { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 5 } }, stopOnQuotaReach: true })).toBe(true);
    expect(validate({ policyName: 'Gold', defaultLimit: { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 5 } }, stopOnQuotaReach: 'yes' })).toBe(false);
    expect(validate({ policyName: 'Gold', defaultLimit: { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 5 } }, stopOnQuota: true })).toBe(false);
  });

  it('responses are WSO2\'s schemas, plus 401 and 403 as WSO2 errors', () => {
    const create = doc.paths['/api/am/devportal/v3/subscriptions'].post;
    expect(create.responses['201'].content['application/json'].schema.$ref).toBe('#/components/schemas/Devportal.Subscription');
    expect(create.responses['401'].content['application/json'].schema.$ref).toBe('#/components/schemas/Devportal.Error');
    expect(doc.components.schemas['Devportal.Subscription'].required).toEqual(['applicationId', 'throttlingPolicy']);
    expect(doc.paths['/api/am/publisher/v4/apis/{apiId}'].get.parameters).toEqual([{ name: 'apiId', in: 'path', required: true, schema: expect.objectContaining({ type: 'string' }) }]);
  });
});
