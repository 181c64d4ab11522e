import Stripe from 'stripe';
import { PLATFORM_KEY, failureOf, startHarness, type Harness } from './harness';

let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness();
  stripe = harness.client();
});
afterAll(() => harness.server.close());

describe('authentication', () => {
  it('answers 401 for a key that is not a test secret key', async () => {
    const error = await failureOf(harness.client('sk_live_notallowed').products.list());
    expect(error).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(error.statusCode).toBe(401);
  });

  it('maps the same key to the same platform account', async () => {
    const first = await harness.client('sk_test_same').accounts.retrieveCurrent();
    const second = await harness.client('sk_test_same').accounts.retrieveCurrent();
    expect(second.id).toBe(first.id);
  });

  it('gives different keys different platform accounts', async () => {
    const a = await harness.client('sk_test_tenant_a').accounts.retrieveCurrent();
    const b = await harness.client('sk_test_tenant_b').accounts.retrieveCurrent();
    expect(a.id).not.toBe(b.id);
  });
});

describe('connected accounts', () => {
  it('keep the business profile name given on create', async () => {
    const created = await stripe.accounts.create({ type: 'express', business_profile: { name: 'Publisher Inc', url: 'https://example.com' } });
    const retrieved = await stripe.accounts.retrieve(created.id);
    expect(retrieved.business_profile).toMatchObject({ name: 'Publisher Inc', url: 'https://example.com' });
  });
});

describe('account isolation', () => {
  it('hides a platform object from a connected account (resource_missing)', async () => {
    const connected = await stripe.accounts.create({ type: 'standard' });
    const product = await stripe.products.create({ name: 'Platform only' });
    const error = await failureOf(stripe.products.retrieve(product.id, {}, { stripeAccount: connected.id }));
    expect(error).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });

  it('hides a connected account object from the platform', async () => {
    const connected = await stripe.accounts.create({ type: 'standard' });
    const product = await stripe.products.create({ name: 'Publisher API' }, { stripeAccount: connected.id });
    const error = await failureOf(stripe.products.retrieve(product.id));
    expect(error).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });

  it('hides one platform\'s objects from another platform', async () => {
    const product = await harness.client('sk_test_isolated_a').products.create({ name: 'Mine' });
    const error = await failureOf(harness.client('sk_test_isolated_b').products.retrieve(product.id));
    expect(error).toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });

  it('refuses a Stripe-Account header for an account the key does not own', async () => {
    const foreign = await harness.client('sk_test_other_platform').accounts.create({ type: 'standard' });
    const error = await failureOf(stripe.products.list({}, { stripeAccount: foreign.id }));
    expect(error).toBeInstanceOf(Stripe.errors.StripePermissionError);
  });

  it('retrieves a connected account from its platform', async () => {
    const connected = await stripe.accounts.create({ type: 'express', country: 'JP' });
    await expect(stripe.accounts.retrieve(connected.id)).resolves.toMatchObject({ id: connected.id, type: 'express', country: 'JP' });
  });
});

describe('idempotency', () => {
  it('replays the first response for the same key and params, with Idempotent-Replayed', async () => {
    const first = await stripe.products.create({ name: 'Once' }, { idempotencyKey: 'product-once' });
    const again = await stripe.products.create({ name: 'Once' }, { idempotencyKey: 'product-once' });
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
  });

  it('rejects the same key with different params (idempotency_error)', async () => {
    await stripe.products.create({ name: 'First' }, { idempotencyKey: 'product-mismatch' });
    const error = await failureOf(stripe.products.create({ name: 'Second' }, { idempotencyKey: 'product-mismatch' }));
    expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
  });

  it('scopes keys to the account', async () => {
    const connected = await stripe.accounts.create({ type: 'standard' });
    const platformProduct = await stripe.products.create({ name: 'Scoped' }, { idempotencyKey: 'scoped-key' });
    const connectedProduct = await stripe.products.create({ name: 'Scoped' }, { idempotencyKey: 'scoped-key', stripeAccount: connected.id });
    expect(connectedProduct.id).not.toBe(platformProduct.id);
  });

  it('does not remember a request that failed validation', async () => {
    await failureOf(stripe.products.create({} as Stripe.ProductCreateParams, { idempotencyKey: 'invalid-first' }));
    await expect(stripe.products.create({ name: 'Valid' }, { idempotencyKey: 'invalid-first' })).resolves.toMatchObject({ name: 'Valid' });
  });
});

describe('request log', () => {
  it('records method, path, account, idempotency key, params and status', async () => {
    harness.server.requests.reset();
    await stripe.customers.create({ email: 'log@example.com' }, { idempotencyKey: 'log-key' });
    const [entry] = harness.server.requests.list();
    expect(entry).toMatchObject({
      method: 'POST',
      path: '/v1/customers',
      route: '/v1/customers',
      account: harness.server.accountIdForKey(PLATFORM_KEY),
      idempotencyKey: 'log-key',
      params: { email: 'log@example.com' },
      status: 200,
    });
  });
});

describe('expand', () => {
  it('expands an id into its object', async () => {
    const product = await stripe.products.create({ name: 'Expanded' });
    const price = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1, expand: ['product'] });
    expect(price.product).toMatchObject({ id: product.id, object: 'product' });
  });
});
