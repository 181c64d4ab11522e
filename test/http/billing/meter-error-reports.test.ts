import { apiMeterEventName } from '../../../plugins/stripe/meters';
import { SAMPLE_ERRORS_PER_CODE } from '../../../dev/stripe-server/webhooks/thin-events';
import { forEachBillingHarness } from '../../helpers/billing-harness';
import { ADMIN, DEVPORTAL, PUBLISHER, SCOPES, policyBody, uniqueName } from '../../helpers/rest-harness';

/**
 * Stripe accepts a meter event and may find it invalid only while processing it, reporting that
 * later as the thin event v1.billing.meter.error_report_triggered
 * (https://docs.stripe.com/api/v2/core/events/event-types), whose data (fetched from
 * GET /v2/core/events/:id) names each failed event's identifier. Delivered to Meterline's signed
 * webhook route, it marks the usage record ENGINE_ERROR; the admin's publish status lists it with
 * its subscription, window and reason, and the publisher's usage view of the subscription says it.
 */
const TYPE = 'v1.billing.meter.error_report_triggered';
const PUBLISH_SCOPES = ['apim:admin', 'apim:monetization_usage_publish'];

forEachBillingHarness({ holdUntilPaid: false, graceDays: 3, thinEventDestination: true }, (harness, _kind, stripeServer) => {
  it('usage Stripe accepted and then reported invalid (an inactive meter) reaches the publish status with its subscription, window and reason', async () => {
    const h = harness();
    const { clock, t0, endpoint, publisher, api, account, app, subscriptionId } = await perCallSubscription(h, stripeServer());

    const calls = Array.from({ length: 3 }, (_, i) => ({
      eventId: `err-${subscriptionId}-${i}`,
      timestamp: t0 + (5 + i) * 60_000,
      apiId: api.id,
      applicationId: app.applicationId,
      subscriptionId,
      httpStatus: 200,
      tenant: 'carbon.super',
    }));
    clock.advance(2 * 3600);
    const ingested = await h.service.usage.ingestion.ingest(calls);
    expect(ingested.results).toEqual(calls.map((c, index) => expect.objectContaining({ index, status: "accepted" })));
    // The publisher deactivates the API's meter in Stripe: Stripe still takes the event, then reports it.
    const meters = await h.platform.billing.meters.list({ status: 'active' }, { stripeAccount: account });
    const meter = meters.data.find((m) => m.event_name === apiMeterEventName(api.id))!;
    await h.platform.billing.meters.deactivate(meter.id, {}, { stripeAccount: account });

    const publishing = await h.call('POST', `${ADMIN}/monetization/publish-usage`, h.token('admin', PUBLISH_SCOPES));
    expect(publishing.status).toBe(202);
    await h.service.usage.publisher.current();
    await stripeServer().webhooks.flush();
    const reports = stripeServer().webhooks.deliveries().filter((d) => d.eventType === TYPE && d.endpointId === endpoint.id);
    expect(reports.map((d) => d.status)).toEqual([200]);

    const status = await h.call('GET', `${ADMIN}/monetization/publish-usage/status`, h.token('admin', PUBLISH_SCOPES));
    expect(status.status).toBe(200);
    expect(status.body.engineErrors).toEqual([
      {
        subscriptionId,
        apiId: api.id,
        windowStart: new Date(t0).toISOString(),
        windowEnd: new Date(t0 + 3_600_000).toISOString(),
        quantity: 3,
        identifier: expect.any(String),
        reason: expect.stringContaining('archived_meter'),
      },
    ]);
    // The publisher's view of the subscription's pending invoice says which window was not billed, and why.
    const view = await h.call('GET', `${PUBLISHER}/subscriptions/${subscriptionId}/usage`, publisher);
    expect(view.status).toBe(200);
    expect(view.body.properties['Usage Errors']).toBe(
      `${new Date(t0).toISOString()} to ${new Date(t0 + 3_600_000).toISOString()}, 3 calls not billed: ${status.body.engineErrors[0].reason}`,
    );
    expect(view.body.properties['Usage Errors']).toContain('archived_meter');
    const records = await h.service.db('ML_USAGE_RECORD').where({ SUBSCRIPTION_UUID: subscriptionId });
    expect(records.map((r: { STATE: string }) => r.STATE)).toEqual(['ENGINE_ERROR']);

    // The same report delivered again is a duplicate: acknowledged, nothing changes.
    const report = reports[0]!;
    const again = await h.call('POST', '/api/am/monetization/webhooks/stripe/carbon.super', undefined, report.payload, { 'stripe-signature': report.signature, 'content-type': 'application/json' });
    expect(again).toEqual({ status: 200, body: { received: true, outcome: 'duplicate' } });
    expect(await h.service.db('ML_USAGE_RECORD').where({ SUBSCRIPTION_UUID: subscriptionId })).toEqual(records);

    // A report about a meter event Meterline did not send is acknowledged and changes nothing.
    await h.platform.billing.meterEvents.create(
      { event_name: meter.event_name, identifier: `not-ours-${subscriptionId}`, payload: { stripe_customer_id: 'cus_x', value: '1' } },
      { stripeAccount: account },
    );
    await stripeServer().webhooks.flush();
    const stranger = stripeServer().webhooks.deliveries().filter((d) => d.eventType === TYPE && d.endpointId === endpoint.id).at(-1)!;
    const answer = await h.call('POST', '/api/am/monetization/webhooks/stripe/carbon.super', undefined, stranger.payload, { 'stripe-signature': stranger.signature, 'content-type': 'application/json' });
    expect(answer).toEqual({ status: 200, body: { received: true, outcome: 'unknown_object', reason: `no usage record was sent as not-ours-${subscriptionId}` } });
    const after = await h.call('GET', `${ADMIN}/monetization/publish-usage/status`, h.token('admin', PUBLISH_SCOPES));
    expect(after.body.engineErrors).toEqual(status.body.engineErrors);
  });

  it('a grouped report that counts more errors than it samples marks each sampled record, and the count reaches the publish status and the publisher\'s view', async () => {
    const h = harness();
    const { clock, t0, endpoint, publisher, api, account, app, subscriptionId } = await perCallSubscription(h, stripeServer());

    // One call in each of seven hourly windows: seven usage records, seven meter events to one meter.
    const windows = SAMPLE_ERRORS_PER_CODE + 2;
    const calls = Array.from({ length: windows }, (_, i) => ({
      eventId: `grouped-${subscriptionId}-${i}`,
      timestamp: t0 + i * 3_600_000 + 5 * 60_000,
      apiId: api.id,
      applicationId: app.applicationId,
      subscriptionId,
      httpStatus: 200,
      tenant: 'carbon.super',
    }));
    clock.advance((windows + 1) * 3600);
    await h.service.usage.ingestion.ingest(calls);
    const meters = await h.platform.billing.meters.list({ status: 'active' }, { stripeAccount: account });
    const meter = meters.data.find((m) => m.event_name === apiMeterEventName(api.id))!;
    await h.platform.billing.meters.deactivate(meter.id, {}, { stripeAccount: account });
    expect((await h.call('POST', `${ADMIN}/monetization/publish-usage`, h.token('admin', PUBLISH_SCOPES))).status).toBe(202);
    await h.service.usage.publisher.current();
    await stripeServer().webhooks.flush();

    // Stripe sent one report for the meter's window: seven errors counted, five named.
    const reports = stripeServer().webhooks.deliveries().filter((d) => d.eventType === TYPE && d.endpointId === endpoint.id && JSON.parse(d.payload).related_object?.id === meter.id);
    expect(reports.map((d) => d.status)).toEqual([200]);
    const records = await h.service.db('ML_USAGE_RECORD').where({ SUBSCRIPTION_UUID: subscriptionId }).orderBy('WINDOW_START');
    expect(records).toHaveLength(windows);
    const failed = records.filter((r: { STATE: string }) => r.STATE === 'ENGINE_ERROR');
    expect(failed).toHaveLength(SAMPLE_ERRORS_PER_CODE);
    expect(records.filter((r: { STATE: string }) => r.STATE === 'SENT')).toHaveLength(windows - SAMPLE_ERRORS_PER_CODE);

    const count = `Stripe counted ${windows} archived_meter errors on this meter from `;
    const untold = `and named only ${SAMPLE_ERRORS_PER_CODE}: the other ${windows - SAMPLE_ERRORS_PER_CODE} are not identified`;
    const status = await h.call('GET', `${ADMIN}/monetization/publish-usage/status`, h.token('admin', PUBLISH_SCOPES));
    const ours = (status.body.engineErrors as Array<{ subscriptionId: string; identifier: string; reason: string }>).filter((e) => e.subscriptionId === subscriptionId);
    expect(ours.map((e) => e.identifier).sort()).toEqual(failed.map((r: { IDENTIFIER: string }) => r.IDENTIFIER).sort());
    for (const entry of ours) {
      expect(entry.reason).toMatch(/^archived_meter: /);
      expect(entry.reason).toContain(count);
      expect(entry.reason).toContain(untold);
    }
    const view = await h.call('GET', `${PUBLISHER}/subscriptions/${subscriptionId}/usage`, publisher);
    expect(view.status).toBe(200);
    expect(view.body.properties['Usage Errors'].split('; ').filter((part: string) => part.includes(untold))).toHaveLength(SAMPLE_ERRORS_PER_CODE);

    // Delivered again: a duplicate, and the answer says how many errors the report did not name.
    const again = await h.call('POST', '/api/am/monetization/webhooks/stripe/carbon.super', undefined, reports[0]!.payload, { 'stripe-signature': reports[0]!.signature, 'content-type': 'application/json' });
    expect(again).toEqual({ status: 200, body: { received: true, outcome: 'duplicate', reason: `${windows - SAMPLE_ERRORS_PER_CODE} more errors were counted without naming the usage` } });
  });
});

type Harness = Parameters<Parameters<typeof forEachBillingHarness>[1]>[0] extends () => infer H ? H : never;
type Server = Parameters<Parameters<typeof forEachBillingHarness>[1]>[2] extends () => infer S ? S : never;

/**
 * A subscription on a per-call plan of a monetized, published API, with the clock at the start of
 * an hour (t0, ms) and the tenant's thin event destination: meter error reports come from it,
 * signed with its own secret (stripe_event_destination_secret), not the snapshot endpoint's.
 */
async function perCallSubscription(h: Harness, server: Server) {
  const clock = server.clock;
  clock.advanceTo(Math.ceil(clock.now() / 3600) * 3600);
  const t0 = clock.now() * 1000;
  const endpoint = (await h.platform.v2.core.eventDestinations.list()).data.find((e) => e.enabled_events.includes(TYPE))!;
  const admin = h.token('admin', SCOPES.admin);
  const publisher = h.token('pat', SCOPES.publisher);
  const subscriberName = uniqueName('sub');
  const subscriber = h.token(subscriberName, SCOPES.subscriber, `${subscriberName}@example.com`);
  const policy = (await h.call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(uniqueName('PerCall'), { plan: 'DYNAMICRATE', price: '0.01' }))).body;
  const name = uniqueName('Api');
  const api = (await h.call('POST', `${PUBLISHER}/apis`, publisher, { name, version: '1.0.0', context: `/${name.toLowerCase()}`, policies: [policy.policyName] })).body;
  await h.call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher);
  const account = (await h.platform.accounts.create({ type: 'express' })).id;
  expect((await h.call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: account } })).status).toBe(201);
  const app = (await h.call('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
  const created = await h.call('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: app.applicationId, apiId: api.id, throttlingPolicy: policy.policyName });
  const subscriptionId = created.body.subscriptionId as string;
  expect(subscriptionId).toEqual(expect.any(String));
  return { clock, t0, endpoint, publisher, api, account, app, subscriptionId };
}
