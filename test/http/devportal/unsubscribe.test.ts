import { startBillingHarness, type BillingHarness } from '../../helpers/billing-harness';
import { forEachTestDatabase } from '../../helpers/databases';
import { STORY_START } from '../../helpers/test-clock';
import { ADMIN, DEVPORTAL, policyBody, PUBLISHER, SCOPES, uniqueName } from '../../helpers/rest-harness';
import { startStripeServer, type StripeServer } from '../../../dev/stripe-server';
import { createLogger } from '../../../src/logger';

/**
 * Unsubscribing a billed subscription over HTTP, with the local Stripe server (issue 12, items 3
 * and 5; issue 14 item 6): usage not yet published is sent before the cancel and lands on the
 * final invoice; while Stripe is still aggregating it, nothing is cancelled (503, Retry-After)
 * and a retry after that finishes the job; if it cannot be sent, likewise; an API's connected
 * account cannot move while a billed subscription lives in the old one. Each database gets its
 * own Stripe server starting at a fixed instant; Meterline's clock follows it.
 */
forEachTestDatabase((_kind, database) => {
  let stripeServer: StripeServer;
  let harness: BillingHarness;
  /** The service's warnings, one JSON line each. */
  const warnings: string[] = [];
  beforeAll(async () => {
    // Stripe's asynchronous aggregation as the server models it (30 s on its clock by default).
    stripeServer = await startStripeServer({ port: 0, startAt: STORY_START });
    const logger = createLogger('warn', { write: (line: string) => void warnings.push(line) });
    harness = await startBillingHarness(database(), stripeServer, { holdUntilPaid: false, graceDays: 3, logger });
  });
  afterAll(async () => {
    await harness?.close();
    await stripeServer?.close();
  });

  /** A per-request API (0.01 USD a call) monetized with a new connected account, and one subscription to it. */
  async function meteredSubscription() {
    const { token, call, platform } = harness;
    const admin = token('admin', SCOPES.admin);
    const publisher = token('pat', SCOPES.publisher);
    const subscriberName = uniqueName('sub');
    const subscriber = token(subscriberName, SCOPES.subscriber, `${subscriberName}@example.com`);
    const policy = (await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(uniqueName('PerCall'), { plan: 'DYNAMICRATE', price: '0.01' }))).body;
    const name = uniqueName('Api');
    const api = (await call('POST', `${PUBLISHER}/apis`, publisher, { name, version: '1.0.0', context: `/${name.toLowerCase()}`, policies: [policy.policyName] })).body;
    expect((await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher)).status).toBe(200);
    const account = (await platform.accounts.create({ type: 'express' })).id;
    expect((await call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: account } })).status).toBe(201);
    const app = (await call('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
    const created = await call('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: app.applicationId, apiId: api.id, throttlingPolicy: policy.policyName });
    expect(created.status).toBe(201);
    const subscriptionId: string = created.body.subscriptionId;
    const stripeSubscription = (await platform.subscriptions.list({ status: 'all' }, { stripeAccount: account })).data[0]!;
    return { api, app, policy, account, publisher, subscriber, subscriptionId, stripeSubscriptionId: stripeSubscription.id };
  }

  /** `count` successful calls, one second apart from a second after now, sent by the gateway. */
  async function ingestCalls(world: Awaited<ReturnType<typeof meteredSubscription>>, count: number, label: string) {
    const gateway = harness.token('gateway', ['apim:usage_ingest']);
    const start = (stripeServer.clock.now() + 1) * 1000;
    const events = Array.from({ length: count }, (_, i) => ({
      eventId: `${label}-${world.subscriptionId}-${i}`,
      timestamp: start + i,
      apiId: world.api.id,
      applicationId: world.app.applicationId,
      subscriptionId: world.subscriptionId,
      httpStatus: 200,
      tenant: 'carbon.super',
    }));
    const answer = await harness.call('POST', '/api/am/usage/v1/events', gateway, { events });
    expect(answer.status).toBe(200);
    return answer.body.results as Array<{ status: string; billable?: boolean; reason?: string }>;
  }

  /** The quantities billed on the Stripe subscription's invoices (its only item is the metered price). */
  async function meteredQuantities(account: string, stripeSubscriptionId: string): Promise<number[]> {
    const invoices = (await harness.platform.invoices.list({ subscription: stripeSubscriptionId, limit: 100 }, { stripeAccount: account })).data;
    return invoices.flatMap((invoice) => invoice.lines.data.map((line) => line.quantity ?? 0)).filter((quantity) => quantity > 0);
  }

  function meterEventsSent(account: string): number {
    return stripeServer.requests.list((r) => r.path === '/v1/billing/meter_events' && r.account === account && r.status === 200).length;
  }

  /** DELETE of the subscription, with the Retry-After header of a 503. */
  async function unsubscribe(world: Awaited<ReturnType<typeof meteredSubscription>>) {
    const answer = await fetch(`${harness.url}${DEVPORTAL}/subscriptions/${world.subscriptionId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${world.subscriber}` },
    });
    const text = await answer.text();
    return { status: answer.status, retryAfter: answer.headers.get('retry-after'), body: text === '' ? undefined : JSON.parse(text) };
  }

  /** Unsubscribes while Stripe still aggregates the usage just sent: 503, then 200 once the Retry-After has passed on Stripe's clock. */
  async function unsubscribeOnceCounted(world: Awaited<ReturnType<typeof meteredSubscription>>) {
    const early = await unsubscribe(world);
    expect(early.status).toBe(503);
    expect(early.body).toMatchObject({ code: 503, message: 'Usage still being counted' });
    expect(early.body.description).toContain('still being counted');
    const retryAfter = Number(early.retryAfter);
    expect(retryAfter).toBeGreaterThan(0);
    expect((await harness.platform.subscriptions.retrieve(world.stripeSubscriptionId, {}, { stripeAccount: world.account })).status).toBe('active');
    stripeServer.clock.advance(retryAfter);
    expect((await unsubscribe(world)).status).toBe(200);
  }

  async function records(subscriptionId: string) {
    return harness.service.db('ML_USAGE_RECORD').where({ SUBSCRIPTION_UUID: subscriptionId }).select('STATE', 'QUANTITY', 'IDENTIFIER');
  }

  it('usage ingested right before unsubscribing is sent first, waited for while Stripe counts it, and billed on the final invoice, once', async () => {
    const world = await meteredSubscription();
    const results = await ingestCalls(world, 1000, 'before-cancel');
    expect(results.every((r) => r.status === 'accepted' && r.billable === true)).toBe(true);
    stripeServer.clock.advance(120);

    // Sent, but Stripe has not aggregated it: a final invoice now would miss it. Nothing is cancelled or removed.
    const early = await unsubscribe(world);
    expect(early.status).toBe(503);
    expect(early.body).toMatchObject({ code: 503, message: 'Usage still being counted' });
    expect(early.body.description).toContain('still being counted');
    expect(Number(early.retryAfter)).toBeGreaterThan(0);
    expect((await harness.call('GET', `${DEVPORTAL}/subscriptions/${world.subscriptionId}`, world.subscriber)).status).toBe(200);
    expect(await harness.service.engine.billedSubscriptionOf(world.subscriptionId)).toMatchObject({ engineSubscriptionId: world.stripeSubscriptionId });
    expect((await harness.platform.subscriptions.retrieve(world.stripeSubscriptionId, {}, { stripeAccount: world.account })).status).toBe('active');
    expect((await records(world.subscriptionId)).map((r) => r.STATE)).toEqual(['SENT']);
    const sentFirst = meterEventsSent(world.account);

    // One second short of Stripe's aggregation, still counting; then the retry cancels with
    // everything billed. A client that waits the Retry-After it was given waits long enough.
    const aggregation = stripeServer.billing.aggregationDelaySeconds();
    expect(Number(early.retryAfter)).toBeGreaterThanOrEqual(aggregation);
    stripeServer.clock.advance(aggregation - 1);
    expect((await unsubscribe(world)).status).toBe(503);
    stripeServer.clock.advance(1);
    const deleted = await unsubscribe(world);
    expect(deleted.status).toBe(200);
    expect(meterEventsSent(world.account)).toBe(sentFirst);

    const cancelled = await harness.platform.subscriptions.retrieve(world.stripeSubscriptionId, {}, { stripeAccount: world.account });
    expect(cancelled.status).toBe('canceled');
    expect(await meteredQuantities(world.account, world.stripeSubscriptionId)).toEqual([1000]);
    const recorded = await records(world.subscriptionId);
    expect(recorded.map((r) => r.STATE)).toEqual(recorded.map(() => 'SENT'));
    expect(recorded.reduce((sum, r) => sum + Number(r.QUANTITY), 0)).toBe(1000);
    expect(meterEventsSent(world.account)).toBe(recorded.length);

    // A later job has nothing of it left to send, and calls after the end are not billable.
    const started = await harness.service.usage.publisher.start();
    expect(started.started).toBe(true);
    expect(await harness.service.usage.publisher.current()).toMatchObject({ failures: [] });
    expect(meterEventsSent(world.account)).toBe(recorded.length);
    expect((await ingestCalls(world, 1, 'after-cancel'))[0]).toMatchObject({ status: 'accepted', billable: false });
  }, 60_000);

  it('when the usage cannot be sent, unsubscribing answers 503 and cancels nothing; retried, it bills everything', async () => {
    const world = await meteredSubscription();
    await ingestCalls(world, 1000, 'refused');
    stripeServer.clock.advance(120);
    const fault = stripeServer.faults.add({ kind: 'error', match: { path: '/v1/billing/meter_events' } });

    const refused = await harness.call('DELETE', `${DEVPORTAL}/subscriptions/${world.subscriptionId}`, world.subscriber);
    expect(refused.status).toBe(503);
    expect(refused.body.description).toContain('was not cancelled');
    const retryAfter = await fetch(`${harness.url}${DEVPORTAL}/subscriptions/${world.subscriptionId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${world.subscriber}` },
    });
    expect(retryAfter.status).toBe(503);
    expect(Number(retryAfter.headers.get('retry-after'))).toBeGreaterThan(0);

    // Still there, still billed: the gateway row, the engine's record, the Stripe subscription.
    expect((await harness.call('GET', `${DEVPORTAL}/subscriptions/${world.subscriptionId}`, world.subscriber)).status).toBe(200);
    expect(await harness.service.engine.billedSubscriptionOf(world.subscriptionId)).toMatchObject({ engineSubscriptionId: world.stripeSubscriptionId, account: world.account });
    expect((await harness.platform.subscriptions.retrieve(world.stripeSubscriptionId, {}, { stripeAccount: world.account })).status).toBe('active');
    expect((await records(world.subscriptionId)).map((r) => r.STATE)).toEqual(['PENDING']);
    expect((await ingestCalls(world, 1, 'while-refused'))[0]).toMatchObject({ status: 'accepted', billable: true });

    stripeServer.faults.remove(fault);
    await unsubscribeOnceCounted(world);
    expect((await harness.platform.subscriptions.retrieve(world.stripeSubscriptionId, {}, { stripeAccount: world.account })).status).toBe('canceled');
    expect(await meteredQuantities(world.account, world.stripeSubscriptionId)).toEqual([1001]);
    const recorded = await records(world.subscriptionId);
    expect(recorded.map((r) => r.STATE)).toEqual(recorded.map(() => 'SENT'));
    expect(recorded.reduce((sum, r) => sum + Number(r.QUANTITY), 0)).toBe(1001);
    expect(new Set(recorded.map((r) => r.IDENTIFIER)).size).toBe(recorded.length);
    expect(meterEventsSent(world.account)).toBe(recorded.length);
  }, 60_000);

  it('usage Stripe never counts holds the cancel for 15 minutes after it was sent; then the cancel goes ahead, warns, and reconcile usage reports it', async () => {
    const world = await meteredSubscription();
    const aggregation = stripeServer.billing.aggregationDelaySeconds();
    const patienceSeconds = 15 * 60;
    // Stripe takes the usage and does not count it within the patience (a meter error report not yet
    // delivered, say): here its aggregation takes longer than the patience.
    stripeServer.billing.setAggregationDelay(patienceSeconds + 3600);
    try {
      await ingestCalls(world, 10, 'never-counted');
      stripeServer.clock.advance(120);
      const sentAt = stripeServer.clock.now();
      const early = await unsubscribe(world);
      expect(early.status).toBe(503);
      expect(Number(early.retryAfter)).toBeGreaterThan(0);
      expect((await records(world.subscriptionId)).map((r) => r.STATE)).toEqual(['SENT']);

      // Up to the patience's last second it still waits; nothing is cancelled.
      stripeServer.clock.advanceTo(sentAt + patienceSeconds);
      const last = await unsubscribe(world);
      expect(last.status).toBe(503);
      expect(last.retryAfter).toBe(early.retryAfter);
      expect((await harness.platform.subscriptions.retrieve(world.stripeSubscriptionId, {}, { stripeAccount: world.account })).status).toBe('active');
      const gaveUp = () => warnings.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.subscription === world.subscriptionId && String(entry.msg).includes('has not counted all usage sent'));
      expect(gaveUp()).toEqual([]);

      // A second later it gives up waiting: cancelled, with a warning naming what was not counted.
      stripeServer.clock.advance(1);
      expect((await unsubscribe(world)).status).toBe(200);
      expect((await harness.platform.subscriptions.retrieve(world.stripeSubscriptionId, {}, { stripeAccount: world.account })).status).toBe('canceled');
      expect(gaveUp()).toEqual([expect.objectContaining({ level: 40, sent: 10, counted: 0, msg: expect.stringContaining('see meterline reconcile usage') })]);
      // The final invoice could not bill it; reconcile usage says so.
      expect(await meteredQuantities(world.account, world.stripeSubscriptionId)).toEqual([]);
      const period = new Date(sentAt * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const reconciled = await harness.call('GET', `/api/am/admin/v4/monetization/usage-reconciliation?period=${period}`, harness.token('admin', SCOPES.admin));
      expect(reconciled.status).toBe(200);
      const row = (reconciled.body.rows as Array<{ subscriptionId: string; differences: Array<{ kind: string; quantity: number }> }>).find((r) => r.subscriptionId === world.subscriptionId);
      expect(row?.differences).toContainEqual(expect.objectContaining({ kind: 'NOT_COUNTED', quantity: 10 }));
    } finally {
      stripeServer.billing.setAggregationDelay(aggregation);
    }
  }, 60_000);

  it('an API cannot be monetized with another account while a billed subscription lives in its account', async () => {
    const world = await meteredSubscription();
    const { call, platform } = harness;
    const other = (await platform.accounts.create({ type: 'express' })).id;
    const disable = await call('POST', `${PUBLISHER}/apis/${world.api.id}/monetize`, world.publisher, { enabled: false, properties: { ConnectedAccountKey: world.account } });
    expect(disable.status).toBe(201);

    const moved = await call('POST', `${PUBLISHER}/apis/${world.api.id}/monetize`, world.publisher, { enabled: true, properties: { ConnectedAccountKey: other } });
    expect(moved.status).toBe(409);
    expect(moved.body.description).toContain(world.subscriptionId);
    expect(moved.body.description).toContain('cancel them before monetizing the API with');

    // Disabled, the subscription is still billed in its own account; unsubscribed, the API can move.
    await ingestCalls(world, 10, 'disabled');
    stripeServer.clock.advance(120);
    await unsubscribeOnceCounted(world);
    expect(await meteredQuantities(world.account, world.stripeSubscriptionId)).toEqual([10]);
    expect((await call('POST', `${PUBLISHER}/apis/${world.api.id}/monetize`, world.publisher, { enabled: true, properties: { ConnectedAccountKey: other } })).status).toBe(201);
  }, 60_000);
});
