import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { startHarness, type Harness } from './harness';
import { monthlyPrice, payingCustomer } from './billing-fixtures';

/** A receiver that keeps every raw body and signature header it is sent. */
interface Received {
  body: string;
  signature: string;
}

let harness: Harness;
let stripe: Stripe;
let receiver: Server;
let receiverUrl: string;
const received: Received[] = [];

beforeAll(async () => {
  harness = await startHarness();
  stripe = harness.client();
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['stripe-signature']) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks`;
});
afterAll(async () => {
  await harness.server.close();
  await new Promise((resolve) => receiver.close(resolve));
});
beforeEach(async () => {
  await harness.server.webhooks.flush();
  received.length = 0;
});

/** A platform with its own webhook endpoint (and its own received list view). */
async function platformWithEndpoint(key: string, params: Partial<Stripe.WebhookEndpointCreateParams> = {}) {
  const client = harness.client(key);
  const endpoint = await client.webhookEndpoints.create({ url: receiverUrl, enabled_events: ['*'], ...params });
  return { client, endpoint, secret: endpoint.secret as string };
}

function events(secret: string): Stripe.Event[] {
  return received.map((r) => stripe.webhooks.constructEvent(r.body, r.signature, secret));
}

describe('webhook endpoints', () => {
  it('returns a whsec_ signing secret on create only', async () => {
    const { client, endpoint } = await platformWithEndpoint('sk_test_wh_secret');
    expect(endpoint.secret).toMatch(/^whsec_/);
    const retrieved = await client.webhookEndpoints.retrieve(endpoint.id);
    expect(retrieved.secret).toBeUndefined();
  });

  it('lists and deletes endpoints', async () => {
    const { client, endpoint } = await platformWithEndpoint('sk_test_wh_list');
    await expect(client.webhookEndpoints.list()).resolves.toMatchObject({ data: [{ id: endpoint.id }] });
    await expect(client.webhookEndpoints.del(endpoint.id)).resolves.toMatchObject({ id: endpoint.id, deleted: true });
  });
});

describe('webhook deliveries', () => {
  it('are signed so the SDK\'s constructEvent accepts them', async () => {
    const { client, secret } = await platformWithEndpoint('sk_test_wh_signed');
    const customer = await payingCustomer(client);
    const price = await monthlyPrice(client, 1000);
    await client.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    await harness.server.webhooks.flush();
    const types = events(secret).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['customer.subscription.created', 'invoice.finalized', 'invoice.paid']));
  });

  it('are rejected by constructEvent with the wrong secret', async () => {
    await platformWithEndpoint('sk_test_wh_wrong');
    await harness.client('sk_test_wh_wrong').customers.create({});
    await harness.server.webhooks.flush();
    const first = received[0] as Received;
    expect(() => stripe.webhooks.constructEvent(first.body, first.signature, 'whsec_wrong')).toThrow(
      Stripe.errors.StripeSignatureVerificationError,
    );
  });

  it('carry Stripe\'s event envelope', async () => {
    const { client, secret } = await platformWithEndpoint('sk_test_wh_envelope');
    await client.customers.create({ email: 'env@example.com' });
    await harness.server.webhooks.flush();
    const [event] = events(secret);
    expect(event).toMatchObject({ object: 'event', type: 'customer.created', livemode: false, api_version: Stripe.API_VERSION });
    expect(event?.id).toMatch(/^evt_/);
    expect(event?.data.object).toMatchObject({ object: 'customer', email: 'env@example.com' });
  });

  it('only include the enabled event types', async () => {
    const { client, secret } = await platformWithEndpoint('sk_test_wh_filter', { enabled_events: ['invoice.payment_failed'] });
    const customer = await payingCustomer(client);
    const price = await monthlyPrice(client, 1000);
    harness.server.payments.failNext({ customer: customer.id });
    await client.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
    await harness.server.webhooks.flush();
    expect(events(secret).map((e) => e.type)).toEqual(['invoice.payment_failed']);
  });

  it('reach a connect endpoint for connected-account events, with `account` set', async () => {
    const { client, secret } = await platformWithEndpoint('sk_test_wh_connect', { connect: true });
    const connected = await client.accounts.create({ type: 'standard' });
    await client.customers.create({}, { stripeAccount: connected.id });
    await harness.server.webhooks.flush();
    expect(events(secret)).toEqual([expect.objectContaining({ type: 'customer.created', account: connected.id })]);
  });

  it('do not reach a platform endpoint without connect for connected-account events', async () => {
    const { client } = await platformWithEndpoint('sk_test_wh_noconnect');
    const connected = await client.accounts.create({ type: 'standard' });
    await harness.server.webhooks.flush();
    received.length = 0;
    await client.customers.create({}, { stripeAccount: connected.id });
    await harness.server.webhooks.flush();
    expect(received).toEqual([]);
  });

  it('are logged with the receiver\'s status code', async () => {
    const { client, endpoint } = await platformWithEndpoint('sk_test_wh_log');
    await client.customers.create({});
    await harness.server.webhooks.flush();
    const log = harness.server.webhooks.deliveries().filter((d) => d.endpointId === endpoint.id);
    expect(log).toEqual([expect.objectContaining({ eventType: 'customer.created', status: 200, error: null })]);
  });
});

describe('event API versions', () => {
  // https://docs.stripe.com/webhooks/versioning: an endpoint gets events rendered at its own
  // api_version, or at the account's default when it has none. 2025-03-31.basil moved the
  // invoice's subscription under `parent` and removed `paid`/`payment_intent`
  // (https://docs.stripe.com/changelog/basil/2025-03-31/adds-new-parent-field-to-invoicing-objects,
  // https://docs.stripe.com/changelog/basil/2025-03-31/add-support-for-multiple-partial-payments-on-invoices),
  // and the subscription's current period onto its items
  // (https://docs.stripe.com/changelog/basil/2025-03-31/deprecate-subscription-current-period-start-and-end).
  async function invoicePaid(key: string, params: Partial<Stripe.WebhookEndpointCreateParams>) {
    const { client, endpoint, secret } = await platformWithEndpoint(key, params);
    const customer = await payingCustomer(client);
    const price = await monthlyPrice(client, 1000);
    const subscription = await client.subscriptions.create({ customer: customer.id, items: [{ price: price.id }], metadata: { mine: 'yes' } });
    await harness.server.webhooks.flush();
    const delivered = events(secret);
    const paid = delivered.find((e) => e.type === 'invoice.paid')!;
    const created = delivered.find((e) => e.type === 'customer.subscription.created')!;
    return { client, endpoint, subscription, paid, created };
  }

  it('an endpoint created without a version is null, and gets the account default version (the current one here)', async () => {
    const { endpoint, subscription, paid } = await invoicePaid('sk_test_wh_v_default', {});
    expect(endpoint.api_version).toBeNull();
    expect(paid.api_version).toBe(Stripe.API_VERSION);
    const invoice = paid.data.object as unknown as Record<string, unknown>;
    expect(invoice).toMatchObject({ parent: { subscription_details: { subscription: subscription.id, metadata: { mine: 'yes' } } } });
    expect(invoice).not.toHaveProperty('subscription');
    expect(invoice).not.toHaveProperty('paid');
  });

  it('an endpoint on 2024-06-20 gets invoices with top-level subscription and subscription_details and no parent', async () => {
    const { client, endpoint, subscription, paid, created } = await invoicePaid('sk_test_wh_v_old', { api_version: '2024-06-20' });
    expect(endpoint.api_version).toBe('2024-06-20');
    expect(paid.api_version).toBe('2024-06-20');
    const invoice = paid.data.object as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(invoice).not.toHaveProperty('parent');
    expect(invoice).toMatchObject({ subscription: subscription.id, subscription_details: { metadata: { mine: 'yes' } }, paid: true, status: 'paid' });
    expect(invoice.lines.data[0]).toMatchObject({ type: 'subscription', subscription: subscription.id, subscription_item: subscription.items.data[0]!.id, proration: false });
    expect(invoice.lines.data[0]).not.toHaveProperty('parent');
    const sub = created.data.object as unknown as Record<string, unknown>;
    expect(sub.current_period_end).toBe(subscription.items.data[0]!.current_period_end);
    // The account's own copy (GET /v1/events) stays at its default version.
    const stored = await client.events.retrieve(paid.id);
    expect(stored.api_version).toBe(Stripe.API_VERSION);
    expect(stored.data.object).toHaveProperty('parent');
  });

  it('refuses an api_version that is not a version', async () => {
    const error = await harness.client('sk_test_wh_v_bad').webhookEndpoints.create({ url: receiverUrl, enabled_events: ['*'], api_version: 'latest' as Stripe.WebhookEndpointCreateParams.ApiVersion }).catch((e: unknown) => e);
    expect(error).toMatchObject({ statusCode: 400, param: 'api_version' });
  });
});

describe('delivery controls', () => {
  afterEach(() => harness.server.webhooks.resume());

  it('pause holds deliveries until resume', async () => {
    const { client } = await platformWithEndpoint('sk_test_wh_pause');
    harness.server.webhooks.pause();
    await client.customers.create({});
    await harness.server.webhooks.flush();
    expect(received).toHaveLength(0);
    harness.server.webhooks.resume();
    await harness.server.webhooks.flush();
    expect(received).toHaveLength(1);
  });

  it('reorder changes the delivery order of pending events', async () => {
    const { client, secret } = await platformWithEndpoint('sk_test_wh_reorder');
    harness.server.webhooks.pause();
    await client.customers.create({ email: 'first@example.com' });
    await client.customers.create({ email: 'second@example.com' });
    const pending = harness.server.webhooks.pending().map((d) => d.event.id);
    harness.server.webhooks.reorder([...pending].reverse());
    harness.server.webhooks.resume();
    await harness.server.webhooks.flush();
    expect(events(secret).map((e) => e.id)).toEqual([...pending].reverse());
  });

  it('replay delivers an event again', async () => {
    const { client, secret } = await platformWithEndpoint('sk_test_wh_replay');
    await client.customers.create({});
    await harness.server.webhooks.flush();
    const [original] = events(secret);
    harness.server.webhooks.replay(original?.id as string);
    await harness.server.webhooks.flush();
    expect(events(secret).map((e) => e.id)).toEqual([original?.id, original?.id]);
  });
});
