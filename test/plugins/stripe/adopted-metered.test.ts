import Stripe from 'stripe';
import { apiMeterEventName } from '../../../plugins/stripe/meters';
import { startStripeServer, type StripeServer } from '../../../dev/stripe-server';
import { periodBoundary } from '../../../src/usage/windows';
import { forEachTestDatabase } from '../../helpers/databases';
import { migrateLatest } from '../../helpers/migrations';
import { callEvent, minutesAfter, newUsageService, publishAndWait } from '../../usage/world';
import { buildEngine, connectedAccount, fixedMonthly, GatewaySeed, perRequest, sdkFor, SUPER_TENANT, tenantWithKey, uniquePlatformKey } from './harness';

/**
 * A per-request subscription adopted from WSO2 (issue 15): WSO2's Stripe plugin billed a
 * DYNAMICRATE tier with a legacy metered price (no Billing Meter, usage records), which bills no
 * meter event. Monetizing the API again here moves the subscription's item to the tier's metered
 * price (the way a change of plan is sent), once, and the usage published afterwards is on the
 * period's invoice. The WSO2 rows are written as the adoption leaves them
 * (docs/migration-from-wso2.md): the plugin's rows, the API recorded as monetized with no
 * properties, no account recorded for the subscription.
 */
const START = Date.UTC(2030, 4, 6, 9, 0, 0) / 1000;
const HOUR_MS = 3_600_000;
/** An API version before 2025-03-31.basil, as WSO2's plugin spoke: it still creates legacy metered prices. */
const WSO2_API_VERSION = '2024-06-20';

let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer({ port: 0, startAt: START });
});
afterAll(() => server.close());

/** The successful updates of a Stripe subscription the server received. */
function updatesOf(subscriptionId: string) {
  return server.requests.list((r) => r.method === 'POST' && r.path === `/v1/subscriptions/${subscriptionId}` && r.status === 200);
}

function moveTo(ms: number): void {
  server.clock.advanceTo(Math.max(server.clock.now(), Math.ceil(ms / 1000)));
}

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  /** A WSO2 install with one API monetized on a per-request tier and one subscription on it, adopted. */
  async function adoptedInstall() {
    const db = database().knex;
    const key = uniquePlatformKey();
    const engine = buildEngine(server, db, [tenantWithKey(key)]);
    const stripe = sdkFor(server, key);
    const seed = new GatewaySeed(db);
    const account = await connectedAccount(stripe);
    const onAccount = { stripeAccount: account };
    // Meterline's tier has a base fee, which a change of plan would add: the move must not.
    const tier = { ...(await seed.policy('PerCall', perRequest('0.01'))), pricing: { ...perRequest('0.01'), fixedPrice: '5.00' } };
    const api = await seed.api({ name: 'PizzaShackAPI', provider: `admin-${account.slice(-6)}` });

    // What WSO2's plugin made in the connected account: the API's product, the tier's plan copy
    // (nickname = policy name), a shared customer and the subscription on that plan, which here
    // also carries a fixed monthly part (the move must neither charge it again nor drop it).
    const product = await stripe.products.create({ name: `${api.name}-${api.version}-${api.provider}` }, onAccount);
    const legacy = await stripe.prices.create(
      { product: product.id, currency: 'usd', unit_amount_decimal: Stripe.Decimal.from('1'), recurring: { interval: 'month', usage_type: 'metered' }, nickname: tier.name },
      { ...onAccount, apiVersion: WSO2_API_VERSION },
    );
    const customer = await stripe.customers.create({ email: 'sam@example.com', payment_method: 'pm_card_visa' }, onAccount);
    const [card] = (await stripe.paymentMethods.list({ customer: customer.id }, onAccount)).data;
    const fixed = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 300, recurring: { interval: 'month' } }, onAccount);
    const wso2Subscription = await stripe.subscriptions.create(
      { customer: customer.id, items: [{ price: legacy.id }, { price: fixed.id }], default_payment_method: card!.id },
      onAccount,
    );

    const subscriber = await seed.subscriber();
    const app = await seed.application(subscriber);
    const subscription = await seed.subscription(api, app, subscriber, tier);
    const platformCustomer = await stripe.customers.create({ email: 'sam@example.com' });
    await db('AM_MONETIZATION').insert({ API_ID: api.id, TIER_NAME: tier.name, STRIPE_PRODUCT_ID: product.id, STRIPE_PLAN_ID: legacy.id });
    await db('AM_MONETIZATION_PLATFORM_CUSTOMERS').insert({ SUBSCRIBER_ID: subscriber.id, TENANT_ID: SUPER_TENANT.id, CUSTOMER_ID: platformCustomer.id });
    const parent = await db('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ CUSTOMER_ID: platformCustomer.id }).first('ID');
    await db('AM_MONETIZATION_SHARED_CUSTOMERS').insert({
      APPLICATION_ID: app.id,
      API_PROVIDER: api.provider,
      TENANT_ID: SUPER_TENANT.id,
      SHARED_CUSTOMER_ID: customer.id,
      PARENT_CUSTOMER_ID: Number(parent.ID),
    });
    const shared = await db('AM_MONETIZATION_SHARED_CUSTOMERS').where({ SHARED_CUSTOMER_ID: customer.id }).first('ID');
    await db('AM_MONETIZATION_SUBSCRIPTIONS').insert({
      SUBSCRIBED_APPLICATION_ID: app.id,
      SUBSCRIBED_API_ID: api.id,
      TENANT_ID: SUPER_TENANT.id,
      SUBSCRIPTION_ID: wso2Subscription.id,
      SHARED_CUSTOMER_ID: Number(shared.ID),
    });
    // The adoption's seed: monetized, its ConnectedAccountKey still in WSO2's API artifact.
    await seed.recordMonetization(api, true, {});

    const properties = { ConnectedAccountKey: account };
    /** The publisher gives the connected account again (POST /apis/{apiId}/monetize). */
    const enable = async () => {
      const change = await engine.enableMonetization({ api, policies: [tier], properties });
      await seed.recordMonetization(api, true, properties);
      return change;
    };
    const stripeSubscription = () => stripe.subscriptions.retrieve(wso2Subscription.id, {}, onAccount);
    const recorded = () => db('ML_ENGINE_SUBSCRIPTION').where({ ENGINE_SUBSCRIPTION_ID: wso2Subscription.id }).select('ENGINE_ACCOUNT', 'SUBSCRIPTION_UUID');
    return { engine, stripe, account, onAccount, tier, api, legacy, fixed, customer, wso2Subscription, subscription, enable, stripeSubscription, recorded };
  }

  it("moves the subscription's legacy item to the tier's metered price once, in place, with no prorations", async () => {
    const install = await adoptedInstall();
    const { stripe, onAccount, tier, api, legacy, fixed, wso2Subscription } = install;
    const itemOn = (price: string) => wso2Subscription.items.data.find((item) => item.price.id === price)!.id;
    expect(legacy.recurring).toMatchObject({ usage_type: 'metered', meter: null });

    const change = await install.enable();
    const metered = change.plans[tier.name]!;
    expect(metered).not.toBe(legacy.id);
    expect(change).toMatchObject({ enabled: true, changed: true, notes: [expect.stringMatching(/^1 subscription\(s\) adopted from WSO2 moved/)] });
    const price = await stripe.prices.retrieve(metered, {}, onAccount);
    const meter = (await stripe.billing.meters.list({}, onAccount)).data.find((m) => m.event_name === apiMeterEventName(api.uuid));
    expect([price.recurring?.usage_type, price.recurring?.meter]).toEqual(['metered', meter!.id]);

    const after = await install.stripeSubscription();
    // Same subscription, same items (so the same cycle): the per-request one on the metered price,
    // the fixed part as it was, no base fee added.
    expect(after.items.data.map((item) => [item.id, item.price.id]).sort()).toEqual(
      [
        [itemOn(legacy.id), metered],
        [itemOn(fixed.id), fixed.id],
      ].sort(),
    );
    expect(after.metadata.meterline_plan_changes).toBe('1');
    // The one update sent: only the per-request item, without prorations (nothing fixed added or removed).
    expect(updatesOf(wso2Subscription.id).map((r) => r.params)).toEqual([
      { items: { 0: { id: itemOn(legacy.id), price: metered } }, proration_behavior: 'none', metadata: { meterline_plan_changes: '1' } },
    ]);
    expect(await install.recorded()).toEqual([{ ENGINE_ACCOUNT: install.account, SUBSCRIPTION_UUID: install.subscription.uuid }]);

    // A second enable: the row is recorded as taken over, nothing is sent again.
    expect(await install.enable()).toMatchObject({ changed: false, notes: [] });
    expect(updatesOf(wso2Subscription.id)).toHaveLength(1);

    // A retry after a crash between the swap and the record: Stripe has the swap, only the record is written.
    await database().knex('ML_ENGINE_SUBSCRIPTION').where({ ENGINE_SUBSCRIPTION_ID: wso2Subscription.id }).delete();
    expect(await install.enable()).toMatchObject({ changed: false });
    expect(updatesOf(wso2Subscription.id)).toHaveLength(1);
    expect(await install.recorded()).toEqual([{ ENGINE_ACCOUNT: install.account, SUBSCRIPTION_UUID: install.subscription.uuid }]);
  });

  it('leaves a subscription cancelled in Stripe as it is, saying so', async () => {
    const install = await adoptedInstall();
    await install.stripe.subscriptions.cancel(install.wso2Subscription.id, {}, install.onAccount);
    const change = await install.enable();
    expect(change.notes).toEqual([expect.stringMatching(new RegExp(`^subscription ${install.subscription.uuid} adopted from WSO2 is canceled in Stripe`))]);
    expect(updatesOf(install.wso2Subscription.id)).toEqual([]);
    expect(await install.recorded()).toEqual([]);
  });

  it('leaves a legacy item whose tier is not per-request here any more, naming it', async () => {
    const install = await adoptedInstall();
    const fixedNow = { ...install.tier, pricing: fixedMonthly('12.00') };
    const change = await install.engine.enableMonetization({ api: install.api, policies: [fixedNow], properties: { ConnectedAccountKey: install.account } });
    expect(change.notes).toEqual([expect.stringMatching(new RegExp(`^subscription ${install.subscription.uuid} .* no DYNAMICRATE tier here \\(${install.legacy.id}\\)`))]);
    expect(updatesOf(install.wso2Subscription.id)).toEqual([]);
    expect(await install.recorded()).toEqual([]);
  });

  it("bills the usage published after the move on the period's invoice", async () => {
    moveTo(Math.ceil(server.clock.now() / 3600) * HOUR_MS);
    const install = await adoptedInstall();
    const anchor = server.clock.now() * 1000;
    const periodEnd = periodBoundary({ anchorMs: anchor, interval: 'month', intervalCount: 1 }, 1);
    const { plans } = await install.enable();
    const clock = () => new Date(server.clock.now() * 1000);
    const usage = newUsageService(database().knex, install.engine, clock, {});
    const billed = { subscription: install.subscription };
    moveTo(anchor + HOUR_MS);
    const ingested = await usage.ingestion.ingest(Array.from({ length: 4 }, (_, i) => callEvent(billed, minutesAfter(new Date(anchor), 10 + i))));
    expect(ingested).toMatchObject({ accepted: 4 });
    expect(await publishAndWait(usage)).toMatchObject({ recordsSent: 1, failures: [] });

    moveTo(periodEnd + HOUR_MS); // the period's invoice, finalized after Stripe's draft hour
    const invoices = await install.stripe.invoices.list({ subscription: install.wso2Subscription.id }, install.onAccount);
    const invoice = invoices.data.find((i) => i.billing_reason === 'subscription_cycle' && i.period_end === periodEnd / 1000);
    const line = invoice?.lines.data.find((l: Stripe.InvoiceLineItem) => l.pricing?.price_details?.price === plans[install.tier.name]);
    expect([line?.quantity, line?.amount]).toEqual([4, 4]);
    // Besides the usage: WSO2's fixed part once, no base fee, no proration.
    expect(invoice!.lines.data.filter((l) => l !== line).map((l) => l.amount)).toEqual([300]);
  });
});
