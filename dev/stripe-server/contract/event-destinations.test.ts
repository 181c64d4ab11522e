import Stripe from 'stripe';
import { failureOf, startHarness, type Harness } from './harness';

/**
 * Event destinations (https://docs.stripe.com/api/v2/core/event-destinations,
 * https://docs.stripe.com/event-destinations): the v2 way to receive events, and the only one for
 * thin events such as `v1.billing.meter.error_report_triggered`. /v2 requests carry JSON bodies
 * (https://docs.stripe.com/api-v2-overview); the signing secret is shown once, on create, when
 * included (stripe-node 23's EventDestinationCreateParams.Include).
 */
const TYPE = 'v1.billing.meter.error_report_triggered';
const NOWHERE = 'http://127.0.0.1:9/hook';

let harness: Harness;
let stripe: Stripe;
beforeAll(async () => {
  harness = await startHarness();
  stripe = harness.client('sk_test_event_destinations');
});
afterAll(() => harness.server.close());

function thinDestination(client: Stripe, params: Partial<Stripe.V2.Core.EventDestinationCreateParams> = {}) {
  return client.v2.core.eventDestinations.create({
    name: 'meter errors',
    type: 'webhook_endpoint',
    event_payload: 'thin',
    enabled_events: [TYPE],
    webhook_endpoint: { url: `${NOWHERE}/thin` },
    include: ['webhook_endpoint.signing_secret'],
    ...params,
  });
}

/** A meter event for a customer the account lacks: Stripe reports it in a thin event. */
async function provokeErrorReport(client: Stripe, options: Stripe.RequestOptions = {}) {
  const name = `usage_${Math.random().toString(36).slice(2, 8)}`;
  await client.billing.meters.create(
    { display_name: name, event_name: name, default_aggregation: { formula: 'sum' }, customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' }, value_settings: { event_payload_key: 'value' } },
    options,
  );
  await client.billing.meterEvents.create({ event_name: name, payload: { stripe_customer_id: 'cus_nobody', value: '1' }, timestamp: harness.server.clock.now() }, options);
  await harness.server.webhooks.flush();
}

const deliveredTo = (id: string) => harness.server.webhooks.deliveries().filter((d) => d.endpointId === id);

describe('event destinations', () => {
  it('are created from a JSON body; the signing secret comes once, on create, and the URL only when included', async () => {
    const created = await thinDestination(stripe, { include: ['webhook_endpoint.signing_secret', 'webhook_endpoint.url'] });
    expect(created).toMatchObject({
      object: 'v2.core.event_destination',
      type: 'webhook_endpoint',
      event_payload: 'thin',
      enabled_events: [TYPE],
      events_from: ['self'],
      status: 'enabled',
      livemode: false,
      webhook_endpoint: { url: `${NOWHERE}/thin`, signing_secret: expect.stringMatching(/^whsec_/) },
    });
    expect(created.created).toMatch(/^\d{4}-\d\d-\d\dT/);
    const plain = await stripe.v2.core.eventDestinations.retrieve(created.id);
    expect(plain.webhook_endpoint).toEqual({});
    const withUrl = await stripe.v2.core.eventDestinations.retrieve(created.id, { include: ['webhook_endpoint.url'] });
    expect(withUrl.webhook_endpoint).toEqual({ url: `${NOWHERE}/thin` });
  });

  it('refuse event types of the other payload kind, and a v1 webhook endpoint refuses thin event types', async () => {
    await expect(failureOf(thinDestination(stripe, { enabled_events: ['invoice.paid'] }))).resolves.toMatchObject({ statusCode: 400, param: 'enabled_events' });
    await expect(
      failureOf(stripe.v2.core.eventDestinations.create({ name: 's', type: 'webhook_endpoint', event_payload: 'snapshot', enabled_events: [TYPE], webhook_endpoint: { url: NOWHERE } })),
    ).resolves.toMatchObject({ statusCode: 400, param: 'enabled_events' });
    const refused = await failureOf(stripe.webhookEndpoints.create({ url: NOWHERE, enabled_events: ['invoice.paid', TYPE as Stripe.WebhookEndpointCreateParams.EnabledEvent] }));
    expect(refused).toMatchObject({ statusCode: 400, param: 'enabled_events[1]' });
  });

  it('deliver a thin event signed with the destination secret; `other_accounts` brings connected accounts’ events, `self` does not', async () => {
    const platform = harness.client('sk_test_event_destinations_connect');
    const self = await thinDestination(platform);
    const others = await thinDestination(platform, { events_from: ['other_accounts'] });
    const account = await platform.accounts.create({ type: 'custom', country: 'US' });

    await provokeErrorReport(platform, { stripeAccount: account.id });
    expect(deliveredTo(self.id)).toEqual([]);
    const [delivery] = deliveredTo(others.id);
    const notification = platform.parseEventNotification(delivery!.payload, delivery!.signature, others.webhook_endpoint!.signing_secret!);
    expect(notification).toMatchObject({ object: 'v2.core.event', type: TYPE });
    expect(String(notification.context)).toBe(account.id);

    await provokeErrorReport(platform);
    expect(deliveredTo(self.id)).toHaveLength(1);
    expect(deliveredTo(others.id)).toHaveLength(1);
  });

  it('deliver nothing while disabled, and are gone once deleted', async () => {
    const client = harness.client('sk_test_event_destinations_status');
    const destination = await thinDestination(client);
    await expect(client.v2.core.eventDestinations.disable(destination.id)).resolves.toMatchObject({ status: 'disabled' });
    await provokeErrorReport(client);
    expect(deliveredTo(destination.id)).toEqual([]);
    await expect(client.v2.core.eventDestinations.enable(destination.id)).resolves.toMatchObject({ status: 'enabled' });
    await provokeErrorReport(client);
    expect(deliveredTo(destination.id)).toHaveLength(1);
    await client.v2.core.eventDestinations.del(destination.id);
    await expect(failureOf(client.v2.core.eventDestinations.retrieve(destination.id))).resolves.toMatchObject({ statusCode: 404 });
  });

  it('with a snapshot payload receive snapshot events rendered at their snapshot_api_version', async () => {
    const client = harness.client('sk_test_event_destinations_snapshot');
    const destination = await client.v2.core.eventDestinations.create({
      name: 'customers',
      type: 'webhook_endpoint',
      event_payload: 'snapshot',
      enabled_events: ['customer.created'],
      snapshot_api_version: '2024-06-20',
      webhook_endpoint: { url: `${NOWHERE}/snapshot` },
    });
    await client.customers.create({ email: 'snapshot@example.com' });
    await harness.server.webhooks.flush();
    const delivered = deliveredTo(destination.id).map((d) => JSON.parse(d.payload) as { type: string; api_version: string });
    expect(delivered).toEqual([expect.objectContaining({ type: 'customer.created', api_version: '2024-06-20' })]);
  });

  it('list in v2 pages (next_page_url), newest first', async () => {
    const client = harness.client('sk_test_event_destinations_list');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await thinDestination(client, { name: `d${i}` })).id);
    const seen: string[] = [];
    for await (const destination of client.v2.core.eventDestinations.list({ limit: 2 })) seen.push(destination.id);
    expect(seen).toEqual([...ids].reverse());
  });
});
