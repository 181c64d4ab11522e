import Stripe from 'stripe';
import { migrateLatest } from '../../helpers/migrations';
import { retryingHttpClient } from '../../../plugins/stripe/retry';
import { forEachTestDatabase } from '../../helpers/databases';
import type { LoggedRequest } from '../../../dev/stripe-server/request-log';
import { monetizedWorld, type MonetizedWorld, perRequest, uniquePlatformKey, useStripeServer } from './harness';

/**
 * Stripe saves the first answer to an idempotency key once the endpoint began, 500s included,
 * and replays it for at least 24 h; after that the key may be forgotten and a repeat is a new
 * request (https://docs.stripe.com/api/idempotent_requests,
 * https://docs.stripe.com/error-low-level#idempotency). Meterline's keys are derived from
 * meaning, so the engine must get past a saved 500 without waiting a day (a fresh key of the
 * intent's chain) and must not make a second object when it retries after the key is gone
 * (find by metadata before creating).
 */
const stripeServer = useStripeServer();
const HOUR = 3_600;

describe('the retry layer and a saved 500', () => {
  const client = () => {
    const server = stripeServer();
    return new Stripe(uniquePlatformKey(), {
      host: server.host,
      port: server.port,
      protocol: 'http',
      maxNetworkRetries: 0,
      telemetry: false,
      httpClient: retryingHttpClient({ retries: 3, initialDelayMs: 1, maxDelayMs: 1 }, undefined, async () => undefined),
    });
  };
  const sentWith = (key: string) => stripeServer().requests.list((r) => r.idempotencyKey === key).map((r) => [r.status, r.replayed]);

  it('does not re-send a 500 Stripe saved (Stripe-Should-Retry: false), nor a replay of it', async () => {
    stripeServer().faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/products' }, times: 1 });
    const stripe = client();
    await expect(stripe.products.create({ name: 'saved' }, { idempotencyKey: 'layer-saved' })).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    await expect(stripe.products.create({ name: 'saved' }, { idempotencyKey: 'layer-saved' })).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(sentWith('layer-saved')).toEqual([
      [500, false],
      [500, true],
    ]);
  });

  it('re-sends a 5xx Stripe did not save, with the same key, and succeeds', async () => {
    stripeServer().faults.add({ kind: 'error', stored: false, match: { method: 'POST', path: '/v1/products' }, times: 1 });
    await expect(client().products.create({ name: 'unsaved' }, { idempotencyKey: 'layer-unsaved' })).resolves.toMatchObject({ name: 'unsaved' });
    expect(sentWith('layer-unsaved')).toEqual([
      [500, false],
      [200, false],
    ]);
  });
});

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  async function subscribe(world: MonetizedWorld, card = false) {
    const subscriber = await world.seed.subscriber();
    if (card) {
      // The subscriber saved a card with the platform (what a checkout page would do).
      const platformCustomer = await world.stripe.customers.create({ email: subscriber.email!, metadata: { meterline_subscriber: subscriber.userId, meterline_tenant: 'carbon.super' } });
      await world.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').insert({ SUBSCRIBER_ID: subscriber.id, TENANT_ID: -1234, CUSTOMER_ID: platformCustomer.id });
      const method = await world.stripe.paymentMethods.attach('pm_card_visa', { customer: platformCustomer.id });
      await world.stripe.customers.update(platformCustomer.id, { invoice_settings: { default_payment_method: method.id } });
    }
    const app = await world.seed.application(subscriber);
    return world.seed.subscription(world.api, app, subscriber, world.gold);
  }

  /** What the world's platform and connected account hold, to prove nothing was made twice. */
  async function objects(world: MonetizedWorld) {
    const connected = { stripeAccount: world.account };
    const shared = (await world.stripe.customers.list({ limit: 100 }, connected)).data;
    const cards = shared.length === 1 ? (await world.stripe.customers.listPaymentMethods(shared[0]!.id, { limit: 100 }, connected)).data : [];
    const subscriptions = (await world.stripe.subscriptions.list({ status: 'all', limit: 100 }, connected)).data;
    return {
      platformCustomers: (await world.stripe.customers.list({ limit: 100 })).data.length,
      sharedCustomers: shared.length,
      cardsOfSharedCustomer: cards.length,
      liveSubscriptions: subscriptions.filter((s) => s.status !== 'canceled').map((s) => s.id),
    };
  }

  const requestsTo = (world: MonetizedWorld, method: string, path: string, account: string): LoggedRequest[] =>
    stripeServer()
      .requests.list()
      .filter((r) => r.method === method && r.path === path && r.account === account && r.idempotencyKey?.startsWith('meterline:'));

  describe('a 500 Stripe saved under the key of a create', () => {
    const steps: Array<[string, { path: string; connected: boolean }]> = [
      ['the platform customer', { path: '/v1/customers', connected: false }],
      ['the shared customer', { path: '/v1/customers', connected: true }],
      ['the subscription', { path: '/v1/subscriptions', connected: true }],
    ];

    it.each(steps)('%s: the first attempt is a retryable failure; the next succeeds at once under a fresh key, making one of each', async (_step, where) => {
      const world = await monetizedWorld(stripeServer(), database().knex);
      const subscription = await subscribe(world);
      const account = where.connected ? world.account : (await world.stripe.accounts.retrieveCurrent()).id;
      stripeServer().faults.add({ kind: 'error', match: { method: 'POST', path: where.path, account }, times: 1 });

      await expect(world.engine.createSubscription(subscription)).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
      const [failed] = requestsTo(world, 'POST', where.path, account);
      expect(failed).toMatchObject({ status: 500, replayed: false });

      // No clock moves: Stripe would replay that 500 to the same key for a day.
      const outcome = await world.engine.createSubscription(subscription);
      expect(outcome.billed).toBe(true);
      const sent = requestsTo(world, 'POST', where.path, account).map((r) => ({ key: r.idempotencyKey, status: r.status, replayed: r.replayed }));
      expect(sent).toEqual([
        { key: failed!.idempotencyKey, status: 500, replayed: false },
        { key: failed!.idempotencyKey, status: 500, replayed: true },
        { key: `${failed!.idempotencyKey}:after-stored-error:1`, status: 200, replayed: false },
      ]);
      expect(await objects(world)).toEqual({
        platformCustomers: 1,
        sharedCustomers: 1,
        cardsOfSharedCustomer: 0,
        liveSubscriptions: [outcome.engineSubscriptionId],
      });
    });
  });

  it("a meter: monetizing with a per-request plan gets past a saved 500 on the meter's create at once, making one meter", async () => {
    const world = await monetizedWorld(stripeServer(), database().knex);
    const metered = await world.seed.policy('Metered', perRequest('0.01'));
    const api = await world.seed.api({ provider: `alice-${world.account.slice(-6)}` });
    const properties = { ConnectedAccountKey: world.account };
    stripeServer().faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/billing/meters', account: world.account }, times: 1 });

    await expect(world.engine.enableMonetization({ api, policies: [metered], properties })).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    await world.engine.enableMonetization({ api, policies: [metered], properties });

    const sent = requestsTo(world, 'POST', '/v1/billing/meters', world.account).map((r) => ({ status: r.status, replayed: r.replayed }));
    expect(sent).toEqual([
      { status: 500, replayed: false },
      { status: 500, replayed: true },
      { status: 200, replayed: false },
    ]);
    const meters = (await world.stripe.billing.meters.list({ status: 'active', limit: 100 }, { stripeAccount: world.account })).data;
    expect(meters.filter((meter) => meter.event_name.includes(api.uuid.replace(/[^A-Za-z0-9]/g, '')))).toHaveLength(1);
  });

  describe('a retry 25 h later, after Stripe forgot the keys', () => {
    it('adopts the customers, the card clone and the subscription an earlier attempt made instead of making them again', async () => {
      const world = await monetizedWorld(stripeServer(), database().knex);
      const subscription = await subscribe(world, true);
      // Every create takes effect but its answer is lost (twice: the SDK re-sends a closed connection once).
      for (const path of ['/v1/customers', '/v1/payment_methods', '/v1/subscriptions']) {
        stripeServer().faults.add({ kind: 'lose_response', match: { method: 'POST', path, account: world.account }, times: 2 });
      }
      const attempts = [];
      for (let i = 0; i < 3; i += 1) attempts.push(await world.engine.createSubscription(subscription).then(() => 'ok', (e: { code?: string }) => e.code));
      expect(attempts).toEqual(['ENGINE_UNAVAILABLE', 'ENGINE_UNAVAILABLE', 'ENGINE_UNAVAILABLE']);
      stripeServer().faults.clear();
      const made = await objects(world);
      expect(made).toMatchObject({ platformCustomers: 1, sharedCustomers: 1, cardsOfSharedCustomer: 1, liveSubscriptions: [expect.any(String)] });

      stripeServer().clock.advance(25 * HOUR);
      const outcome = await world.engine.createSubscription(subscription);
      expect(await objects(world)).toEqual({ ...made, liveSubscriptions: [outcome.engineSubscriptionId] });
      expect(made.liveSubscriptions).toEqual([outcome.engineSubscriptionId]);
      const stripeSub = await world.stripe.subscriptions.retrieve(outcome.engineSubscriptionId!, {}, { stripeAccount: world.account });
      expect(stripeSub.collection_method).toBe('charge_automatically');
    });

    it('reuses the card clone attached before a failure, though its clone key is forgotten', async () => {
      const world = await monetizedWorld(stripeServer(), database().knex);
      const subscription = await subscribe(world, true);
      // Setting the clone as the shared customer's default fails: the clone exists, attached, unrecorded.
      stripeServer().faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/customers/:id', account: world.account }, times: 1 });
      await expect(world.engine.createSubscription(subscription)).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
      expect((await objects(world)).cardsOfSharedCustomer).toBe(1);

      stripeServer().clock.advance(25 * HOUR);
      const outcome = await world.engine.createSubscription(subscription);
      expect(await objects(world)).toEqual({ platformCustomers: 1, sharedCustomers: 1, cardsOfSharedCustomer: 1, liveSubscriptions: [outcome.engineSubscriptionId] });
    });
  });
});
