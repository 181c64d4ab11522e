import * as engineSubscriptionAccount from '../../../plugins/stripe/migrations/20261130000100_engine_subscription_account';
import { migrateLatest } from '../../helpers/migrations';
import { MonetizationError } from '../../../src/monetization/monetization';
import { forEachTestDatabase } from '../../helpers/databases';
import { DEFAULT_AGGREGATION_DELAY_SECONDS } from '../../../dev/stripe-server';
import { buildEngine, connectedAccount, GatewaySeed, perRequest, sdkFor, tenantWithKey, uniquePlatformKey, useStripeServer } from './harness';

/**
 * Issue 12, item 3: a billed subscription lives in the connected account it was created in.
 * Usage, previews, billing cycles, revenue and the cancel go there, whatever the API's
 * monetization properties name later; an API whose live subscriptions live in one account cannot
 * be monetized with another.
 */
const stripeServer = useStripeServer();

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  /** A per-request API monetized with account A, one application subscribed to it. */
  async function billedOnA() {
    const key = uniquePlatformKey();
    const db = database().knex;
    const engine = buildEngine(stripeServer(), db, [tenantWithKey(key)]);
    const seed = new GatewaySeed(db);
    const stripe = sdkFor(stripeServer(), key);
    const accountA = await connectedAccount(stripe);
    const accountB = await connectedAccount(stripe);
    const policy = await seed.policy('Metered', perRequest('0.01'));
    const api = await seed.api({ name: 'Maps', provider: `bob-${accountA.slice(-6)}` });
    await engine.enableMonetization({ api, policies: [policy], properties: { ConnectedAccountKey: accountA } });
    await seed.recordMonetization(api, true, { ConnectedAccountKey: accountA });
    const subscriber = await seed.subscriber();
    const subscription = await seed.subscription(api, await seed.application(subscriber), subscriber, policy);
    const outcome = await engine.createSubscription(subscription);
    return { db, engine, seed, stripe, accountA, accountB, policy, api, subscriber, subscription, stripeId: outcome.engineSubscriptionId! };
  }

  const now = () => new Date(stripeServer().clock.now() * 1000);

  it('monetizing with another account while a billed subscription lives is a conflict naming it; disabling still works', async () => {
    const { engine, seed, accountA, accountB, policy, api, subscription, stripe, stripeId } = await billedOnA();
    const disabled = await engine.disableMonetization({ api, policies: [policy], properties: { ConnectedAccountKey: accountA } });
    expect(disabled.notes.join(' ')).toMatch(/1 live subscription\(s\) keep running/);
    await seed.recordMonetization(api, false, { ConnectedAccountKey: accountA });

    const switching = engine.enableMonetization({ api, policies: [policy], properties: { ConnectedAccountKey: accountB } });
    await expect(switching).rejects.toBeInstanceOf(MonetizationError);
    await expect(switching).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining(subscription.uuid) });
    await expect(switching).rejects.toThrow(new RegExp(`in connected account ${accountA}.*cancel them before monetizing the API with ${accountB}`));
    // Nothing was made in B, and the subscription is still billed in A.
    expect((await stripe.products.list({}, { stripeAccount: accountB })).data).toEqual([]);
    expect((await stripe.subscriptions.retrieve(stripeId, {}, { stripeAccount: accountA })).status).toBe('active');
    // Enabling again with its own account is fine.
    await expect(engine.enableMonetization({ api, policies: [policy], properties: { ConnectedAccountKey: accountA } })).resolves.toMatchObject({ enabled: true });
  });

  it('once the subscriptions are cancelled, the API can move to another account, and new subscriptions live there', async () => {
    const { engine, seed, stripe, accountA, accountB, policy, api, subscription, stripeId } = await billedOnA();
    await engine.disableMonetization({ api, policies: [policy], properties: { ConnectedAccountKey: accountA } });
    await seed.recordMonetization(api, false, { ConnectedAccountKey: accountA });
    await engine.deleteSubscription(subscription);
    expect((await stripe.subscriptions.retrieve(stripeId, {}, { stripeAccount: accountA })).status).toBe('canceled');

    await engine.enableMonetization({ api, policies: [policy], properties: { ConnectedAccountKey: accountB } });
    await seed.recordMonetization(api, true, { ConnectedAccountKey: accountB });
    const subscriber = await seed.subscriber();
    const next = await seed.subscription(api, await seed.application(subscriber), subscriber, policy);
    const created = await engine.createSubscription(next);
    expect(await engine.billedSubscriptionOf(next.uuid)).toEqual({ engineSubscriptionId: created.engineSubscriptionId, account: accountB });
    expect((await stripe.subscriptions.retrieve(created.engineSubscriptionId!, {}, { stripeAccount: accountB })).status).toBe('active');
  });

  it('usage, preview, billing cycle, revenue and cancel go to the subscription\'s own account when the API\'s properties name another', async () => {
    const { engine, seed, stripe, accountA, accountB, policy, api, subscription, stripeId } = await billedOnA();
    // The publisher disables monetization sending another account's key: the API's recorded
    // properties now name B, while the live subscription stays billed in A.
    await engine.disableMonetization({ api, policies: [policy], properties: { ConnectedAccountKey: accountB } });
    await seed.recordMonetization(api, false, { ConnectedAccountKey: accountB });

    expect(await engine.billedSubscriptionOf(subscription.uuid)).toEqual({ engineSubscriptionId: stripeId, account: accountA });
    await expect(engine.billingCycleOf(subscription)).resolves.toMatchObject({ interval: 'month', intervalCount: 1 });
    const sent = await engine.reportUsage({ subscription, quantity: 40, windowStart: now(), windowEnd: now(), identifier: `acct-${subscription.uuid}` });
    expect(sent).toEqual({ sent: true });
    const meterEvents = stripeServer().requests.list((r) => r.path === '/v1/billing/meter_events' && r.idempotencyKey === `acct-${subscription.uuid}`);
    expect(meterEvents.map((r) => [r.account, r.status])).toEqual([[accountA, 200]]);
    stripeServer().clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS); // Stripe aggregates meter events asynchronously

    const preview = await engine.getCurrentUsageForSubscription(subscription);
    expect(preview.lines).toEqual(expect.arrayContaining([expect.objectContaining({ quantity: 40, amount: 40n })]));
    await expect(engine.getTotalRevenue(api)).resolves.toMatchObject({ byCurrency: {} });

    await engine.deleteSubscription(subscription);
    const cancelled = await stripe.subscriptions.retrieve(stripeId, {}, { stripeAccount: accountA });
    expect(cancelled.status).toBe('canceled');
    const final = (await stripe.invoices.list({ subscription: stripeId }, { stripeAccount: accountA })).data;
    expect(final.flatMap((invoice) => invoice.lines.data.map((line) => line.quantity))).toContain(40);
    expect(await engine.billedSubscriptionOf(subscription.uuid)).toBeNull();
  });

  it('the migration records the account of subscriptions billed before it, from their API', async () => {
    const { db, engine, seed, accountA, accountB, api, subscription, stripeId } = await billedOnA();
    await engineSubscriptionAccount.down(db);
    await engineSubscriptionAccount.up(db);
    expect(await db('ML_ENGINE_SUBSCRIPTION').where({ ENGINE_SUBSCRIPTION_ID: stripeId }).first('ENGINE_ACCOUNT')).toEqual({ ENGINE_ACCOUNT: accountA });
    // Recorded, it no longer follows the API's properties.
    await seed.recordMonetization(api, false, { ConnectedAccountKey: accountB });
    expect(await engine.billedSubscriptionOf(subscription.uuid)).toEqual({ engineSubscriptionId: stripeId, account: accountA });
  });

  it('a subscription WSO2 recorded without an account is billed in the account its API was last monetized with', async () => {
    const { db, engine, accountA, subscription, stripeId } = await billedOnA();
    await db('ML_ENGINE_SUBSCRIPTION').where({ ENGINE_SUBSCRIPTION_ID: stripeId }).delete();
    expect(await engine.billedSubscriptionOf(subscription.uuid)).toEqual({ engineSubscriptionId: stripeId, account: accountA });
  });
});
