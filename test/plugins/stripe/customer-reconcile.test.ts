import type Stripe from 'stripe';
import { migrateLatest } from '../../helpers/migrations';
import type { EngineCustomerListing } from '../../../src/monetization/monetization';
import { forEachTestDatabase } from '../../helpers/databases';
import { connectedAccount, monetizedWorld as monetizedStripeWorld, SUPER_TENANT, useStripeServer, type MonetizedWorld } from './harness';

/**
 * The Stripe engine's customer reconciliation (`listEngineCustomers` / `repairEngineCustomer`)
 * where money or a race makes it hold back: what `meterline reconcile` must leave to a person,
 * and a repair that decides again on the state it finds. The common cases (adopt, delete, forget)
 * run end to end in test/cli/reconcile.test.ts.
 */
const server = useStripeServer();


type World = MonetizedWorld & { planId: string };

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  /** The shared world, and the Stripe plan of its Gold tier. */
  async function monetizedWorld(): Promise<World> {
    const world = await monetizedStripeWorld(server(), database().knex);
    const planId = (await world.engine.getMonetizedPoliciesToPlanMapping(world.api))[world.gold.name]!;
    return { ...world, planId };
  }


  /** A shared customer Meterline made for an application that no longer exists. */
  function unownedSharedCustomer(world: World, application: string): Promise<Stripe.Customer> {
    const metadata = { meterline_application: application, meterline_provider: world.api.provider, meterline_tenant: SUPER_TENANT.domain };
    return world.stripe.customers.create({ metadata }, { stripeAccount: world.account });
  }

  // The test database holds other tests' worlds too (same tenant, other platform keys): look only at this world's customers.
  const find = (listing: EngineCustomerListing, id: string) => listing.customers.find((f) => f.engineCustomerId === id);

  it('an unrecorded customer with an open invoice is left for a human, not deleted', async () => {
    const world = await monetizedWorld();
    const customer = await unownedSharedCustomer(world, '00000000-0000-4000-8000-00000000a001');
    const subscription = await world.stripe.subscriptions.create(
      { customer: customer.id, items: [{ price: world.planId }], collection_method: 'send_invoice', days_until_due: 7 },
      { stripeAccount: world.account },
    );
    // Stripe sends a send_invoice subscription's first invoice an hour after the create
    // (https://docs.stripe.com/subscriptions/invoices); cancelling leaves it open.
    server().clock.advance(3_600);
    await world.stripe.subscriptions.cancel(subscription.id, {}, { stripeAccount: world.account });

    const found = find(await world.engine.listEngineCustomers(SUPER_TENANT), customer.id)!;
    expect(found).toMatchObject({ kind: 'UNRECORDED_ENGINE_CUSTOMER', role: 'SHARED', account: world.account, plan: { action: 'LEAVE', needsHuman: true } });
    expect(found.plan.reason).toMatch(/^it has open invoice\(s\), e\.g\. in_/);
    await expect(world.engine.repairEngineCustomer(found)).resolves.toMatchObject({ action: 'LEAVE', needsHuman: true });
    expect((await world.stripe.customers.retrieve(customer.id, {}, { stripeAccount: world.account })).deleted).toBeUndefined();
  });

  it('an unrecorded customer paying a live subscription that a Meterline subscription still names is left for a human', async () => {
    const world = await monetizedWorld();
    const subscriber = await world.seed.subscriber();
    const app = await world.seed.application(subscriber);
    const gateway = await world.seed.subscription(world.api, app, subscriber, world.gold); // its AM_SUBSCRIPTION row exists
    const customer = await unownedSharedCustomer(world, '00000000-0000-4000-8000-00000000a002');
    const live = await world.stripe.subscriptions.create(
      { customer: customer.id, items: [{ price: world.planId }], collection_method: 'send_invoice', days_until_due: 7, metadata: { meterline_subscription_uuid: gateway.uuid } },
      { stripeAccount: world.account },
    );

    const found = find(await world.engine.listEngineCustomers(SUPER_TENANT), customer.id)!;
    expect(found.plan).toEqual({ action: 'LEAVE', needsHuman: true, reason: `it has live subscription(s) ${live.id} that no orphan pass cancels (a Meterline subscription still names them, or none does)` });
    await world.engine.repairEngineCustomer(found);
    expect((await world.stripe.subscriptions.retrieve(live.id, {}, { stripeAccount: world.account })).status).toBe('active');
  });

  it('records naming deleted customers that billed subscriptions still use are left for a human, and stay', async () => {
    const world = await monetizedWorld();
    const subscriber = await world.seed.subscriber();
    const app = await world.seed.application(subscriber);
    const { engineSubscriptionId } = await world.engine.createSubscription(await world.seed.subscription(world.api, app, subscriber, world.gold));
    const platformRow = await world.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ SUBSCRIBER_ID: subscriber.id }).first('CUSTOMER_ID');
    const sharedRow = await world.db('AM_MONETIZATION_SHARED_CUSTOMERS').where({ APPLICATION_ID: app.id }).first('SHARED_CUSTOMER_ID');
    await world.stripe.customers.del(platformRow.CUSTOMER_ID);
    await world.stripe.customers.del(sharedRow.SHARED_CUSTOMER_ID, {}, { stripeAccount: world.account });

    const found = await world.engine.listEngineCustomers(SUPER_TENANT);
    expect(find(found, platformRow.CUSTOMER_ID)).toMatchObject({ kind: 'DANGLING_CUSTOMER_RECORD', role: 'PLATFORM', account: null, plan: { action: 'LEAVE', needsHuman: true, reason: `billed subscription(s) ${engineSubscriptionId} still use it` } });
    expect(find(found, sharedRow.SHARED_CUSTOMER_ID)).toMatchObject({ kind: 'DANGLING_CUSTOMER_RECORD', role: 'SHARED', account: world.account, plan: { action: 'LEAVE', needsHuman: true } });
    for (const id of [platformRow.CUSTOMER_ID, sharedRow.SHARED_CUSTOMER_ID]) {
      await expect(world.engine.repairEngineCustomer(find(found, id)!)).resolves.toMatchObject({ action: 'LEAVE', needsHuman: true });
    }
    expect(await world.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ CUSTOMER_ID: platformRow.CUSTOMER_ID }).first('ID')).toBeDefined();
    expect(await world.db('AM_MONETIZATION_SHARED_CUSTOMERS').where({ SHARED_CUSTOMER_ID: sharedRow.SHARED_CUSTOMER_ID }).first('ID')).toBeDefined();
  });

  it("a shared customer in an account its provider does not monetize with is not adopted (a subscribe would not find it there)", async () => {
    const world = await monetizedWorld();
    const subscriber = await world.seed.subscriber();
    const app = await world.seed.application(subscriber);
    const elsewhere = await connectedAccount(world.stripe); // another provider's account, which Meterline lists too
    const otherApi = await world.seed.api({ provider: `bob-${elsewhere.slice(-6)}` });
    await world.engine.enableMonetization({ api: otherApi, policies: [world.gold], properties: { ConnectedAccountKey: elsewhere } });
    await world.seed.recordMonetization(otherApi, true, { ConnectedAccountKey: elsewhere });
    const metadata = { meterline_application: app.uuid, meterline_provider: world.api.provider, meterline_tenant: SUPER_TENANT.domain };
    const stray = await world.stripe.customers.create({ metadata }, { stripeAccount: elsewhere });

    const found = find(await world.engine.listEngineCustomers(SUPER_TENANT), stray.id)!;
    expect(found.plan).toMatchObject({ action: 'DELETE', needsHuman: false });
    expect(found.plan.reason).toContain(`provider ${world.api.provider} monetizes its APIs with ${world.account}, not ${elsewhere}`);
  });

  it('a repair decides again: a customer recorded meanwhile is not recorded twice, one deleted meanwhile is left', async () => {
    const world = await monetizedWorld();
    const subscriber = await world.seed.subscriber(undefined, null);
    const orphan = await world.stripe.customers.create({ metadata: { meterline_subscriber: subscriber.userId, meterline_tenant: SUPER_TENANT.domain } });
    const doomed = await unownedSharedCustomer(world, '00000000-0000-4000-8000-00000000a003');
    const found = await world.engine.listEngineCustomers(SUPER_TENANT);
    expect(find(found, orphan.id)?.plan.action).toBe('ADOPT');
    expect(find(found, doomed.id)?.plan.action).toBe('DELETE');

    await world.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').insert({ SUBSCRIBER_ID: subscriber.id, TENANT_ID: SUPER_TENANT.id, CUSTOMER_ID: orphan.id }); // a subscribe finished meanwhile
    await world.stripe.customers.del(doomed.id, {}, { stripeAccount: world.account }); // someone deleted it in the dashboard
    await expect(world.engine.repairEngineCustomer(find(found, orphan.id)!)).resolves.toEqual({ action: 'LEAVE', reason: 'Meterline recorded it meanwhile', needsHuman: false });
    await expect(world.engine.repairEngineCustomer(find(found, doomed.id)!)).resolves.toEqual({ action: 'LEAVE', reason: 'it no longer exists in Stripe', needsHuman: false });
    expect(await world.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ SUBSCRIBER_ID: subscriber.id }).select('CUSTOMER_ID')).toEqual([{ CUSTOMER_ID: orphan.id }]);
  });
});
