import { apiMeterEventName } from '../../../plugins/stripe/meters';
import { RecordStore } from '../../../src/usage/record-store';
import { forEachBillingHarness } from '../../helpers/billing-harness';
import { ADMIN, DEVPORTAL, PUBLISHER, SCOPES, policyBody, uniqueName } from '../../helpers/rest-harness';

/**
 * `POST /api/am/admin/v4/monetization/usage-records/requeue` over HTTP, on the local Stripe server:
 * usage Stripe accepted and then reported invalid (an inactive meter: a meter error report, see
 * meter-error-reports.test.ts) is published again once the publisher fixed the meter, under a new
 * identifier, and Stripe counts it once; the old report delivered again changes nothing; a record
 * whose usage Stripe counted after all (a wrong report) is not re-queued.
 */
const TYPE = 'v1.billing.meter.error_report_triggered';
const PUBLISH_SCOPES = ['apim:admin', 'apim:monetization_usage_publish'];
const REQUEUE = `${ADMIN}/monetization/usage-records/requeue`;

forEachBillingHarness({ holdUntilPaid: false, graceDays: 3, thinEventDestination: true }, (harness, _kind, stripeServer) => {
  it('re-publishes ENGINE_ERROR usage once under a new identifier; refuses what is not ENGINE_ERROR, unknown ids and bad bodies', async () => {
    const h = harness();
    const clock = stripeServer().clock;
    clock.advanceTo(Math.ceil(clock.now() / 3600) * 3600);
    const t0 = clock.now() * 1000;
    const admin = h.token('admin', PUBLISH_SCOPES);
    const publisher = h.token('pat', SCOPES.publisher);
    const subscriberName = uniqueName('sub');
    const subscriber = h.token(subscriberName, SCOPES.subscriber, `${subscriberName}@example.com`);
    const policy = (await h.call('POST', `${ADMIN}/throttling/policies/subscription`, h.token('admin', SCOPES.admin), policyBody(uniqueName('PerCall'), { plan: 'DYNAMICRATE', price: '0.01' }))).body;
    const name = uniqueName('Api');
    const api = (await h.call('POST', `${PUBLISHER}/apis`, publisher, { name, version: '1.0.0', context: `/${name.toLowerCase()}`, policies: [policy.policyName] })).body;
    await h.call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher);
    const account = (await h.platform.accounts.create({ type: 'express' })).id;
    await h.call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: account } });
    const app = (await h.call('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
    const subscriptionId = (await h.call('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: app.applicationId, apiId: api.id, throttlingPolicy: policy.policyName })).body.subscriptionId as string;

    const calls = (hour: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({ eventId: `rq-${subscriptionId}-${hour}-${i}`, timestamp: t0 + hour * 3_600_000 + (5 + i) * 60_000, apiId: api.id, applicationId: app.applicationId, subscriptionId, httpStatus: 200, tenant: 'carbon.super' }));
    const publish = async () => {
      expect((await h.call('POST', `${ADMIN}/monetization/publish-usage`, admin)).status).toBe(202);
      await h.service.usage.publisher.current();
      await stripeServer().webhooks.flush();
    };
    const records = async () => (await new RecordStore(h.service.db).list({ subscriptionUuid: subscriptionId })).map((r) => ({ id: r.id, state: r.state, identifier: r.identifier, quantity: r.quantity }));
    const meter = (await h.platform.billing.meters.list({ status: 'active' }, { stripeAccount: account })).data.find((m) => m.event_name === apiMeterEventName(api.id))!;
    const counted = async () => {
      clock.advance(60); // past the server's aggregation delay
      const customer = (await h.platform.customers.list({ limit: 100 }, { stripeAccount: account })).data.find((c) => c.metadata?.meterline_application === app.applicationId)!;
      const summaries = await h.platform.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: t0 / 1000, end_time: t0 / 1000 + 3 * 3600 }, { stripeAccount: account });
      return summaries.data.reduce((n, s) => n + s.aggregated_value, 0);
    };

    // Hour 0 is sent while the meter is inactive: Stripe reports it; hour 1 is sent and counted.
    await h.platform.billing.meters.deactivate(meter.id, {}, { stripeAccount: account });
    clock.advance(3600 + 120);
    await h.service.usage.ingestion.ingest(calls(0, 3));
    await publish();
    await h.platform.billing.meters.reactivate(meter.id, {}, { stripeAccount: account });
    const [failed] = await records();
    expect(failed).toMatchObject({ state: 'ENGINE_ERROR', quantity: 3 });
    const report = stripeServer().webhooks.deliveries().filter((d) => d.eventType === TYPE).at(-1)!;
    clock.advance(3600);
    await h.service.usage.ingestion.ingest(calls(1, 2));
    await publish();
    expect(await counted()).toBe(2);

    // Bad bodies name the field; unknown ids are 404; a SENT record is 409.
    for (const bad of [{}, { recordId: 1, subscriptionId }, { recordId: 'x' }, { recordId: 1, extra: true }]) {
      const answer = await h.call('POST', REQUEUE, admin, bad);
      expect(answer.status).toBe(400);
      expect(JSON.stringify(answer.body)).toMatch(/recordId|extra/);
    }
    expect((await h.call('POST', REQUEUE, admin, { recordId: 2_000_000_000 })).status).toBe(404);
    expect((await h.call('POST', REQUEUE, admin, { subscriptionId: 'no-such-subscription' })).status).toBe(404);
    const sent = (await records()).find((r) => r.state === 'SENT')!;
    expect((await h.call('POST', REQUEUE, admin, { recordId: sent.id })).status).toBe(409);
    expect((await h.call('POST', REQUEUE, h.token('sam', SCOPES.subscriber), { recordId: failed!.id })).status).toBe(403);

    // The re-queue: a new identifier, published once, counted once.
    const requeued = await h.call('POST', REQUEUE, admin, { subscriptionId });
    expect(requeued.status).toBe(200);
    expect(requeued.body).toEqual({ requeued: [expect.objectContaining({ recordId: failed!.id, subscriptionId, quantity: 3, previousIdentifier: failed!.identifier, identifier: expect.any(String) })] });
    const next = requeued.body.requeued[0].identifier as string;
    expect(next).not.toBe(failed!.identifier);
    expect((await h.call('POST', REQUEUE, admin, { recordId: failed!.id })).status).toBe(409); // already re-queued
    await publish();
    await publish();
    expect((await records()).find((r) => r.id === failed!.id)).toMatchObject({ state: 'SENT', identifier: next });
    expect(await counted()).toBe(5);

    // The old report delivered again: a duplicate; the re-queued record stays SENT and is not sent again.
    const again = await h.call('POST', '/api/am/monetization/webhooks/stripe/carbon.super', undefined, report.payload, { 'stripe-signature': report.signature, 'content-type': 'application/json' });
    expect(again).toEqual({ status: 200, body: { received: true, outcome: 'duplicate' } });
    await publish();
    expect((await records()).find((r) => r.id === failed!.id)).toMatchObject({ state: 'SENT', identifier: next });
    expect(await counted()).toBe(5);

    // A wrong report (Stripe did count the usage): the record is not re-queued.
    expect(await new RecordStore(h.service.db).markEngineError(sent.identifier, 'a report that does not hold')).toBe('recorded');
    const refused = await h.call('POST', REQUEUE, admin, { recordId: sent.id });
    expect(refused.status).toBe(409);
    expect(JSON.stringify(refused.body)).toContain('does not hold');
    expect((await records()).find((r) => r.id === sent.id)).toMatchObject({ state: 'ENGINE_ERROR', identifier: sent.identifier });
    expect(await counted()).toBe(5);
  });
});
