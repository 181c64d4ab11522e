import express from 'express';
import type { AddressInfo } from 'node:net';
import { apimCoreRecords } from '../../src/apim/core-records';
import { composeSpend, type SpendComposition } from '../../src/composition';
import { accessGuard, remoteAccessChecker } from '../../src/gateway-kit/access-guard';
import { mintToken } from '../../src/http/auth/tokens';
import { createLogger } from '../../src/logger';
import type { NotificationEvent } from '../../src/notifications/events';
import { forEachBillingHarness, type BillingHarness } from '../helpers/billing-harness';
import { ADMIN, DEVPORTAL, policyBody, PUBLISHER, SCOPES, uniqueName } from '../helpers/rest-harness';

/**
 * Spend limits end to end on one service per database (the Stripe engine on the local Stripe
 * server, Meterline's clock following the server's): a DYNAMICRATE subscription at 0.01 USD a
 * call, limits set over REST by the subscriber and the publisher, usage pushed through the
 * ingestion route, the watcher run by the test (with a notifier that records), and calls checked
 * through the access route and a gateway's accessGuard.
 */
forEachBillingHarness({ holdUntilPaid: false, graceDays: 3 }, (harness, kind, stripeServer) => {
  const events: NotificationEvent[] = [];
  let spend: SpendComposition;
  let world: Awaited<ReturnType<typeof meteredSubscription>>;
  const now = () => new Date(stripeServer().clock.now() * 1000);

  beforeAll(async () => {
    const h = harness();
    spend = composeSpend({
      db: h.service.db,
      engine: h.service.engine,
      subscriptions: apimCoreRecords(h.service.db),
      tenants: h.service.services.tenants,
      config: h.config,
      logger: createLogger('silent'),
      clock: now,
      notifier: { notify: async (event) => void events.push(event) },
    });
    world = await meteredSubscription(h);
  });

  const limitPath = (api: 'devportal' | 'publisher') => `${api === 'devportal' ? DEVPORTAL : PUBLISHER}/subscriptions/${world.subscriptionId}/spend-limit`;
  let sent = 0;
  /** Pushes `count` calls of the subscription, stamped now, through the ingestion route. */
  async function calls(count: number): Promise<void> {
    const h = harness();
    const at = now().getTime();
    const batch = Array.from({ length: count }, () => ({
      eventId: `spend-${kind}-${(sent += 1)}`,
      timestamp: at,
      apiId: world.apiId,
      applicationId: world.applicationId,
      subscriptionId: world.subscriptionId,
      httpStatus: 200,
      tenant: 'carbon.super',
    }));
    const response = await h.call('POST', '/api/am/usage/v1/events', h.token('gateway', ['apim:usage_ingest']), { events: batch });
    expect(response.status).toBe(200);
  }
  const access = async () => (await harness().call('GET', `/api/am/usage/v1/subscriptions/${world.subscriptionId}/access`, harness().token('gateway', ['apim:usage_ingest']))).body;
  const types = () => events.map((e) => `${e.type}${e.data.threshold === undefined ? '' : `:${e.data.threshold}`}`);

  it('notifies each threshold once per period, then the hard cap blocks the access route and accessGuard with the reason', async () => {
    const h = harness();
    const set = await h.call('PUT', limitPath('devportal'), world.subscriber, { amount: '1.00', hardCap: true });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ currency: 'USD', limits: [{ setBy: 'subscriber', amount: '1.00', thresholds: [50, 80, 100], hardCap: true, updatedBy: world.subscriberName }], period: { calls: 0, spent: '0.00', capped: false } });

    await calls(60);
    await spend.watcher.evaluateAll();
    await spend.watcher.evaluateAll(); // nothing new: no second notification
    expect(types()).toEqual(['spend.threshold_reached:50']);
    const first = events[0]!;
    expect(first.id).toBe(`spend.threshold_reached:carbon.super:${world.subscriptionId}:${set.body.period.start}:50`);
    expect(first.data).toMatchObject({ spent: '0.60', limitAmount: '1.00', setBy: 'subscriber', currency: 'USD' });
    expect(first.subscriberEmail).toBe(`${world.subscriberName}@example.com`);
    expect(await access()).toMatchObject({ allowed: true, status: 'UNBLOCKED' });

    await calls(40);
    await spend.watcher.evaluateAll();
    expect(types()).toEqual(['spend.threshold_reached:50', 'spend.threshold_reached:80', 'spend.threshold_reached:100', 'spend.cap_reached']);
    const reason = "the period's spend reached its cap of 1.00 USD (set by the subscriber)";
    expect(await access()).toEqual({ subscriptionId: world.subscriptionId, allowed: false, status: 'BLOCKED', reason });

    const guarded = await gateway(remoteAccessChecker(h.url, () => h.token('gateway', ['apim:usage_ingest'])));
    try {
      expect(await guarded.call(world.subscriptionId)).toEqual({
        status: 403,
        body: { code: 403, message: 'Forbidden', description: reason, moreInfo: '', error: [], subscriptionStatus: 'BLOCKED' },
      });
    } finally {
      await guarded.close();
    }

    // The next period starts uncapped, with nothing written: the cap is its period's.
    const periodEnd = new Date(set.body.period.end);
    expect(await h.service.services.billing.access.check(world.subscriptionId, new Date(periodEnd.getTime() - 1))).toMatchObject({ allowed: false, reason });
    expect(await h.service.services.billing.access.check(world.subscriptionId, periodEnd)).toMatchObject({ allowed: true, status: 'UNBLOCKED' });
  });

  it('applies the lower amount of two, shows who set what, and lifts or moves the cap at once when a limit changes', async () => {
    const h = harness();
    // Spend is 1.00 USD. The publisher's alert-only limit is lower: its thresholds apply, the subscriber's cap still holds.
    const publisherSet = await h.call('PUT', limitPath('publisher'), world.publisher, { amount: '0.80', thresholds: [90] });
    expect(publisherSet.status).toBe(200);
    expect(publisherSet.body.applied).toEqual({ alerts: { setBy: 'publisher', amount: '0.80', thresholds: [90] }, hardCap: { setBy: 'subscriber', amount: '1.00' } });
    expect(publisherSet.body.limits.map((l: { setBy: string; amount: string }) => `${l.setBy} ${l.amount}`)).toEqual(['publisher 0.80', 'subscriber 1.00']);
    expect(publisherSet.body.period).toMatchObject({ calls: 100, spent: '1.00', capped: true });

    // The subscriber raises their limit: the cap is lifted by the PUT itself.
    const raised = await h.call('PUT', limitPath('devportal'), world.subscriber, { amount: '5.00', thresholds: [50, 100], hardCap: true });
    expect(raised.body.period).toMatchObject({ capped: false, reason: null });
    expect(await access()).toMatchObject({ allowed: true });

    // The publisher makes theirs a hard cap: the lower cap applies, set by the publisher.
    const capped = await h.call('PUT', limitPath('publisher'), world.publisher, { amount: '0.80', thresholds: [90], hardCap: true });
    const reason = "the period's spend reached its cap of 0.80 USD (set by the publisher)";
    expect(capped.body.period).toMatchObject({ capped: true, reason });
    expect(await access()).toMatchObject({ allowed: false, status: 'BLOCKED', reason });

    // The subscriber sees both limits; removing the publisher's lifts the cap (the subscriber's 5.00 is not reached).
    const shown = await h.call('GET', limitPath('devportal'), world.subscriber);
    expect(shown.body.applied.hardCap).toEqual({ setBy: 'publisher', amount: '0.80' });
    expect((await h.call('DELETE', limitPath('publisher'), world.publisher)).body.period.capped).toBe(false);
    expect(await access()).toMatchObject({ allowed: true });
    expect((await h.call('DELETE', limitPath('publisher'), world.publisher)).status).toBe(200); // idempotent
  });

  it("caps at once after a usage freeze, without the watcher's scheduled run (the publisher tells the service's watcher what it froze)", async () => {
    const h = harness();
    // The subscriber's 5.00 USD hard cap holds (the test before); spend is 1.00 USD. 400 more calls reach it.
    await calls(400);
    expect(await access()).toMatchObject({ allowed: true });
    expect(await h.service.services.usage.publisher.freezeOnly()).toEqual({ frozen: true });
    await h.service.services.spend.watcher.settled();
    expect(await access()).toMatchObject({ allowed: false, status: 'BLOCKED', reason: "the period's spend reached its cap of 5.00 USD (set by the subscriber)" });
  });

  it("answers 404 for another subscriber's or another tenant's subscription, 403 for another publisher", async () => {
    const h = harness();
    const stranger = h.token('someone-else', SCOPES.subscriber);
    expect((await h.call('GET', limitPath('devportal'), stranger)).status).toBe(404);
    expect((await h.call('PUT', limitPath('devportal'), stranger, { amount: '1.00' })).status).toBe(404);
    const otherTenant = mintToken(h.config.auth.jwt!, { subject: world.subscriberName, tenant: 'acme.com', scopes: SCOPES.subscriber });
    expect((await h.call('DELETE', limitPath('devportal'), otherTenant)).status).toBe(404);
    const otherPublisher = h.token('not-the-provider', [...SCOPES.publisher, 'apim:subscription_manage']);
    expect((await h.call('PUT', limitPath('publisher'), otherPublisher, { amount: '1.00' })).status).toBe(403);
  });
});

/** Through the REST API: a DYNAMICRATE policy at 0.01 USD a call, a monetized API on it and a subscription to it. */
async function meteredSubscription(h: BillingHarness) {
  const subscriberName = uniqueName('sub');
  const admin = h.token('admin', SCOPES.admin);
  const publisher = h.token('pat', [...SCOPES.publisher, 'apim:subscription_manage']);
  const subscriber = h.token(subscriberName, SCOPES.subscriber, `${subscriberName}@example.com`);
  const policy = (await h.call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(uniqueName('Metered'), { plan: 'DYNAMICRATE', price: '0.01' }))).body;
  const name = uniqueName('Api');
  const api = (await h.call('POST', `${PUBLISHER}/apis`, publisher, { name, version: '1.0.0', context: `/${name.toLowerCase()}`, policies: [policy.policyName] })).body;
  await h.call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher);
  const account = (await h.platform.accounts.create({ type: 'express' })).id;
  await h.call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: account } });
  const app = (await h.call('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
  const created = await h.call('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: app.applicationId, apiId: api.id, throttlingPolicy: policy.policyName });
  if (created.status !== 201) throw new Error(`subscribe: ${created.status} ${JSON.stringify(created.body)}`);
  return { subscriptionId: created.body.subscriptionId as string, apiId: api.id as string, applicationId: app.applicationId as string, subscriber, subscriberName, publisher };
}

/** A hello-world gateway route behind the guard; the subscription comes from a header. */
async function gateway(checker: ReturnType<typeof remoteAccessChecker>) {
  const app = express();
  app.use(accessGuard({ checker, identify: (req) => req.get('x-subscription') ?? undefined, cacheMs: 0 }));
  app.get('/hello', (_req, res) => res.send('hello'));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    call: async (subscription: string) => {
      const response = await fetch(`${base}/hello`, { headers: { 'x-subscription': subscription } });
      return { status: response.status, body: response.headers.get('content-type')?.includes('json') ? await response.json() : await response.text() };
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
