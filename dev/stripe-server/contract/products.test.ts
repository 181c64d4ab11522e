import type Stripe from 'stripe';
import { failureOf, startHarness, type Harness } from './harness';

let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness();
  stripe = harness.client();
});
afterAll(() => harness.server.close());

describe('products', () => {
  it('creates a product with a prod_ id and the fields it was given', async () => {
    const product = await stripe.products.create({ name: 'Gold', metadata: { tier: 'gold' } });
    expect(product).toMatchObject({ object: 'product', name: 'Gold', active: true, metadata: { tier: 'gold' }, livemode: false });
    expect(product.id).toMatch(/^prod_/);
  });

  it('retrieves a product by id', async () => {
    const created = await stripe.products.create({ name: 'Silver' });
    await expect(stripe.products.retrieve(created.id)).resolves.toMatchObject({ id: created.id, name: 'Silver' });
  });

  it('archives a product with active=false', async () => {
    const created = await stripe.products.create({ name: 'Bronze' });
    const archived = await stripe.products.update(created.id, { active: false });
    expect(archived.active).toBe(false);
  });

  it('lists newest first in a list envelope', async () => {
    const older = await stripe.products.create({ name: 'Older' });
    const newer = await stripe.products.create({ name: 'Newer' });
    const list = await stripe.products.list({ limit: 2 });
    expect(list).toMatchObject({ object: 'list', url: '/v1/products', has_more: true });
    expect(list.data.map((p) => p.id)).toEqual([newer.id, older.id]);
  });

  it('pages with starting_after', async () => {
    const first = await stripe.products.create({ name: 'Page A' });
    const second = await stripe.products.create({ name: 'Page B' });
    const page = await stripe.products.list({ limit: 1, starting_after: second.id });
    expect(page.data[0]?.id).toBe(first.id);
  });

  it('filters the list by active', async () => {
    const archived = await stripe.products.create({ name: 'Archived', active: false });
    const list = await stripe.products.list({ active: false, limit: 100 });
    expect(list.data.every((p) => !p.active)).toBe(true);
    expect(list.data.map((p) => p.id)).toContain(archived.id);
  });

  it('answers resource_missing (404) for an unknown id', async () => {
    const error = await failureOf(stripe.products.retrieve('prod_doesnotexist'));
    expect(error).toMatchObject({ type: 'StripeInvalidRequestError', statusCode: 404, code: 'resource_missing', param: 'id' });
  });

  it('answers parameter_missing when name is absent', async () => {
    const error = await failureOf(stripe.products.create({} as Stripe.ProductCreateParams));
    expect(error).toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'name' });
  });

  it('answers parameter_unknown for a parameter Stripe does not have', async () => {
    const error = await failureOf(stripe.products.create({ name: 'X', colour: 'red' } as Stripe.ProductCreateParams));
    expect(error).toMatchObject({ statusCode: 400, code: 'parameter_unknown', param: 'colour' });
  });
});
