import { createServer } from 'node:net';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { ADMIN, DEVPORTAL, PUBLISHER, SCOPES, policyBody, uniqueName } from '../helpers/rest-harness';
import { STORY_START } from '../helpers/test-clock';
import { parseConfig } from '../../src/config/load';
import { mintToken } from '../../src/http/auth/tokens';
import { createLogger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import { startBridge, type BridgeOptions, type RunningBridge } from '../../examples/recurly-bridge/src/bridge';
import { signedHeaders } from '../../examples/recurly-bridge/src/standard-webhooks';
import { startFakeRecurly, type FakeRecurly } from '../../examples/recurly-bridge/fake-recurly/server';

/**
 * The example integration end to end: Meterline (the production composition, `startService`) with
 * the `http-integration` engine → examples/recurly-bridge → its Recurly-shaped local API, and back:
 * the fake Recurly's invoice notifications → the bridge → Meterline's signed inbound endpoint. Axway's
 * three flows (provision plan, provision subscription, report traffic) and the invoice the subscriber
 * then sees. SQLite only: the database does not matter to the bridge, and the engine's suite covers
 * the three databases. One Meterline, one bridge, one fake Recurly; one clock for all three (a fixed
 * instant moved by the test), except the signatures of the invoice events the bridge sends, whose
 * freshness Meterline checks on the wall clock.
 */
const SIGNING = `whsec_${Buffer.from('recurly-bridge-e2e-signing-secret!!').toString('base64')}`;
const INBOUND = `whsec_${Buffer.from('recurly-bridge-e2e-inbound-secret!!').toString('base64')}`;
const RECURLY_KEY = 'recurly-e2e-api-key';
const JWT = { secret: 'recurly-bridge-e2e-jwt-secret-0123456789', issuer: 'meterline', audience: 'meterline' };

let database: TestDatabase;
let recurly: FakeRecurly;
let bridge: RunningBridge;
let bridgeOptions: BridgeOptions;
let service: RunningService;
let now = new Date(STORY_START * 1000);
const clock = () => now;
const advance = (seconds: number) => (now = new Date(now.getTime() + seconds * 1000));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  database = await createTestDatabase({ kind: 'sqlite' });
  const meterlinePort = await freePort();
  recurly = await startFakeRecurly({ apiKey: RECURLY_KEY, clock });
  bridgeOptions = {
    meterlineUrl: `http://127.0.0.1:${meterlinePort}`,
    tenant: 'carbon.super',
    signingSecret: SIGNING,
    inboundSecret: INBOUND,
    recurlyUrl: recurly.url,
    recurlyApiKey: RECURLY_KEY,
    clock,
    // Meterline checks an inbound signature's freshness on the wall clock, whatever clock it bills on.
    inboundClock: () => new Date(),
  };
  bridge = await startBridge(bridgeOptions);
  recurly.setWebhookUrl(bridge.recurlyWebhookUrl);
  const config = parseConfig(
    {
      database: { apim_db: database.config },
      auth: { jwt: JWT },
      apim: { monetization: { monetization_impl: 'http-integration', 'http-integration': { sync_retries: 0, timeout_ms: 5000 } } },
      logging: { level: 'silent' },
      tenants: [
        {
          domain: 'carbon.super',
          id: -1234,
          monetization_info: { integration_url: bridge.integrationUrl, integration_signing_secret: SIGNING, integration_inbound_secret: INBOUND },
        },
      ],
    },
    {},
    'recurly-bridge-e2e',
  );
  service = await startService({ config, logger: createLogger('silent'), port: meterlinePort, clock });
});

afterAll(async () => {
  await service?.close();
  await bridge?.close();
  await recurly?.close();
  await database?.destroy();
});

const jwt = () => service.services.config.auth.jwt!;
const token = (sub: string, scopes: readonly string[], email?: string) => mintToken(jwt(), { subject: sub, tenant: undefined, scopes, ...(email ? { email } : {}) });
async function call(method: string, path: string, bearer: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text && (response.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
}

/** A request to the bridge signed as Meterline signs it (docs/custom-billing.md), for replays. */
async function sendAsMeterline(url: string, id: string, type: string, data: unknown) {
  const body = JSON.stringify({ type, timestamp: now.toISOString(), data });
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...signedHeaders(SIGNING, id, now, body) }, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

it('provisions the plan, the subscription and the usage in Recurly, and shows the invoice Recurly reports back', async () => {
  const admin = token('admin', [...SCOPES.admin, 'apim:monetization_usage_publish']);
  const publisher = token('pat', SCOPES.publisher);
  const subscriber = token('sam', SCOPES.subscriber, 'sam@example.com');
  const gateway = token('gateway', ['apim:usage_ingest']);

  // Provision plan: a per-call policy with a base fee becomes a Recurly plan whose code contains its id.
  const body = policyBody(uniqueName('Metered'), { plan: 'DYNAMICRATE', price: '0.01' });
  (body.monetization!.properties as Record<string, string>).fixedPrice = '5.00';
  const policy = await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, body);
  expect(policy.status).toBe(201);
  const planCode = `amplify-plan-${String(policy.body.policyId).toLowerCase()}`;
  const plan = [...recurly.state.plans.values()].find((p) => p.code === planCode);
  expect(plan).toMatchObject({ interval_unit: 'months', interval_length: 1, currencies: [{ currency: 'USD', unit_amount: 5 }] });
  expect(plan!.add_ons).toEqual([expect.objectContaining({ code: 'calls', add_on_type: 'usage', usage_type: 'price', currencies: [{ currency: 'USD', unit_amount_decimal: '0.01' }] })]);

  // The publisher monetizes an API on it.
  const apiName = uniqueName('Weather');
  const api = (await call('POST', `${PUBLISHER}/apis`, publisher, { name: apiName, version: '1.0.0', context: `/${apiName.toLowerCase()}`, policies: [policy.body.policyName] })).body;
  expect((await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher)).status).toBe(200);
  const monetized = await call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { recurlySite: 'example' } });
  expect(monetized.status).toBe(201);

  // Provision subscription: account amplify-user-sam, a subscription on the plan with the usage add-on.
  const app = (await call('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
  const subscribed = await call('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: app.applicationId, apiId: api.id, throttlingPolicy: policy.body.policyName });
  expect(subscribed.status).toBe(201);
  const subscriptionId: string = subscribed.body.subscriptionId;
  expect([...recurly.state.accounts.values()]).toEqual([expect.objectContaining({ code: 'amplify-user-sam', email: 'sam@example.com' })]);
  const [recurlySubscription, ...others] = [...recurly.state.subscriptions.values()];
  expect(others).toHaveLength(0);
  expect(recurlySubscription).toMatchObject({
    state: 'active',
    account: { code: 'amplify-user-sam' },
    plan: { code: planCode },
    currency: 'USD',
    add_ons: [expect.objectContaining({ add_on: expect.objectContaining({ code: 'calls' }) })],
    custom_fields: [{ name: 'meterline_subscription_id', value: subscriptionId }],
  });

  // Report traffic: 250 calls, published; the outbox sends them; Recurly has them under their identifiers.
  const events = Array.from({ length: 250 }, (_, i) => ({
    eventId: `recurly-${subscriptionId}-${i}`,
    timestamp: now.getTime() + i * 1000,
    apiId: api.id,
    applicationId: app.applicationId,
    subscriptionId,
    httpStatus: 200,
    tenant: 'carbon.super',
  }));
  expect((await call('POST', '/api/am/usage/v1/events', gateway, { events })).status).toBe(200);
  advance(600);
  expect((await call('POST', `${ADMIN}/monetization/publish-usage`, admin)).status).toBe(202);
  let status = (await call('GET', `${ADMIN}/monetization/publish-usage/status`, admin)).body;
  for (let i = 0; i < 100 && status.state !== 'COMPLETED'; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50)); // polls the job's completion; decides nothing
    status = (await call('GET', `${ADMIN}/monetization/publish-usage/status`, admin)).body;
  }
  expect(status).toMatchObject({ state: 'COMPLETED' });
  await service.engine.background!.runDue();
  const deliveries = (await call('GET', `${ADMIN}/monetization/deliveries?limit=50`, admin)).body.list as { operation: string; messageId: string; status: string }[];
  const reported = deliveries.filter((d) => d.operation === 'usage.reported');
  expect(reported.length).toBeGreaterThan(0);
  expect(reported.every((d) => d.status === 'DELIVERED')).toBe(true);
  const identifiers = reported.map((d) => d.messageId.replace(/^usage\.reported:carbon\.super:/, '')).sort();
  const recorded = () => recurly.state.usage.filter((u) => u.subscription_id === recurlySubscription!.id);
  expect(recorded().map((u) => u.merchant_tag).sort()).toEqual(identifiers);
  expect(recorded().reduce((sum, u) => sum + u.amount, 0)).toBe(250);

  // Replays are not recorded twice: the same webhook-id (the bridge's first answer), and after a
  // restart of the bridge (its memory gone) the same identifier found in Recurly by merchant_tag.
  const first = recorded()[0]!;
  const replay = {
    tenant: 'carbon.super',
    identifier: first.merchant_tag,
    subscription: { id: subscriptionId, externalSubscriptionId: recurlySubscription!.id },
    addOn: 'calls',
    quantity: first.amount,
    windowStart: first.usage_timestamp,
    windowEnd: new Date(Date.parse(first.usage_timestamp) + 3_600_000).toISOString(),
  };
  const replayId = `usage.reported:carbon.super:${first.merchant_tag}`;
  expect(await sendAsMeterline(bridge.integrationUrl, replayId, 'usage.reported', replay)).toEqual({ status: 200, body: { recorded: true } });
  await bridge.close();
  bridge = await startBridge({ ...bridgeOptions, port: bridge.port });
  expect(await sendAsMeterline(bridge.integrationUrl, replayId, 'usage.reported', replay)).toEqual({ status: 200, body: { duplicate: true } });
  expect(recorded().reduce((sum, u) => sum + u.amount, 0)).toBe(250);
  // subscription.created re-sent after the restart is answered as the first time, with no second subscription.
  const resent = await sendAsMeterline(bridge.integrationUrl, `subscription.created:carbon.super:${subscriptionId}`, 'subscription.created', {
    tenant: 'carbon.super',
    subscription: { id: subscriptionId, apiId: api.id, apiName, applicationId: app.applicationId, applicationName: app.name, policyName: policy.body.policyName, planCode },
    account: { kind: 'user', id: 'sam', name: 'sam', email: 'sam@example.com' },
    addOns: [{ code: 'calls', kind: 'usage' }],
  });
  expect(resent).toEqual({ status: 200, body: { accountCode: 'amplify-user-sam', subscriptionId: recurlySubscription!.id } });
  expect(recurly.state.subscriptions.size).toBe(1);
  // A request not signed with the tenant's secret is refused before anything is read.
  const forged = await fetch(bridge.integrationUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...signedHeaders(INBOUND, 'x', now, '{}') }, body: '{}' });
  expect(forged.status).toBe(401);
  // The fake Recurly answers a wrong API key as Recurly does.
  const unauthorized = await fetch(`${recurly.url}/plans/code-${planCode}`, { headers: { authorization: `Basic ${Buffer.from('wrong-key:').toString('base64')}` } });
  expect({ status: unauthorized.status, body: await unauthorized.json() }).toEqual({ status: 401, body: { error: { type: 'unauthorized', message: 'Invalid API key', params: [] } } });

  // The period closes in Recurly (base fee + 250 × 0.01) and is paid; the bridge reports both.
  const closed = await fetch(`${recurly.url}/_control/subscriptions/${recurlySubscription!.id}/close-period`, { method: 'POST' });
  const invoice = (await closed.json()) as { id: string; total: number };
  expect(invoice.total).toBe(7.5);
  expect(recurly.state.failedNotifications).toEqual([]);
  let invoices = (await call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, subscriber)).body;
  expect(invoices.list).toEqual([expect.objectContaining({ invoiceId: invoice.id, status: 'OPEN', total: '7.50', currency: 'USD' })]);
  expect((await fetch(`${recurly.url}/_control/invoices/${invoice.id}/pay`, { method: 'POST' })).status).toBe(200);
  expect(recurly.state.failedNotifications).toEqual([]);
  invoices = (await call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, subscriber)).body;
  expect(invoices.list).toEqual([expect.objectContaining({ invoiceId: invoice.id, status: 'PAID', total: '7.50', amountRemaining: '0.00' })]);

  // The next period (the base fee alone) fails to be paid: the subscriber sees it open, with the reason.
  const next = (await (await fetch(`${recurly.url}/_control/subscriptions/${recurlySubscription!.id}/close-period`, { method: 'POST' })).json()) as { id: string; total: number };
  expect(next.total).toBe(5);
  expect((await fetch(`${recurly.url}/_control/invoices/${next.id}/fail`, { method: 'POST' })).status).toBe(200);
  expect(recurly.state.failedNotifications).toEqual([]);
  invoices = (await call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, subscriber)).body;
  expect(invoices.list.find((i: { invoiceId: string }) => i.invoiceId === next.id)).toMatchObject({ status: 'OPEN', total: '5.00', amountRemaining: '5.00', lastError: 'the payment was declined' });

  // Unsubscribing terminates the Recurly subscription (through the outbox).
  expect((await call('DELETE', `${DEVPORTAL}/subscriptions/${subscriptionId}`, subscriber)).status).toBe(200);
  await service.engine.background!.runDue();
  expect(recurly.state.subscriptions.get(recurlySubscription!.id)!.state).toBe('expired');

  // integration_account_kind team / org (docs/custom-billing.md, "Accounts"): Axway's other account
  // codes; one org account is made once and shared by its subscriptions.
  const asKind = (id: string, account: { kind: string; id: string; name: string; email: string | null }) =>
    sendAsMeterline(bridge.integrationUrl, `subscription.created:carbon.super:${id}`, 'subscription.created', {
      tenant: 'carbon.super',
      subscription: { id, apiId: api.id, apiName, applicationId: app.applicationId, applicationName: app.name, policyName: policy.body.policyName, planCode },
      account,
      addOns: [{ code: 'calls', kind: 'usage' }],
    });
  expect((await asKind('sub-team', { kind: 'team', id: app.applicationId, name: app.name, email: 'sam@example.com' })).body).toMatchObject({ accountCode: `amplify-team-${String(app.applicationId).toLowerCase()}` });
  expect((await asKind('sub-org-1', { kind: 'org', id: 'carbon.super', name: 'carbon.super', email: null })).body).toMatchObject({ accountCode: 'amplify-org-carbon.super' });
  expect((await asKind('sub-org-2', { kind: 'org', id: 'carbon.super', name: 'carbon.super', email: null })).body).toMatchObject({ accountCode: 'amplify-org-carbon.super' });
  expect([...recurly.state.accounts.values()].map((a) => a.code).filter((code) => code.startsWith('amplify-org-'))).toEqual(['amplify-org-carbon.super']);
  expect([...recurly.state.subscriptions.values()].filter((s) => s.account.code === 'amplify-org-carbon.super')).toHaveLength(2);
});

it('maps a graduated policy with a setup fee onto a tiered add-on and the plan setup fee, bills them, and refuses what Recurly cannot price', async () => {
  const admin = token('admin', [...SCOPES.admin, 'apim:monetization_usage_publish']);
  const publisher = token('pat', SCOPES.publisher);
  const subscriber = token('sam', SCOPES.subscriber, 'sam@example.com');
  const gateway = token('gateway', ['apim:usage_ingest']);

  // Graduated: calls 1–100 at 0.01, then 0.0033 each; a 2.00 base fee and a 10.00 setup fee.
  const body = policyBody(uniqueName('Tiered'), { plan: 'DYNAMICRATE', price: '0.01' });
  Object.assign(body.monetization!.properties, {
    fixedPrice: '2.00',
    setupFee: '10.00',
    usageModel: 'graduated',
    tiers: '[{"upTo":100,"unitPrice":"0.01","flatPrice":"0"},{"upTo":null,"unitPrice":"0.0033","flatPrice":"0"}]',
  });
  const policy = await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, body);
  expect(policy.status).toBe(201);
  const planCode = `amplify-plan-${String(policy.body.policyId).toLowerCase()}`;
  const plan = [...recurly.state.plans.values()].find((p) => p.code === planCode)!;
  expect(plan.currencies).toEqual([{ currency: 'USD', unit_amount: 2, setup_fee: 10 }]);
  expect(plan.add_ons).toEqual([
    expect.objectContaining({
      code: 'calls',
      add_on_type: 'usage',
      usage_type: 'price',
      tier_type: 'tiered',
      // The final tier is sent without ending_quantity; Recurly (and the fake) answer 999999999.
      tiers: [
        { ending_quantity: 100, currencies: [{ currency: 'USD', unit_amount_decimal: '0.01' }] },
        { ending_quantity: 999999999, currencies: [{ currency: 'USD', unit_amount_decimal: '0.0033' }] },
      ],
    }),
  ]);

  const apiName = uniqueName('Tiered');
  const api = (await call('POST', `${PUBLISHER}/apis`, publisher, { name: apiName, version: '1.0.0', context: `/${apiName.toLowerCase()}`, policies: [policy.body.policyName] })).body;
  expect((await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher)).status).toBe(200);
  expect((await call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { recurlySite: 'example' } })).status).toBe(201);
  const app = (await call('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
  const subscribed = await call('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: app.applicationId, apiId: api.id, throttlingPolicy: policy.body.policyName });
  expect(subscribed.status).toBe(201);
  const subscriptionId: string = subscribed.body.subscriptionId;
  const recurlySubscription = [...recurly.state.subscriptions.values()].find((s) => s.custom_fields.some((f) => f.value === subscriptionId))!;
  expect(recurlySubscription.add_ons).toEqual([expect.objectContaining({ tier_type: 'tiered', unit_amount_decimal: null })]);

  // 250 calls, across both tiers, published and sent through the outbox.
  const events = Array.from({ length: 250 }, (_, i) => ({ eventId: `tiered-${subscriptionId}-${i}`, timestamp: now.getTime() + i * 1000, apiId: api.id, applicationId: app.applicationId, subscriptionId, httpStatus: 200, tenant: 'carbon.super' }));
  expect((await call('POST', '/api/am/usage/v1/events', gateway, { events })).status).toBe(200);
  advance(600);
  expect((await call('POST', `${ADMIN}/monetization/publish-usage`, admin)).status).toBe(202);
  const recorded = () => recurly.state.usage.filter((u) => u.subscription_id === recurlySubscription.id).reduce((sum, u) => sum + u.amount, 0);
  for (let i = 0; i < 100 && recorded() < 250; i += 1) {
    // Waits for the background job, then sends the outbox; the expectation below decides.
    if ((await call('GET', `${ADMIN}/monetization/publish-usage/status`, admin)).body.state === 'COMPLETED') await service.engine.background!.runDue();
    else await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(recorded()).toBe(250);

  // The first invoice:  setup fee                                  10.00
  //                   + base fee                                    2.00
  //                   + calls 1–100:   100 × 0.01   = 1.00          1.00
  //                   + calls 101–∞:   150 × 0.0033 = 0.495 → half up 0.50
  //                                                               = 13.50
  const closed = (await (await fetch(`${recurly.url}/_control/subscriptions/${recurlySubscription.id}/close-period`, { method: 'POST' })).json()) as { id: string; total: number; line_items: { quantity: number; amount: number }[] };
  expect(closed.line_items.map((l) => [l.quantity, l.amount])).toEqual([[1, 10], [1, 2], [100, 1], [150, 0.5]]);
  expect(closed.total).toBe(13.5);
  expect(recurly.state.failedNotifications).toEqual([]);
  const invoices = (await call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, subscriber)).body;
  expect(invoices.list).toEqual([expect.objectContaining({ invoiceId: closed.id, status: 'OPEN', total: '13.50', currency: 'USD' })]);
  // The setup fee is charged once: the next period is the base fee alone.
  const next = (await (await fetch(`${recurly.url}/_control/subscriptions/${recurlySubscription.id}/close-period`, { method: 'POST' })).json()) as { total: number };
  expect(next.total).toBe(2);

  // Volume, straight through the bridge (the protocol's messages; Meterline's side is the same as
  // above): 1–100 at 0.01, then 0.004 for every call once past 100. 150 calls → 150 × 0.004 = 0.60.
  const volumePolicy = { id: 'volume-policy', name: 'Volume', currency: 'USD', billingCycle: 'month', plan: 'DYNAMICRATE', fixedPrice: '0', pricePerRequest: '0.01', usageModel: 'volume', tiers: [{ upTo: 100, unitPrice: '0.01', flatPrice: '0' }, { upTo: null, unitPrice: '0.004', flatPrice: '0' }] };
  const plan2 = await sendAsMeterline(bridge.integrationUrl, 'plan.created:carbon.super:volume-policy:1', 'plan.created', { tenant: 'carbon.super', policy: volumePolicy, suggestedPlanCode: 'meterline-plan-volume-policy' });
  expect(plan2).toEqual({ status: 200, body: { planCode: 'amplify-plan-volume-policy' } });
  const sub2 = await sendAsMeterline(bridge.integrationUrl, 'subscription.created:carbon.super:volume-sub', 'subscription.created', {
    tenant: 'carbon.super',
    subscription: { id: 'volume-sub', planCode: 'amplify-plan-volume-policy' },
    account: { kind: 'user', id: 'sam', name: 'sam', email: 'sam@example.com' },
    addOns: [{ code: 'calls', kind: 'usage' }],
  });
  expect(sub2.status).toBe(200);
  const usage2 = await sendAsMeterline(bridge.integrationUrl, 'usage.reported:carbon.super:volume-usage', 'usage.reported', {
    tenant: 'carbon.super', identifier: 'volume-usage', subscription: { id: 'volume-sub', externalSubscriptionId: sub2.body.subscriptionId }, addOn: 'calls', quantity: 150, windowStart: new Date(now.getTime() - 60_000).toISOString(),
  });
  expect(usage2).toEqual({ status: 200, body: { recorded: true } });
  recurly.setWebhookUrl(undefined); // Meterline has no subscription volume-sub: not notified
  const volumeInvoice = (await (await fetch(`${recurly.url}/_control/subscriptions/${String(sub2.body.subscriptionId)}/close-period`, { method: 'POST' })).json()) as { total: number };
  recurly.setWebhookUrl(bridge.recurlyWebhookUrl);
  expect(volumeInvoice.total).toBe(0.6);

  // What Recurly cannot price is refused, naming the field: a tier's flat fee, and packages.
  const refused = (policyData: Record<string, unknown>, id: string) =>
    sendAsMeterline(bridge.integrationUrl, `plan.created:carbon.super:${id}`, 'plan.created', { tenant: 'carbon.super', policy: { ...volumePolicy, id, ...policyData }, suggestedPlanCode: `meterline-plan-${id}` });
  const flatFee = await refused({ usageModel: 'graduated', tiers: [{ upTo: 100, unitPrice: '0.01', flatPrice: '0' }, { upTo: null, unitPrice: '0.005', flatPrice: '5.00' }] }, 'flat-fee');
  expect(flatFee).toEqual({ status: 422, body: { error: expect.stringContaining('flat fee'), field: 'policy.tiers[1].flatPrice' } });
  const packaged = await refused({ usageModel: 'package', tiers: undefined, packageSize: 1000, packagePrice: '5.00' }, 'package');
  expect(packaged).toEqual({ status: 422, body: { error: expect.stringContaining('no Recurly equivalent'), field: 'policy.usageModel' } });
  expect([...recurly.state.plans.values()].map((p) => p.code)).not.toContain('amplify-plan-flat-fee');
  const viaMeterline = policyBody(uniqueName('FlatFee'), { plan: 'DYNAMICRATE', price: '0.01' });
  Object.assign(viaMeterline.monetization!.properties, { usageModel: 'graduated', tiers: '[{"upTo":100,"unitPrice":"0.01","flatPrice":"0"},{"upTo":null,"unitPrice":"0.005","flatPrice":"5.00"}]' });
  // Through Meterline: the policy save fails with the bridge's answer, field included.
  const refusedPolicy = await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, viaMeterline);
  expect(refusedPolicy).toMatchObject({ status: 502, body: { description: expect.stringContaining('"field":"policy.tiers[1].flatPrice"') } });

  // The fake checks tiers as Recurly documents them, answering with Recurly's error shape.
  const badTiers = await fetch(`${recurly.url}/plans`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${RECURLY_KEY}:`).toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ code: 'bad-tiers', name: 'Bad', currencies: [{ currency: 'USD', unit_amount: 0 }], add_ons: [{ code: 'calls', name: 'Calls', add_on_type: 'usage', usage_type: 'price', tier_type: 'tiered', tiers: [{ ending_quantity: 100, currencies: [{ currency: 'USD', unit_amount_decimal: '0.01' }] }, { ending_quantity: 50, currencies: [{ currency: 'USD', unit_amount_decimal: '0.01' }] }] }] }),
  });
  expect({ status: badTiers.status, body: await badTiers.json() }).toEqual({
    status: 422,
    body: { error: { type: 'validation', message: "add_ons[0].tiers[1].ending_quantity must be greater than the tier before's (100)", params: [{ param: 'add_ons[0].tiers[1].ending_quantity', message: "must be greater than the tier before's (100)" }] } },
  });
});
