import Stripe from 'stripe';
import { failureOf, startHarness, type Harness } from './harness';

let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness({ seed: 7 });
  stripe = harness.client();
});
afterAll(() => harness.server.close());
afterEach(() => harness.server.faults.clear());

describe('rate limits', () => {
  it('answers 429 rate_limit once the global requests-per-second is exceeded', async () => {
    harness.server.faults.rateLimit({ global: 2 });
    await stripe.customers.list();
    await stripe.products.list();
    const error = await failureOf(stripe.customers.list());
    expect(error).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(error).toMatchObject({ statusCode: 429, code: 'rate_limit' });
  });

  it('limits each endpoint separately with perEndpoint', async () => {
    harness.server.faults.rateLimit({ perEndpoint: 1 });
    await stripe.customers.list();
    await expect(stripe.products.list()).resolves.toMatchObject({ object: 'list' });
    await expect(failureOf(stripe.customers.list())).resolves.toBeInstanceOf(Stripe.errors.StripeRateLimitError);
  });

  it('limits only the matched endpoint', async () => {
    harness.server.faults.rateLimit({ endpoints: [{ match: { method: 'POST', path: '/v1/billing/meter_events' }, requestsPerSecond: 0 }] });
    await expect(stripe.customers.list()).resolves.toMatchObject({ object: 'list' });
    const error = await failureOf(stripe.billing.meterEvents.create({ event_name: 'x', payload: { stripe_customer_id: 'cus_x', value: '1' } }));
    expect(error).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
  });
});

describe('injected faults', () => {
  it('hold keeps matching requests unhandled until released; others pass meanwhile', async () => {
    const held = harness.server.faults.hold({ method: 'POST', path: '/v1/products' });
    let settled = false;
    const creating = stripe.products.create({ name: 'held' }).finally(() => {
      settled = true;
    });
    while (held.waiting() === 0) await new Promise((resolve) => setTimeout(resolve, 5)); // until it arrives (jest's timeout bounds it)
    // Another request is answered while the first waits.
    await expect(stripe.customers.list()).resolves.toMatchObject({ object: 'list' });
    expect(held.waiting()).toBe(1);
    expect(settled).toBe(false);
    expect((await stripe.products.list({ limit: 100 })).data.map((p) => p.name)).not.toContain('held');
    held.release();
    await expect(creating).resolves.toMatchObject({ object: 'product', name: 'held' });
    await expect(stripe.products.create({ name: 'after release' })).resolves.toMatchObject({ name: 'after release' });
  });

  it('answers 500 api_error on the nth matching request', async () => {
    harness.server.faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/products' }, nth: 2 });
    await stripe.products.create({ name: 'first' });
    const error = await failureOf(stripe.products.create({ name: 'second' }));
    expect(error).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(error.statusCode).toBe(500);
  });

  it('fires only on the matched account', async () => {
    const connected = await stripe.accounts.create({ type: 'standard' });
    harness.server.faults.add({ kind: 'error', match: { account: connected.id } });
    await expect(stripe.customers.list()).resolves.toMatchObject({ object: 'list' });
    await expect(failureOf(stripe.customers.list({}, { stripeAccount: connected.id }))).resolves.toBeInstanceOf(Stripe.errors.StripeAPIError);
  });

  it('drops the connection, which the SDK reports as StripeConnectionError', async () => {
    // The SDK retries a reset connection once even with maxNetworkRetries 0, so drop twice.
    harness.server.faults.add({ kind: 'drop', match: { path: '/v1/customers' }, nth: 1, times: 2 });
    const error = await failureOf(stripe.customers.list());
    expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
  });

  it('loses the response of a request it handled: the object exists, the caller saw a connection error', async () => {
    harness.server.faults.add({ kind: 'lose_response', match: { method: 'POST', path: '/v1/customers' }, times: 2 });
    const error = await failureOf(stripe.customers.create({ email: 'lost@example.com' }, { idempotencyKey: 'lost-response-1' }));
    expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    const replay = await stripe.customers.create({ email: 'lost@example.com' }, { idempotencyKey: 'lost-response-1' });
    const all = await stripe.customers.list({ limit: 100 });
    expect(all.data.filter((c) => c.email === 'lost@example.com').map((c) => c.id)).toEqual([replay.id]);
  });

  it('delays a response by the given time', async () => {
    harness.server.faults.add({ kind: 'delay', match: { path: '/v1/products' }, delayMs: 150 });
    const started = Date.now();
    await stripe.products.list();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('injects rate-based faults deterministically for a given seed', async () => {
    const statuses = async (h: Harness) => {
      h.server.faults.clear(1234);
      h.server.faults.add({ kind: 'error', rate: 0.5 });
      const client = h.client();
      const results: string[] = [];
      for (let i = 0; i < 12; i++) results.push(await client.customers.list().then(() => 'ok', () => 'error'));
      return results;
    };
    const other = await startHarness();
    try {
      const first = await statuses(harness);
      expect(first).toContain('error');
      expect(first).toContain('ok');
      await expect(statuses(other)).resolves.toEqual(first);
    } finally {
      await other.server.close();
    }
  });
});
