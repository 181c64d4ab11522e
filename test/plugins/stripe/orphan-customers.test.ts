import { migrateLatest } from '../../helpers/migrations';
import { forEachTestDatabase } from '../../helpers/databases';
import { STORY_START } from '../../helpers/test-clock';
import { startStripeServer, type StripeServer } from '../../../dev/stripe-server';
import { monetizedWorld as monetizedStripeWorld, SUPER_TENANT } from './harness';

/**
 * A customer created in Stripe whose row was never written (the process died between the two) is
 * adopted by the next subscribe, even after Stripe forgot the create's idempotency key (24 h).
 * The local Stripe server never forgets an idempotency key (Stripe prunes them after 24 h), so a
 * crash-and-retry would be answered by replay; the orphans are therefore created here directly in
 * the Stripe server with the plugin's metadata under a key of their own, which is what a retry
 * after the key expired meets. The clock still moves 25 h, as it would in production.
 */
let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer({ port: 0, startAt: STORY_START });
});
afterAll(() => server.close());

const DAY_AND_AN_HOUR = 25 * 3600;


forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  const monetizedWorld = () => monetizedStripeWorld(server, database().knex);


  it('a platform customer an earlier attempt created but never recorded is adopted, not created twice', async () => {
    const world = await monetizedWorld();
    const subscriber = await world.seed.subscriber();
    const orphan = await world.stripe.customers.create({
      email: subscriber.email!,
      metadata: { meterline_subscriber: subscriber.userId, meterline_tenant: SUPER_TENANT.domain },
    });
    server.clock.advance(DAY_AND_AN_HOUR);

    const app = await world.seed.application(subscriber);
    await world.engine.createSubscription(await world.seed.subscription(world.api, app, subscriber, world.gold));

    const withEmail = await world.stripe.customers.list({ email: subscriber.email!, limit: 100 });
    expect(withEmail.data.map((c) => c.id)).toEqual([orphan.id]);
    const row = await world.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ SUBSCRIBER_ID: subscriber.id }).first();
    expect(row?.CUSTOMER_ID).toBe(orphan.id);
  });

  it('a shared customer an earlier attempt created but never recorded is adopted, not created twice', async () => {
    const world = await monetizedWorld();
    const subscriber = await world.seed.subscriber();
    const app = await world.seed.application(subscriber);
    const platformCustomer = await world.stripe.customers.create({
      email: subscriber.email!,
      metadata: { meterline_subscriber: subscriber.userId, meterline_tenant: SUPER_TENANT.domain },
    });
    await world.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').insert({ SUBSCRIBER_ID: subscriber.id, TENANT_ID: SUPER_TENANT.id, CUSTOMER_ID: platformCustomer.id });
    const orphan = await world.stripe.customers.create(
      {
        email: subscriber.email!,
        metadata: {
          meterline_platform_customer: platformCustomer.id,
          meterline_application: app.uuid,
          meterline_provider: world.api.provider,
          meterline_tenant: SUPER_TENANT.domain,
        },
      },
      { stripeAccount: world.account },
    );
    server.clock.advance(DAY_AND_AN_HOUR);

    const { engineSubscriptionId } = await world.engine.createSubscription(await world.seed.subscription(world.api, app, subscriber, world.gold));

    const withEmail = await world.stripe.customers.list({ email: subscriber.email!, limit: 100 }, { stripeAccount: world.account });
    expect(withEmail.data.map((c) => c.id)).toEqual([orphan.id]);
    const stripeSub = await world.stripe.subscriptions.retrieve(engineSubscriptionId!, {}, { stripeAccount: world.account });
    expect(stripeSub.customer).toBe(orphan.id);
    const row = await world.db('AM_MONETIZATION_SHARED_CUSTOMERS').where({ APPLICATION_ID: app.id, API_PROVIDER: world.api.provider }).first();
    expect(row?.SHARED_CUSTOMER_ID).toBe(orphan.id);
  });

  it("a customer with the subscriber's email that Meterline did not make for this subscriber or application is not adopted", async () => {
    const world = await monetizedWorld();
    const subscriber = await world.seed.subscriber();
    const app = await world.seed.application(subscriber);
    const email = subscriber.email!;
    const checkout = await world.stripe.customers.create({ email });
    const otherTenant = await world.stripe.customers.create({ email, metadata: { meterline_subscriber: subscriber.userId, meterline_tenant: 'other.example' } });
    const otherProvider = await world.stripe.customers.create(
      { email, metadata: { meterline_application: app.uuid, meterline_provider: 'someone-else', meterline_tenant: SUPER_TENANT.domain } },
      { stripeAccount: world.account },
    );

    const { engineSubscriptionId } = await world.engine.createSubscription(await world.seed.subscription(world.api, app, subscriber, world.gold));

    const platformRow = await world.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ SUBSCRIBER_ID: subscriber.id }).first();
    expect([checkout.id, otherTenant.id]).not.toContain(platformRow?.CUSTOMER_ID);
    const stripeSub = await world.stripe.subscriptions.retrieve(engineSubscriptionId!, {}, { stripeAccount: world.account });
    expect(stripeSub.customer).not.toBe(otherProvider.id);
  });
});
