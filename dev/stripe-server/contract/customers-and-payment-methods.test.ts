import type Stripe from 'stripe';
import { failureOf, startHarness, type Harness } from './harness';

let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness();
  stripe = harness.client();
});
afterAll(() => harness.server.close());

describe('customers', () => {
  it('creates a customer with a cus_ id', async () => {
    const customer = await stripe.customers.create({ email: 'a@example.com', name: 'Ada', metadata: { app: 'billing' } });
    expect(customer).toMatchObject({ object: 'customer', email: 'a@example.com', name: 'Ada', metadata: { app: 'billing' } });
    expect(customer.id).toMatch(/^cus_/);
  });

  it('updates metadata key by key and removes keys set to empty', async () => {
    const customer = await stripe.customers.create({ metadata: { keep: '1', drop: '2' } });
    const updated = await stripe.customers.update(customer.id, { metadata: { drop: '', add: '3' } });
    expect(updated.metadata).toEqual({ keep: '1', add: '3' });
  });

  it('deletes a customer; retrieving it then answers deleted: true', async () => {
    const customer = await stripe.customers.create({});
    await expect(stripe.customers.del(customer.id)).resolves.toMatchObject({ id: customer.id, deleted: true });
    await expect(stripe.customers.retrieve(customer.id)).resolves.toMatchObject({ id: customer.id, deleted: true });
  });

  it('lists customers filtered by email', async () => {
    const customer = await stripe.customers.create({ email: 'unique@example.com' });
    const list = await stripe.customers.list({ email: 'unique@example.com' });
    expect(list.data.map((c) => c.id)).toEqual([customer.id]);
  });

  // Stripe's API reference, List all customers, `email`: "A case-sensitive filter on the list based
  // on the customer's email field. The value must be a string." An exact match: no other case, no
  // prefix, and customers without an email are never listed.
  it('filters by email case-sensitively and exactly', async () => {
    const exact = await stripe.customers.create({ email: 'Case.Sensitive@example.com' });
    await stripe.customers.create({ email: 'case.sensitive@example.com' });
    await stripe.customers.create({ email: 'Case.Sensitive@example.com.au' });
    await stripe.customers.create({});
    const list = await stripe.customers.list({ email: 'Case.Sensitive@example.com', limit: 100 });
    expect(list.data.map((c) => c.id)).toEqual([exact.id]);
  });
});

// Stripe's API reference, List all customers (https://docs.stripe.com/api/customers/list): "The
// customers are returned sorted by creation date, with the most recent customers appearing
// first"; `limit` 1-100 (default 10), `starting_after` an object ID cursor, and `has_more` as in
// https://docs.stripe.com/api/pagination. With the `Stripe-Account` header the request acts on
// that connected account (https://docs.stripe.com/connect/authentication), so a connected
// account's customers are listed only there. The SDK's auto-pagination follows `has_more` and
// `starting_after` (https://docs.stripe.com/api/pagination/auto).
// Stripe refuses e-mails it considers malformed: 400 `email_invalid` naming `email`
// (https://docs.stripe.com/error-codes#email-invalid).
describe('customer e-mails', () => {
  it.each(['not-an-email', 'a@b', 'two@@example.com', 'sp ace@example.com', '@example.com'])('refuses %s on create', async (email) => {
    const error = await failureOf(stripe.customers.create({ email }));
    expect(error).toMatchObject({ statusCode: 400, type: 'StripeInvalidRequestError', code: 'email_invalid', param: 'email' });
  });

  it('refuses a malformed e-mail on update and keeps the one it had', async () => {
    const customer = await stripe.customers.create({ email: 'kept@example.com' });
    const error = await failureOf(stripe.customers.update(customer.id, { email: 'broken@' }));
    expect(error).toMatchObject({ statusCode: 400, code: 'email_invalid', param: 'email' });
    await expect(stripe.customers.retrieve(customer.id)).resolves.toMatchObject({ email: 'kept@example.com' });
  });

  it('accepts sub-addressed and sub-domain addresses', async () => {
    await expect(stripe.customers.create({ email: 'first.last+tag@mail.example.co.uk' })).resolves.toMatchObject({
      email: 'first.last+tag@mail.example.co.uk',
    });
  });
});

describe('listing customers per account', () => {
  let platform: Stripe;
  let account: string;

  beforeAll(async () => {
    platform = harness.client(`sk_test_customer_lists_${process.pid}`);
    account = (await platform.accounts.create({ type: 'express' })).id;
  });

  it("lists a connected account's customers only with its Stripe-Account header, newest first", async () => {
    const own = await platform.customers.create({ email: 'platform@example.com' });
    const first = await platform.customers.create({ metadata: { n: '1' } }, { stripeAccount: account });
    const second = await platform.customers.create({ metadata: { n: '2' } }, { stripeAccount: account });
    const inAccount = await platform.customers.list({ limit: 100 }, { stripeAccount: account });
    expect(inAccount.data.map((c) => c.id)).toEqual([second.id, first.id]);
    const onPlatform = await platform.customers.list({ limit: 100 });
    expect(onPlatform.data.map((c) => c.id)).toEqual([own.id]);
  });

  it('pages with limit, starting_after and has_more, and auto-pagination walks every page', async () => {
    const other = (await platform.accounts.create({ type: 'express' })).id;
    const made: string[] = [];
    for (let i = 0; i < 3; i += 1) made.unshift((await platform.customers.create({}, { stripeAccount: other })).id);
    const page = await platform.customers.list({ limit: 2 }, { stripeAccount: other });
    expect(page).toMatchObject({ object: 'list', url: '/v1/customers', has_more: true });
    expect(page.data.map((c) => c.id)).toEqual(made.slice(0, 2));
    const rest = await platform.customers.list({ limit: 2, starting_after: page.data[1]!.id }, { stripeAccount: other });
    expect(rest).toMatchObject({ has_more: false });
    expect(rest.data.map((c) => c.id)).toEqual(made.slice(2));
    const walked: string[] = [];
    for await (const customer of platform.customers.list({ limit: 1 }, { stripeAccount: other })) walked.push(customer.id);
    expect(walked).toEqual(made);
  });

  it('refuses a limit above 100', async () => {
    const error = await failureOf(platform.customers.list({ limit: 101 }, { stripeAccount: account }));
    expect(error).toMatchObject({ statusCode: 400, param: 'limit' });
  });
});

describe('payment methods', () => {
  it('creates a card payment method from a test token', async () => {
    const pm = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } });
    expect(pm).toMatchObject({ object: 'payment_method', type: 'card', customer: null, card: { brand: 'visa', last4: '4242' } });
    expect(pm.id).toMatch(/^pm_/);
  });

  it('attaches a magic test payment method, minting a new pm_ for the customer', async () => {
    const customer = await stripe.customers.create({});
    const pm = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    expect(pm.customer).toBe(customer.id);
    expect(pm.id).not.toBe('pm_card_visa');
  });

  it('sets an attached payment method as the customer default', async () => {
    const customer = await stripe.customers.create({ payment_method: 'pm_card_mastercard' });
    const [pm] = (await stripe.customers.listPaymentMethods(customer.id)).data;
    const updated = await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: pm?.id } });
    expect(updated.invoice_settings.default_payment_method).toBe(pm?.id);
  });

  it('refuses a default payment method that is not attached to the customer', async () => {
    const customer = await stripe.customers.create({});
    const loose = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } });
    const error = await failureOf(stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: loose.id } }));
    expect(error).toMatchObject({ statusCode: 400, param: 'invoice_settings[default_payment_method]' });
  });

  it('clones a platform customer\'s payment method into a connected account', async () => {
    const connected = await stripe.accounts.create({ type: 'standard', country: 'US' });
    const customer = await stripe.customers.create({ payment_method: 'pm_card_visa' });
    const [source] = (await stripe.paymentMethods.list({ customer: customer.id })).data;
    const clone = await stripe.paymentMethods.create(
      { customer: customer.id, payment_method: source?.id },
      { stripeAccount: connected.id },
    );
    expect(clone.id).not.toBe(source?.id);
    expect(clone).toMatchObject({ customer: null, card: { last4: '4242' } });
    await expect(stripe.paymentMethods.retrieve(clone.id, {}, { stripeAccount: connected.id })).resolves.toMatchObject({ id: clone.id });
  });

  it('refuses to clone a payment method that is not attached to the given customer', async () => {
    const connected = await stripe.accounts.create({ type: 'standard' });
    const customer = await stripe.customers.create({});
    const loose = await stripe.paymentMethods.create({ type: 'card', card: { token: 'tok_visa' } });
    const error = await failureOf(
      stripe.paymentMethods.create({ customer: customer.id, payment_method: loose.id }, { stripeAccount: connected.id }),
    );
    expect(error).toMatchObject({ statusCode: 400, param: 'payment_method' });
  });
});
