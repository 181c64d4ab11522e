import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { httpIntegrationEngine } from '../../../plugins/http-integration';
import { BillingRecords } from '../../../src/billing/billing-records.service';
import { BillingRepository, type GatewaySubscriptionStatus } from '../../../src/billing/billing.repository';
import { parseConfig } from '../../../src/config/load';
import type { Apim } from '../../../src/apim/apim';
import type { SubscriptionPolicy, SubscriptionRef } from '../../../src/domain/model';
import { mintToken, TokenVerifier } from '../../../src/http/auth/tokens';
import { billingWebhookRouter } from '../../../src/http/billing/webhook-route';
import { errorHandler } from '../../../src/http/errors';
import { registerRoutes } from '../../../src/http/route';
import { engineDeliveryRoutes } from '../../../src/http/routes/admin/engine-deliveries';
import { createLogger } from '../../../src/logger';
import { MonetizationError, type CoreRecords, type Monetization, type TenantDirectory } from '../../../src/monetization/monetization';
import { forEachTestDatabase } from '../../helpers/databases';
import { migrateLatest } from '../../helpers/migrations';
import { sentBodyProblems } from './protocol-schema';

/**
 * The HTTP integration engine against a local receiver (an in-test HTTP server standing for the
 * tenant's integration), with Meterline's own webhook route, billing records and delivery routes
 * on a real database. One migrated database, one receiver and one app per database; the tests
 * build on each other in order. Every request the receiver gets is checked against
 * docs/custom-billing.openapi.yaml and its Standard Webhooks signature verified independently.
 */
const SIGNING = `whsec_${Buffer.from('meterline-signing-secret-32-bytes!').toString('base64')}`;
const INBOUND = `whsec_${Buffer.from('integration-inbound-secret-bytes!!').toString('base64')}`;
const TENANT = { domain: 'carbon.super', id: -1234 };
const START = new Date('2030-01-31T10:00:00Z');
const JWT = { secret: 'http-integration-test-secret-of-32-chars!', issuer: 'meterline', audience: 'meterline' };

const policy: SubscriptionPolicy = {
  uuid: 'pol-gold',
  name: 'Gold',
  tenant: TENANT,
  billingPlan: 'COMMERCIAL',
  pricing: { plan: 'DYNAMICRATE', currency: 'usd', billingCycle: 'month', pricePerRequest: '0.002', fixedPrice: '5.00' },
};
const api = { uuid: 'api-hello', name: 'Hello', version: '1.0.0', provider: 'pat', tenant: TENANT };
const subscription: SubscriptionRef = { uuid: 'sub-1', api, application: { uuid: 'app-1', name: 'App' }, subscriber: { userId: 'alice', email: 'alice@example.com' }, policy };

interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
  body: { type: string; timestamp: string; data: Record<string, unknown> };
}

/** Standard Webhooks, computed here independently of the engine's code. */
function standardSignature(secret: string, id: string, timestamp: string, body: string): string {
  return `v1,${createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

forEachTestDatabase((_kind, db) => {
  let receiver: Server;
  let app: Server;
  let base: string;
  let engine: Monetization;
  let records: BillingRecords;
  let now = START;
  const received: Received[] = [];
  let answer: (request: Received) => { status: number; body?: unknown } = () => ({ status: 200, body: {} });
  const statuses = new Map<string, string>();
  const jwt = parseConfig({ auth: { jwt: JWT }, logging: { level: 'silent' } }, {}, 'test').auth.jwt!;
  const adminToken = (tenant?: string) => mintToken(jwt, { subject: 'admin', tenant, scopes: ['apim:admin'] });

  beforeAll(async () => {
    await migrateLatest(db().knex);
    receiver = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
      req.on('end', () => {
        const request: Received = { headers: req.headers, raw, body: JSON.parse(raw) as Received['body'] };
        received.push(request);
        const { status, body } = answer(request);
        res.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? '' : JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const integrationUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/meterline`;
    const secrets = { integration_url: integrationUrl, integration_signing_secret: SIGNING, integration_inbound_secret: INBOUND };
    const tenants: TenantDirectory = {
      find: (domain) => (domain === TENANT.domain ? { ...TENANT, platformAccountKey: undefined, secrets } : domain === 'acme.com' ? { domain, id: 7, platformAccountKey: undefined, secrets: {} } : undefined),
    };
    const logger = createLogger('silent');
    const clock = () => now;
    engine = httpIntegrationEngine.create(
      { sync_retries: 2, sync_retry_delay_ms: 1, timeout_ms: 2000, outbox_retry_base_seconds: 60, outbox_retry_max_seconds: 600, outbox_max_attempts: 3 },
      { core: {} as CoreRecords, store: db().knex, logger, clock, tenants },
    );
    const gateway: GatewaySubscriptionStatus = {
      statusOf: async (uuid) => (statuses.has(uuid) ? { status: statuses.get(uuid)!, tenantDomain: TENANT.domain } : undefined),
      setStatusOf: async (_db, uuid, status) => {
        statuses.set(uuid, status);
      },
    };
    records = new BillingRecords(new BillingRepository(db().knex, gateway), () => ({ holdUntilPaid: true, gracePeriodMs: 3 * 86_400_000 }), logger, engine.capabilities.isFirstPaymentInvoice);
    const web = express();
    web.use(billingWebhookRouter({ engine, tenants, records, logger, clock, signatureClock: clock }));
    web.use('/api/am', express.json());
    web.use(registerRoutes(engineDeliveryRoutes(engine.deliveries), { verifier: new TokenVerifier(jwt, tenants), apim: {} as Apim }));
    web.use(errorHandler(logger));
    await new Promise<void>((resolve) => {
      app = web.listen(0, '127.0.0.1', () => resolve());
    });
    base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => app?.close(resolve));
    await new Promise((resolve) => receiver?.close(resolve));
  });

  const ofType = (type: string) => received.filter((r) => r.body.type === type);
  const rest = async (method: string, path: string, token = adminToken()) => {
    const response = await fetch(`${base}/api/am/admin/v4${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: (await response.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };

  it('sends plan.created signed (Standard Webhooks), valid against the protocol, and records the plan code the integration answers', async () => {
    answer = (r) => (r.body.type === 'plan.created' ? { status: 200, body: { planCode: 'amplify-plan-gold' } } : { status: 200, body: {} });
    expect(await engine.createBillingPlan(policy)).toEqual({ billable: true, planId: 'amplify-plan-gold', apisUpdated: 0 });
    const [sent] = ofType('plan.created');
    expect(sent!.headers['webhook-signature']).toBe(standardSignature(SIGNING, String(sent!.headers['webhook-id']), String(sent!.headers['webhook-timestamp']), sent!.raw));
    expect(sent!.headers['webhook-id']).toMatch(/^plan\.created:carbon\.super:pol-gold:[0-9a-f]{16}$/);
    expect(sent!.body.data).toEqual({
      tenant: 'carbon.super',
      policy: { id: 'pol-gold', name: 'Gold', displayName: 'Gold', currency: 'USD', billingCycle: 'month', plan: 'DYNAMICRATE', fixedPrice: '5.00', pricePerRequest: '0.002', usageModel: 'per_unit' },
      suggestedPlanCode: 'meterline-plan-pol-gold',
    });
    // A FREE policy, and a tenant without an integration, send nothing.
    expect(await engine.createBillingPlan({ ...policy, uuid: 'pol-free', billingPlan: 'FREE', pricing: null })).toMatchObject({ billable: false });
    await expect(engine.createBillingPlan({ ...policy, tenant: { domain: 'acme.com', id: 7 } })).rejects.toMatchObject({ code: 'BILLING_NOT_CONFIGURED' });
    expect(received).toHaveLength(1);
  });

  it('fails a synchronous operation with a MonetizationError after quick re-sends under the same id (5xx), or at once (4xx), logged FAILED', async () => {
    const before = received.length;
    answer = () => ({ status: 503, body: { error: 'down' } });
    const updated = { ...policy, pricing: { ...policy.pricing!, pricePerRequest: '0.003' } } as SubscriptionPolicy;
    const failure = await engine.updateBillingPlan(updated).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(MonetizationError);
    expect(failure).toMatchObject({ code: 'ENGINE_UNAVAILABLE', retryable: true });
    const attempts = received.slice(before);
    expect(attempts.map((r) => r.body.type)).toEqual(['plan.updated', 'plan.updated', 'plan.updated']);
    expect(new Set(attempts.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set(attempts.map((r) => r.raw)).size).toBe(1);
    answer = () => ({ status: 422, body: { error: 'no such currency' } });
    await expect(engine.updateBillingPlan(updated)).rejects.toMatchObject({ code: 'ENGINE_REJECTED' });
    expect(received.length - before).toBe(4);
    // The same operation done again is the same delivery (same id), answered now.
    answer = () => ({ status: 200, body: { planCode: 'amplify-plan-gold-v2' } });
    expect((await engine.updateBillingPlan(updated)).planId).toBe('amplify-plan-gold-v2');
    expect(new Set(received.slice(before).map((r) => r.headers['webhook-id'])).size).toBe(1);
    const log = await rest('GET', '/monetization/deliveries?status=DELIVERED');
    expect(log.body.list.find((d: { operation: string }) => d.operation === 'plan.updated')).toMatchObject({ mode: 'sync', attempts: 5, status: 'DELIVERED' });
    answer = () => ({ status: 200, body: { planCode: 'amplify-plan-gold' } });
    expect((await engine.updateBillingPlan(policy)).planId).toBe('amplify-plan-gold'); // back to the first price, for what follows
  });

  it('enables monetization with the tiers’ plan codes and records the subscription the integration answers (account code, id, cycle anchored now)', async () => {
    answer = (r) => (r.body.type === 'subscription.created' ? { status: 201, body: { accountCode: 'amplify-user-alice', subscriptionId: 'rec-sub-1' } } : { status: 200, body: { planCode: 'amplify-plan-gold' } });
    const enabled = await engine.enableMonetization({ api, policies: [policy], properties: { billingAccount: 'x' } });
    expect(enabled).toMatchObject({ enabled: true, plans: { Gold: 'amplify-plan-gold' } });
    expect(ofType('monetization.enabled').at(-1)!.body.data).toEqual({
      tenant: 'carbon.super',
      api: { id: 'api-hello', name: 'Hello', version: '1.0.0', provider: 'pat' },
      tiers: [{ policyName: 'Gold', planCode: 'amplify-plan-gold' }],
      properties: { billingAccount: 'x' },
    });
    expect(await engine.createSubscription(subscription)).toEqual({ billed: true, access: 'UNBLOCKED', engineSubscriptionId: 'rec-sub-1' });
    const sent = ofType('subscription.created');
    expect(sent.at(-1)!.headers['webhook-id']).toBe('subscription.created:carbon.super:sub-1');
    expect(sent.at(-1)!.body.data).toMatchObject({
      subscription: { id: 'sub-1', apiId: 'api-hello', applicationId: 'app-1', policyName: 'Gold', planCode: 'amplify-plan-gold' },
      account: { kind: 'user', id: 'alice', email: 'alice@example.com' },
      addOns: [{ code: 'calls', kind: 'usage' }],
    });
    expect(await engine.billedSubscriptionOf('sub-1')).toEqual({ engineSubscriptionId: 'rec-sub-1', account: null });
    statuses.set('sub-1', 'ON_HOLD');
    const decision = await records.subscriptionBilled({ subscriptionUuid: 'sub-1', tenantDomain: TENANT.domain, apiUuid: api.uuid, applicationUuid: 'app-1', engineSubscriptionId: 'rec-sub-1', engineAccount: null }, START, 'UNBLOCKED');
    expect(decision.status).toBe('ON_HOLD'); // until its first invoice is paid (hold_until_paid)
    expect(await engine.billingCycleOf(subscription)).toEqual({ anchor: START, interval: 'month', intervalCount: 1 });
    // Answers without the fields the protocol asks are the integration's error.
    answer = () => ({ status: 200, body: { accountCode: 'x' } });
    await expect(engine.createSubscription({ ...subscription, uuid: 'sub-2' })).rejects.toMatchObject({ code: 'ENGINE_REJECTED' });
  });

  it('reports usage through the outbox under the core’s identifier, once; retries with backoff on the engine’s clock, then DEAD', async () => {
    const window = (h: number) => ({ windowStart: new Date(START.getTime() + h * 3_600_000), windowEnd: new Date(START.getTime() + (h + 1) * 3_600_000) });
    answer = () => ({ status: 200 });
    expect(await engine.reportUsage({ subscription, quantity: 120, ...window(0), identifier: 'sub-1:mtr:w0' })).toEqual({ sent: true });
    expect(await engine.reportUsage({ subscription, quantity: 120, ...window(0), identifier: 'sub-1:mtr:w0' })).toEqual({ sent: true });
    expect(ofType('usage.reported')).toHaveLength(0); // not sent until the outbox runs
    await engine.background!.runDue();
    const [usage] = ofType('usage.reported');
    expect(ofType('usage.reported')).toHaveLength(1);
    expect(usage!.headers['webhook-id']).toBe('usage.reported:carbon.super:sub-1:mtr:w0');
    expect(usage!.body.data).toEqual({ tenant: 'carbon.super', identifier: 'sub-1:mtr:w0', subscription: { id: 'sub-1', externalSubscriptionId: 'rec-sub-1' }, addOn: 'calls', quantity: 120, ...mapIso(window(0)) });

    answer = () => ({ status: 503 });
    await engine.reportUsage({ subscription, quantity: 7, ...window(1), identifier: 'sub-1:mtr:w1' });
    await engine.background!.runDue();
    await engine.background!.runDue(); // not due again before its backoff
    const failed = (await rest('GET', '/monetization/deliveries?status=FAILED')).body.list[0];
    expect(failed).toMatchObject({ operation: 'usage.reported', attempts: 1, nextAttemptTime: new Date(START.getTime() + 60_000).toISOString(), lastError: 'HTTP 503' });
    now = new Date(START.getTime() + 60_000);
    await engine.background!.runDue();
    now = new Date(START.getTime() + 60_000 + 119_000);
    await engine.background!.runDue(); // 2 · 60 s after the second attempt: not yet
    now = new Date(START.getTime() + 180_000);
    await engine.background!.runDue();
    const attempts = ofType('usage.reported').filter((r) => r.headers['webhook-id'] === 'usage.reported:carbon.super:sub-1:mtr:w1');
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((r) => r.raw)).size).toBe(1);
    const dead = (await rest('GET', '/monetization/deliveries?status=DEAD')).body;
    expect(dead).toMatchObject({ count: 1, total: 1, list: [{ operation: 'usage.reported', messageId: 'usage.reported:carbon.super:sub-1:mtr:w1', status: 'DEAD', attempts: 3, nextAttemptTime: null }] });
    // The pending invoice counts what was reported and is not dead: 5.00 + 120 × 0.002.
    expect(await engine.getCurrentUsageForSubscription(subscription)).toMatchObject({ total: 524n, lines: [{ amount: 500n }, { quantity: 120, amount: 24n }] });
    // Tiered and package prices are rated as own invoicing rates them (rate(), docs/pricing.md):
    // graduated 100 × 0.002 + 20 × 0.001 (+ 1.00 flat for reaching the second tier, on that tier's line, which
    // is then no plain quantity × unit price); package, two started packages of 100.
    const graduated = { model: 'graduated', tiers: [{ upTo: 100, unitPrice: '0.002', flatPrice: '0' }, { upTo: null, unitPrice: '0.001', flatPrice: '1.00' }] } as const;
    const withRate = (usageRate: NonNullable<Extract<SubscriptionPolicy['pricing'], { plan: 'DYNAMICRATE' }>['usageRate']>): SubscriptionRef => ({
      ...subscription,
      policy: { ...policy, pricing: { ...(policy.pricing as Extract<SubscriptionPolicy['pricing'], { plan: 'DYNAMICRATE' }>), usageRate } },
    });
    expect(await engine.getCurrentUsageForSubscription(withRate(graduated))).toMatchObject({
      total: 500n + 20n + 2n + 100n,
      lines: [{ amount: 500n }, { quantity: 100, unitAmountDecimal: '0.2', amount: 20n }, { quantity: 20, unitAmountDecimal: null, amount: 102n }],
    });
    expect(await engine.getCurrentUsageForSubscription(withRate({ model: 'package', packageSize: 100, packagePrice: '0.50' }))).toMatchObject({ total: 600n, lines: [{ amount: 500n }, { quantity: 120, amount: 100n }] });
  });

  it('replays a dead letter over REST (delivered), refuses a delivered or synchronous one (409) and another tenant’s (404)', async () => {
    const dead = (await rest('GET', '/monetization/deliveries?status=DEAD')).body.list[0];
    answer = () => ({ status: 204 });
    const replayed = await rest('POST', `/monetization/deliveries/${dead.id}/replay`);
    expect(replayed).toMatchObject({ status: 200, body: { id: dead.id, status: 'DELIVERED', attempts: 1 } });
    expect((await rest('POST', `/monetization/deliveries/${dead.id}/replay`)).status).toBe(409);
    const sync = (await rest('GET', '/monetization/deliveries?status=DELIVERED&limit=200')).body.list.find((d: { mode: string }) => d.mode === 'sync');
    expect((await rest('POST', `/monetization/deliveries/${sync.id}/replay`)).status).toBe(409);
    expect((await rest('POST', `/monetization/deliveries/${dead.id}/replay`, adminToken('acme.com'))).status).toBe(404);
    expect((await rest('GET', '/monetization/deliveries?status=LOST')).status).toBe(400);
  });

  it('applies a signed invoice event (the subscriber’s invoice appears), refuses a bad signature or a stale one (400), and answers a repeat as a duplicate', async () => {
    const hook = `${base}/api/am/monetization/webhooks/http-integration/carbon.super`;
    const event = (type: string) =>
      JSON.stringify({
        type,
        timestamp: START.toISOString(),
        data: {
          id: 'evt-1',
          invoice: { id: 'inv-1001', subscriptionId: 'rec-sub-1', meterlineSubscriptionId: 'sub-1', status: 'paid', currency: 'USD', total: '524', amountDue: '524', amountPaid: '524', amountRemaining: '0', periodStart: START.toISOString(), periodEnd: '2030-02-28T10:00:00.000Z', hostedInvoiceUrl: 'https://pay.example.com/inv-1001', invoicePdfUrl: null, billingReason: 'subscription_create' },
        },
      });
    const post = async (body: string, options: { id?: string; at?: number; secret?: string } = {}) => {
      const id = options.id ?? 'evt-1';
      const timestamp = String(Math.floor((options.at ?? now.getTime()) / 1000));
      const response = await fetch(hook, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': standardSignature(options.secret ?? INBOUND, id, timestamp, body) }, body });
      return { status: response.status, body: (await response.json()) as { outcome?: string } };
    };
    expect((await post(event('invoice.paid'), { secret: SIGNING })).status).toBe(400);
    expect((await post(event('invoice.paid'), { at: now.getTime() - 6 * 60_000 })).status).toBe(400);
    expect(await records.invoicesOfSubscription('sub-1')).toEqual([]);
    expect(await post(event('invoice.paid'))).toMatchObject({ status: 200, body: { outcome: 'applied' } });
    expect(await records.invoicesOfSubscription('sub-1')).toEqual([expect.objectContaining({ engineInvoiceId: 'inv-1001', status: 'PAID', total: 524n, amountPaid: 524n, currency: 'usd', hostedInvoiceUrl: 'https://pay.example.com/inv-1001' })]);
    expect(statuses.get('sub-1')).toBe('UNBLOCKED');
    expect(await post(event('invoice.paid'))).toMatchObject({ status: 200, body: { outcome: 'duplicate' } });
    expect(await engine.getTotalRevenue(api)).toEqual({ byCurrency: { usd: 524n }, subscriptions: [{ subscriptionUuid: 'sub-1', currency: 'usd', amount: 524n }] });
  });

  it('sends subscription.deleted after the subscription’s usage in the outbox, with the units sent this period', async () => {
    answer = () => ({ status: 503 });
    now = new Date(START.getTime() + 3_600_000);
    await engine.reportUsage({ subscription, quantity: 3, windowStart: new Date(START.getTime() + 2 * 3_600_000), windowEnd: new Date(START.getTime() + 3 * 3_600_000), identifier: 'sub-1:mtr:w2' });
    await engine.background!.runDue();
    answer = () => ({ status: 200 });
    expect(await engine.deleteSubscription(subscription, async () => ({ quantity: 123, lastSentAt: null }))).toEqual({ billed: true, access: 'BLOCKED', engineSubscriptionId: 'rec-sub-1' });
    await engine.background!.runDue(); // the usage is not due yet: the deletion waits for it
    expect(ofType('subscription.deleted')).toHaveLength(0);
    now = new Date(now.getTime() + 60_000);
    await engine.background!.runDue(); // usage delivered now
    await engine.background!.runDue(); // then the deletion
    const [deleted] = ofType('subscription.deleted');
    expect(deleted!.body.data).toEqual({ tenant: 'carbon.super', subscription: { id: 'sub-1', externalSubscriptionId: 'rec-sub-1' }, sentUsage: { periodStart: START.toISOString(), periodEnd: '2030-02-28T10:00:00.000Z', quantity: 123 } });
    expect(await engine.billingCycleOf(subscription)).toBeNull();
  });

  it('sent nothing the protocol description does not allow', () => {
    expect(received.flatMap((r) => sentBodyProblems(r.body).map((p) => `${r.body.type}: ${p}`))).toEqual([]);
    expect(new Set(received.map((r) => r.body.type))).toEqual(new Set(['plan.created', 'plan.updated', 'monetization.enabled', 'subscription.created', 'usage.reported', 'subscription.deleted']));
  });
});

function mapIso(window: { windowStart: Date; windowEnd: Date }) {
  return { windowStart: window.windowStart.toISOString(), windowEnd: window.windowEnd.toISOString() };
}
