import Stripe from 'stripe';
import { DAY, failureOf, START, startHarness, type Harness } from './harness';

/**
 * Stripe saves the status code and body of the first request made with an idempotency key once
 * the endpoint began executing, 500 errors included, and replays it to every repeat; keys may be
 * removed once at least 24 hours old, and a repeat after that is a new request
 * (https://docs.stripe.com/api/idempotent_requests, https://docs.stripe.com/error-low-level#idempotency).
 */
let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client();
});
afterAll(() => harness.server.close());
afterEach(() => harness.server.faults.clear());

const customerCount = async (email: string) => (await stripe.customers.list({ email, limit: 100 })).data.length;

describe('a 500 of an endpoint that began executing', () => {
  it('is saved and replayed with Idempotent-Replayed, Stripe-Should-Retry false, and nothing is created', async () => {
    harness.server.faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/customers' }, times: 1 });
    const first = await failureOf(stripe.customers.create({ email: 'stored@example.com' }, { idempotencyKey: 'stored-500' }));
    expect(first).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(first.statusCode).toBe(500);
    expect(first.headers?.['stripe-should-retry']).toBe('false');

    // The fault fired once; the repeat is answered from the saved result, not by running the endpoint.
    const again = await failureOf(stripe.customers.create({ email: 'stored@example.com' }, { idempotencyKey: 'stored-500' }));
    expect(again).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(again.statusCode).toBe(500);
    expect(again.headers?.['idempotent-replayed']).toBe('true');
    expect(again.headers?.['stripe-should-retry']).toBe('false');
    expect(again.message).toBe(first.message);
    expect(await customerCount('stored@example.com')).toBe(0);

    // Another key is another request.
    await expect(stripe.customers.create({ email: 'stored@example.com' }, { idempotencyKey: 'stored-500:2' })).resolves.toMatchObject({
      email: 'stored@example.com',
    });
  });

  it('is not counted by the fault rule when replayed (the replay does not run the endpoint)', async () => {
    harness.server.faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/products' }, times: 2 });
    await failureOf(stripe.products.create({ name: 'p' }, { idempotencyKey: 'rule-count' }));
    await failureOf(stripe.products.create({ name: 'p' }, { idempotencyKey: 'rule-count' }));
    // The rule's second firing is still there for the next new request.
    expect((await failureOf(stripe.products.create({ name: 'q' }, { idempotencyKey: 'rule-count-2' }))).statusCode).toBe(500);
    await expect(stripe.products.create({ name: 'r' }, { idempotencyKey: 'rule-count-3' })).resolves.toMatchObject({ name: 'r' });
  });
});

describe('a 5xx before the endpoint began (stored: false)', () => {
  it('is not saved: Stripe-Should-Retry true, and a repeat with the same key runs', async () => {
    harness.server.faults.add({ kind: 'error', stored: false, match: { method: 'POST', path: '/v1/customers' }, times: 1 });
    const first = await failureOf(stripe.customers.create({ email: 'unsaved@example.com' }, { idempotencyKey: 'unsaved-500' }));
    expect(first.statusCode).toBe(500);
    expect(first.headers?.['stripe-should-retry']).toBe('true');
    const retried = await stripe.customers.create({ email: 'unsaved@example.com' }, { idempotencyKey: 'unsaved-500' });
    expect(retried.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect(await customerCount('unsaved@example.com')).toBe(1);
  });
});

describe('the stored switch over the HTTP controls', () => {
  it('POST /_test/faults takes stored: false, and refuses a stored that is not a boolean', async () => {
    const add = (body: unknown) => fetch(`${harness.server.url}/_test/faults`, { method: 'POST', body: JSON.stringify(body) });
    expect((await add({ kind: 'error', stored: 'no' })).status).toBe(400);
    expect((await add({ kind: 'error', stored: false, match: { method: 'POST', path: '/v1/products' } })).status).toBe(200);
    const first = await failureOf(stripe.products.create({ name: 'over http' }, { idempotencyKey: 'http-unsaved' }));
    expect(first.headers?.['stripe-should-retry']).toBe('true');
    await fetch(`${harness.server.url}/_test/faults`, { method: 'DELETE' });
    await expect(stripe.products.create({ name: 'over http' }, { idempotencyKey: 'http-unsaved' })).resolves.toMatchObject({ name: 'over http' });
  });
});

describe('key lifetime (24 h on the server clock)', () => {
  it('replays within 24 h and runs the request again after 24 h', async () => {
    const first = await stripe.customers.create({ email: 'forgotten@example.com' }, { idempotencyKey: 'forgotten-key' });
    harness.server.clock.advance(DAY - 1);
    const within = await stripe.customers.create({ email: 'forgotten@example.com' }, { idempotencyKey: 'forgotten-key' });
    expect(within.id).toBe(first.id);
    expect(within.lastResponse.headers['idempotent-replayed']).toBe('true');

    harness.server.clock.advance(1);
    const after = await stripe.customers.create({ email: 'forgotten@example.com' }, { idempotencyKey: 'forgotten-key' });
    expect(after.id).not.toBe(first.id);
    expect(after.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect(await customerCount('forgotten@example.com')).toBe(2);
  });

  it('forgets a saved 500 after 24 h: the repeat then runs', async () => {
    harness.server.faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/products' }, times: 1 });
    await failureOf(stripe.products.create({ name: 'late' }, { idempotencyKey: 'late-500' }));
    harness.server.clock.advance(DAY + 3600);
    await expect(stripe.products.create({ name: 'late' }, { idempotencyKey: 'late-500' })).resolves.toMatchObject({ name: 'late' });
  });
});
