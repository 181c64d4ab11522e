import type { Knex } from 'knex';
import type Stripe from 'stripe';
import { migrateLatest } from '../../helpers/migrations';
import type { SubscriptionPolicy } from '../../../src/domain/model';
import type { Monetization } from '../../../src/monetization/monetization';
import { forEachTestDatabase } from '../../helpers/databases';
import { DEFAULT_AGGREGATION_DELAY_SECONDS } from '../../../dev/stripe-server';
import { buildEngine, connectedAccount, fixedMonthly, GatewaySeed, perRequest, sdkFor, tenantWithKey, uniquePlatformKey, useStripeServer } from './harness';

const stripeServer = useStripeServer();

interface World {
  key: string;
  db: Knex;
  engine: Monetization;
  seed: GatewaySeed;
  stripe: Stripe;
  account: string;
  gold: SubscriptionPolicy;
  perCall: SubscriptionPolicy;
  free: SubscriptionPolicy;
  api: Awaited<ReturnType<GatewaySeed['api']>>;
}

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  /** A monetized API (fixed, per-request and free tiers) in a fresh platform with a connected account. */
  async function monetizedWorld(engineOptions: Record<string, unknown> = {}): Promise<World> {
    const key = uniquePlatformKey();
    const db = database().knex;
    const engine = buildEngine(stripeServer(), db, [tenantWithKey(key)], engineOptions);
    const seed = new GatewaySeed(db);
    const stripe = sdkFor(stripeServer(), key);
    const account = await connectedAccount(stripe);
    const free = await seed.policy('Bronze', null);
    const gold = await seed.policy('Gold', fixedMonthly('10'));
    const perCall = await seed.policy('PerCall', perRequest('0.0005'));
    const api = await seed.api({ provider: `alice-${account.slice(-6)}` });
    const properties = { ConnectedAccountKey: account };
    await engine.enableMonetization({ api, policies: [free, gold, perCall], properties });
    await seed.recordMonetization(api, true, properties);
    return { key, db, engine, seed, stripe, account, gold, perCall, free, api };
  }

  async function subscribe(world: World, policy: SubscriptionPolicy, subscriber?: { id: number; userId: string; email: string | null }) {
    const who = subscriber ?? (await world.seed.subscriber());
    const app = await world.seed.application(who);
    const subscription = await world.seed.subscription(world.api, app, who, policy);
    return { subscription, app, subscriber: who };
  }

  /** The Stripe subscription ids recorded for the world's API. */
  async function rowsOf(world: World): Promise<string[]> {
    const rows = await world.db('AM_MONETIZATION_SUBSCRIPTIONS').where({ SUBSCRIBED_API_ID: world.api.id }).select('SUBSCRIPTION_ID');
    return rows.map((r: { SUBSCRIPTION_ID: string }) => r.SUBSCRIPTION_ID);
  }

  async function liveSubscriptionsIn(world: World): Promise<Stripe.Subscription[]> {
    const all = await world.stripe.subscriptions.list({ status: 'all', limit: 100 }, { stripeAccount: world.account });
    return all.data.filter((s) => s.status !== 'canceled');
  }

  describe('subscribing', () => {
    it('creates the platform customer, the shared customer and the Stripe subscription, and records them', async () => {
      const world = await monetizedWorld();
      const { subscription, subscriber } = await subscribe(world, world.gold);
      const outcome = await world.engine.createSubscription(subscription);

      expect(outcome).toMatchObject({ billed: true, access: 'UNBLOCKED' });
      const stripeSub = await world.stripe.subscriptions.retrieve(outcome.engineSubscriptionId!, {}, { stripeAccount: world.account });
      expect(stripeSub.items.data[0]!.price.id).toBe((await world.engine.getMonetizedPoliciesToPlanMapping(world.api))[world.gold.name]);
      expect(stripeSub.metadata).toMatchObject({ meterline_subscription_uuid: subscription.uuid });

      const platformCustomers = await world.stripe.customers.list({ limit: 10 });
      expect(platformCustomers.data.map((c) => c.email)).toEqual([subscriber.email]);
      const shared = await world.stripe.customers.retrieve(stripeSub.customer as string, {}, { stripeAccount: world.account });
      expect(shared).toMatchObject({ email: subscriber.email, metadata: { meterline_platform_customer: platformCustomers.data[0]!.id } });

      const row = await world.db('AM_MONETIZATION_SUBSCRIPTIONS').where({ SUBSCRIPTION_ID: stripeSub.id }).first();
      expect(row).toBeDefined();
    });

    it('without a saved payment method the subscription is invoiced (send_invoice), never charged to a test card', async () => {
      const world = await monetizedWorld({ days_until_due: 14 });
      const { subscription } = await subscribe(world, world.gold);
      const { engineSubscriptionId } = await world.engine.createSubscription(subscription);
      const stripeSub = await world.stripe.subscriptions.retrieve(engineSubscriptionId!, {}, { stripeAccount: world.account });
      expect(stripeSub).toMatchObject({ collection_method: 'send_invoice', days_until_due: 14, default_payment_method: null });
      const tokens = stripeServer().requests.list().filter((r) => r.path.startsWith('/v1/tokens') || JSON.stringify(r.params).includes('tok_visa'));
      expect(tokens).toEqual([]);
    });

    it("with the subscriber's saved card, the card is cloned into the connected account and charged automatically", async () => {
      const world = await monetizedWorld();
      const subscriber = await world.seed.subscriber();
      // The subscriber saved a card with the platform (what a checkout page would do).
      const platformCustomer = await world.stripe.customers.create({ email: subscriber.email! });
      await world.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').insert({ SUBSCRIBER_ID: subscriber.id, TENANT_ID: -1234, CUSTOMER_ID: platformCustomer.id });
      const card = await world.stripe.paymentMethods.attach('pm_card_visa', { customer: platformCustomer.id });
      await world.stripe.customers.update(platformCustomer.id, { invoice_settings: { default_payment_method: card.id } });

      const { subscription } = await subscribe(world, world.gold, subscriber);
      const { engineSubscriptionId } = await world.engine.createSubscription(subscription);
      const stripeSub = await world.stripe.subscriptions.retrieve(engineSubscriptionId!, {}, { stripeAccount: world.account });
      expect(stripeSub.collection_method).toBe('charge_automatically');
      const clone = await world.stripe.paymentMethods.retrieve(stripeSub.default_payment_method as string, {}, { stripeAccount: world.account });
      expect(clone.id).not.toBe(card.id);
      expect(clone.card?.last4).toBe('4242');
      expect(clone.customer).toBe(stripeSub.customer);
    });

    it('a second subscription of the same application to another API of the provider reuses the shared customer', async () => {
      const world = await monetizedWorld();
      const subscriber = await world.seed.subscriber();
      const app = await world.seed.application(subscriber);
      const secondApi = await world.seed.api({ provider: world.api.provider });
      await world.engine.enableMonetization({ api: secondApi, policies: [world.perCall], properties: { ConnectedAccountKey: world.account } });
      await world.seed.recordMonetization(secondApi, true, { ConnectedAccountKey: world.account });

      const first = await world.engine.createSubscription(await world.seed.subscription(world.api, app, subscriber, world.perCall));
      const second = await world.engine.createSubscription(await world.seed.subscription(secondApi, app, subscriber, world.perCall));
      const [a, b] = await Promise.all(
        [first, second].map((o) => world.stripe.subscriptions.retrieve(o.engineSubscriptionId!, {}, { stripeAccount: world.account })),
      );
      expect(a!.customer).toBe(b!.customer);
      expect(a!.items.data[0]!.price.recurring?.meter).not.toBe(b!.items.data[0]!.price.recurring?.meter);
    });

    it('subscribing twice is a no-op that returns the same Stripe subscription', async () => {
      const world = await monetizedWorld();
      const { subscription } = await subscribe(world, world.gold);
      const first = await world.engine.createSubscription(subscription);
      const second = await world.engine.createSubscription(subscription);
      expect(second).toEqual(first);
      expect(await liveSubscriptionsIn(world)).toHaveLength(1);
    });

    it('a FREE tier is not billed and touches nothing in Stripe', async () => {
      const world = await monetizedWorld();
      const { subscription } = await subscribe(world, world.free);
      stripeServer().requests.reset();
      expect(await world.engine.createSubscription(subscription)).toEqual({ billed: false, access: 'UNBLOCKED', engineSubscriptionId: null });
      expect(stripeServer().requests.list()).toEqual([]);
    });

    it('a commercial tier of an API that is not monetized is not billed', async () => {
      const world = await monetizedWorld();
      const plainApi = await world.seed.api();
      const subscriber = await world.seed.subscriber();
      const app = await world.seed.application(subscriber);
      const outcome = await world.engine.createSubscription(await world.seed.subscription(plainApi, app, subscriber, world.gold));
      expect(outcome.billed).toBe(false);
    });
  });

  describe('a Stripe failure at each step of subscribing', () => {
    const steps: Array<[string, { method: string; path: string; connected: boolean }]> = [
      ['creating the platform customer', { method: 'POST', path: '/v1/customers', connected: false }],
      ['creating the shared customer', { method: 'POST', path: '/v1/customers', connected: true }],
      ['looking for earlier attempts', { method: 'GET', path: '/v1/subscriptions', connected: true }],
      ['creating the subscription', { method: 'POST', path: '/v1/subscriptions', connected: true }],
    ];

    it.each(steps)('%s (stripeServer() error): nothing is orphaned and a retry completes', async (_step, where) => {
      const world = await monetizedWorld();
      const { subscription } = await subscribe(world, world.gold);
      const match = { method: where.method, path: where.path, ...(where.connected ? { account: world.account } : {}) };
      const fault = stripeServer().faults.add({ kind: 'error', match, times: 1 });
      await expect(world.engine.createSubscription(subscription)).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
      stripeServer().faults.remove(fault);
      expect(await liveSubscriptionsIn(world)).toEqual([]);
      expect(await rowsOf(world)).toEqual([]);

      const outcome = await world.engine.createSubscription(subscription);
      expect((await liveSubscriptionsIn(world)).map((s) => s.id)).toEqual([outcome.engineSubscriptionId]);
      expect(await rowsOf(world)).toEqual([outcome.engineSubscriptionId]);
      expect((await world.stripe.customers.list({ limit: 10 })).data).toHaveLength(1);
      expect((await world.stripe.customers.list({ limit: 10 }, { stripeAccount: world.account })).data).toHaveLength(1);
    });

    it.each(steps.filter(([, w]) => w.method === 'POST'))(
      '%s (answer lost after Stripe did it): the retry adopts what was made instead of making it twice',
      async (_step, where) => {
        const world = await monetizedWorld();
        const { subscription } = await subscribe(world, world.gold);
        const match = { method: where.method, path: where.path, ...(where.connected ? { account: world.account } : {}) };
        const fault = stripeServer().faults.add({ kind: 'lose_response', match, times: 2 });
        await expect(world.engine.createSubscription(subscription)).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
        stripeServer().faults.remove(fault);

        const outcome = await world.engine.createSubscription(subscription);
        expect((await liveSubscriptionsIn(world)).map((s) => s.id)).toEqual([outcome.engineSubscriptionId]);
        expect((await world.stripe.customers.list({ limit: 10 })).data).toHaveLength(1);
        expect((await world.stripe.customers.list({ limit: 10 }, { stripeAccount: world.account })).data).toHaveLength(1);
      },
    );

    it('when the subscription row cannot be written, the Stripe subscription is cancelled, and a retry subscribes afresh', async () => {
      const healthy = await monetizedWorld();
      const outage = { failing: true };
      const world = { ...healthy, engine: buildEngine(stripeServer(), failingInsertsInto(healthy.db, 'AM_MONETIZATION_SUBSCRIPTIONS', outage), [tenantWithKey(healthy.key)]) };
      const { subscription } = await subscribe(world, world.gold);
      await expect(world.engine.createSubscription(subscription)).rejects.toThrow('database unavailable');
      expect(await liveSubscriptionsIn(world)).toEqual([]);
      expect(await rowsOf(world)).toEqual([]);

      outage.failing = false;
      const outcome = await world.engine.createSubscription(subscription);
      expect((await liveSubscriptionsIn(world)).map((s) => s.id)).toEqual([outcome.engineSubscriptionId]);
      expect(await rowsOf(world)).toEqual([outcome.engineSubscriptionId]);
    });
  });

  describe('unsubscribing', () => {
    it('cancels the Stripe subscription with a final invoice for the usage since the last one and removes the row', async () => {
      const world = await monetizedWorld();
      const { subscription } = await subscribe(world, world.perCall);
      const { engineSubscriptionId } = await world.engine.createSubscription(subscription);
      const sent = await world.engine.reportUsage({
        subscription,
        quantity: 2000,
        windowStart: new Date(stripeServer().clock.now() * 1000),
        windowEnd: new Date(stripeServer().clock.now() * 1000 + 3_600_000),
        identifier: `test-${subscription.uuid}`,
      });
      expect(sent).toEqual({ sent: true });
      stripeServer().clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS); // Stripe aggregates meter events asynchronously

      const outcome = await world.engine.deleteSubscription(subscription);
      expect(outcome).toMatchObject({ billed: true, engineSubscriptionId });
      const stripeSub = await world.stripe.subscriptions.retrieve(engineSubscriptionId!, {}, { stripeAccount: world.account });
      expect(stripeSub.status).toBe('canceled');
      const invoices = await world.stripe.invoices.list({ subscription: engineSubscriptionId!, limit: 10 }, { stripeAccount: world.account });
      const final = invoices.data.find((i) => i.total > 0);
      expect(final?.total).toBe(100); // 2,000 calls at 0.05 cents
      expect(await rowsOf(world)).toEqual([]);
    });

    it('unsubscribing twice succeeds and cancels once', async () => {
      const world = await monetizedWorld();
      const { subscription } = await subscribe(world, world.gold);
      await world.engine.createSubscription(subscription);
      await world.engine.deleteSubscription(subscription);
      await expect(world.engine.deleteSubscription(subscription)).resolves.toMatchObject({ billed: false });
    });
  });
});

/**
 * The same database, except that inserts into `table` fail while `outage.failing` is set: a
 * database outage at the last step of a workflow, after Stripe has done its part.
 */
function failingInsertsInto(db: Knex, table: string, outage: { failing: boolean }): Knex {
  return new Proxy(db, {
    apply(target, thisArg, args: unknown[]) {
      const builder = Reflect.apply(target, thisArg, args) as Knex.QueryBuilder;
      if (args[0] === table && outage.failing) {
        builder.insert = (() => Promise.reject(new Error('database unavailable'))) as unknown as Knex.QueryBuilder['insert'];
      }
      return builder;
    },
  });
}
