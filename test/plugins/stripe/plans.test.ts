import { migrateLatest } from '../../helpers/migrations';
import { MonetizationError } from '../../../src/monetization/monetization';
import { forEachTestDatabase } from '../../helpers/databases';
import { buildEngine, connectedAccount, fixedMonthly, GatewaySeed, perRequest, sdkFor, tenantWithKey, uniquePlatformKey, useStripeServer } from './harness';

const stripeServer = useStripeServer();

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  /** A fresh platform account (or, with `null`, a tenant without a platform key). */
  function setup(platformKey: string | null = uniquePlatformKey()) {
    const key = platformKey ?? undefined;
    const db = database().knex;
    return { key, engine: buildEngine(stripeServer(), db, [tenantWithKey(key)]), seed: new GatewaySeed(db), db, platform: key ? sdkFor(stripeServer(), key) : undefined };
  }

  describe('policies to plans', () => {
    it('a FREE policy creates nothing and needs no billing configuration', async () => {
      const { engine, seed } = setup(null);
      stripeServer().requests.reset();
      const change = await engine.createBillingPlan(await seed.policy('Bronze', null));
      expect(change).toEqual({ billable: false, planId: null, apisUpdated: 0 });
      expect(stripeServer().requests.list()).toEqual([]);
    });

    it('a COMMERCIAL policy on a tenant without a platform key fails naming the missing setting', async () => {
      const { engine, seed } = setup(null);
      const policy = await seed.policy('Gold', fixedMonthly('10'));
      await expect(engine.createBillingPlan(policy)).rejects.toThrow(
        new MonetizationError('BILLING_NOT_CONFIGURED', 'tenant carbon.super has no billing_engine_platform_account_key'),
      );
    });

    it('a FIXEDRATE policy becomes a product and a licensed monthly price in the platform account', async () => {
      const { engine, seed, db, platform } = setup();
      const policy = await seed.policy('Gold', fixedMonthly('19.99'));
      const change = await engine.createBillingPlan(policy);

      const price = await platform!.prices.retrieve(change.planId!);
      expect(price).toMatchObject({ currency: 'usd', unit_amount: 1999, active: true, recurring: { interval: 'month', usage_type: 'licensed' } });
      const product = await platform!.products.retrieve(price.product as string);
      expect(product.name).toBe(`carbon.super-${policy.name}`);
      const mapping = await db('AM_POLICY_PLAN_MAPPING').where({ POLICY_UUID: policy.uuid }).first();
      expect(mapping).toMatchObject({ PRODUCT_ID: product.id, PLAN_ID: price.id });
    });

    it('a JPY fixed price is whole yen', async () => {
      const { engine, seed, platform } = setup();
      const change = await engine.createBillingPlan(await seed.policy('Yen', fixedMonthly('500', 'JPY')));
      expect(await platform!.prices.retrieve(change.planId!)).toMatchObject({ currency: 'jpy', unit_amount: 500 });
    });

    it('a DYNAMICRATE policy of 0.0005 USD per request becomes a metered price of 0.05 cents on a billing meter', async () => {
      const { engine, seed, platform } = setup();
      const change = await engine.createBillingPlan(await seed.policy('PerCall', perRequest('0.0005')));
      const price = await platform!.prices.retrieve(change.planId!);
      expect(String(price.unit_amount_decimal)).toBe('0.05');
      expect(price.recurring).toMatchObject({ usage_type: 'metered', interval: 'month' });
      const meter = await platform!.billing.meters.retrieve(price.recurring!.meter!);
      expect(meter).toMatchObject({ status: 'active', default_aggregation: { formula: 'sum' } });
    });

    it('a price with more decimals than the currency has is rejected, not rounded', async () => {
      const { engine, seed } = setup();
      const policy = await seed.policy('Odd', fixedMonthly('10.005'));
      await expect(engine.createBillingPlan(policy)).rejects.toMatchObject({ code: 'INVALID_POLICY_PRICING', message: expect.stringContaining('10.005') });
    });

    it('creating the same policy twice makes one product and one price', async () => {
      const { engine, seed, platform } = setup();
      const policy = await seed.policy('Twice', fixedMonthly('5'));
      const first = await engine.createBillingPlan(policy);
      const second = await engine.createBillingPlan(policy);
      expect(second.planId).toBe(first.planId);
      expect((await platform!.prices.list({ limit: 100 })).data).toHaveLength(1);
      expect((await platform!.products.list({ limit: 100 })).data).toHaveLength(1);
    });

    it('deleting a policy archives its price and product and forgets the mapping', async () => {
      const { engine, seed, db, platform } = setup();
      const policy = await seed.policy('Gone', fixedMonthly('3'));
      const { planId } = await engine.createBillingPlan(policy);
      await engine.deleteBillingPlan(policy);
      const price = await platform!.prices.retrieve(planId!);
      expect(price.active).toBe(false);
      expect((await platform!.products.retrieve(price.product as string)).active).toBe(false);
      expect(await db('AM_POLICY_PLAN_MAPPING').where({ POLICY_UUID: policy.uuid })).toEqual([]);
    });
  });

  describe('a policy price change', () => {
    it('replaces the platform price and every monetized API copy, and a retry changes nothing', async () => {
      const { key, engine, seed, platform } = setup();
      const gold = await seed.policy('Gold', fixedMonthly('10'));
      const first = await engine.createBillingPlan(gold);
      const account = await connectedAccount(platform!);
      const api = await seed.api();
      await engine.enableMonetization({ api, policies: [gold], properties: { ConnectedAccountKey: account } });
      await seed.recordMonetization(api, true, { ConnectedAccountKey: account });
      const copyBefore = (await engine.getMonetizedPoliciesToPlanMapping(api))[gold.name]!;

      const repriced = { ...gold, pricing: fixedMonthly('12.50') };
      const change = await engine.updateBillingPlan(repriced);
      expect(change.apisUpdated).toBe(1);
      expect(change.planId).not.toBe(first.planId);
      expect((await platform!.prices.retrieve(first.planId!)).active).toBe(false);
      expect((await platform!.prices.retrieve(change.planId!)).unit_amount).toBe(1250);

      const copyAfter = (await engine.getMonetizedPoliciesToPlanMapping(api))[gold.name]!;
      const connected = sdkFor(stripeServer(), key!);
      expect(await connected.prices.retrieve(copyAfter, {}, { stripeAccount: account })).toMatchObject({ unit_amount: 1250, active: true });
      expect((await connected.prices.retrieve(copyBefore, {}, { stripeAccount: account })).active).toBe(false);

      const again = await engine.updateBillingPlan(repriced);
      expect(again).toEqual({ billable: true, planId: change.planId, apisUpdated: 0 });
    });

    it('a copy the first attempt did not reach is replaced by the retry', async () => {
      const { engine, seed, platform } = setup();
      const gold = await seed.policy('Gold', perRequest('0.001'));
      await engine.createBillingPlan(gold);
      const account = await connectedAccount(platform!);
      const api = await seed.api();
      await engine.enableMonetization({ api, policies: [gold], properties: { ConnectedAccountKey: account } });
      await seed.recordMonetization(api, true, { ConnectedAccountKey: account });

      const repriced = { ...gold, pricing: perRequest('0.002') };
      const faultId = stripeServer().faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/prices', account }, times: 1 });
      await expect(engine.updateBillingPlan(repriced)).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
      stripeServer().faults.remove(faultId);

      const retry = await engine.updateBillingPlan(repriced);
      expect(retry.apisUpdated).toBe(1);
      const copy = (await engine.getMonetizedPoliciesToPlanMapping(api))[gold.name]!;
      const price = await platform!.prices.retrieve(copy, {}, { stripeAccount: account });
      expect(String(price.unit_amount_decimal)).toBe('0.2');
    });

    it('FREE after COMMERCIAL withdraws the plan from the platform and from the APIs', async () => {
      const { engine, seed, db, platform } = setup();
      const gold = await seed.policy('Gold', fixedMonthly('10'));
      const { planId } = await engine.createBillingPlan(gold);
      const account = await connectedAccount(platform!);
      const api = await seed.api();
      await engine.enableMonetization({ api, policies: [gold], properties: { ConnectedAccountKey: account } });
      await seed.recordMonetization(api, true, { ConnectedAccountKey: account });

      const change = await engine.updateBillingPlan({ ...gold, billingPlan: 'FREE', pricing: null });
      expect(change).toEqual({ billable: false, planId: null, apisUpdated: 1 });
      expect((await platform!.prices.retrieve(planId!)).active).toBe(false);
      expect(await db('AM_MONETIZATION').where({ API_ID: api.id })).toEqual([]);
    });
  });

  describe('Stripe errors', () => {
    it('a rejected platform key is reported without printing it', async () => {
      const key = 'sk_live_not_accepted_here';
      const { engine, seed } = setup(key);
      const failure = await engine.createBillingPlan(await seed.policy('Gold', fixedMonthly('1'))).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(MonetizationError);
      expect(failure).toMatchObject({ code: 'ENGINE_AUTHENTICATION_FAILED' });
      expect((failure as Error).message).toBe('Stripe refused to create the product of a policy: the platform key was rejected');
      expect((failure as Error).message).not.toContain(key);
    });
  });

  describe("Stripe's rate limit", () => {
    afterEach(() => stripeServer().faults.rateLimit({}));

    it('is absorbed by retrying with backoff: every plan is created', async () => {
      const key = uniquePlatformKey();
      const db = database().knex;
      const engine = buildEngine(stripeServer(), db, [tenantWithKey(key)], { retries: 20, retry_initial_delay_ms: 50, retry_max_delay_ms: 400 });
      const seed = new GatewaySeed(db);
      const policies = await Promise.all(['R1', 'R2', 'R3', 'R4', 'R5'].map((n) => seed.policy(n, fixedMonthly('1'))));
      stripeServer().requests.reset();
      stripeServer().faults.rateLimit({ global: 3 });
      const changes = await Promise.all(policies.map((p) => engine.createBillingPlan(p)));

      expect(changes.every((c) => c.billable && c.planId)).toBe(true);
      expect(stripeServer().requests.list().filter((r) => r.status === 429).length).toBeGreaterThan(0);
      stripeServer().faults.rateLimit({});
      expect((await sdkFor(stripeServer(), key).prices.list({ limit: 100 })).data).toHaveLength(5);
    });

    it('surfaces as ENGINE_UNAVAILABLE once the retries run out', async () => {
      const { key, seed, db } = setup();
      const impatient = buildEngine(stripeServer(), db, [tenantWithKey(key)], { retries: 0 });
      const policy = await seed.policy('Busy', fixedMonthly('1'));
      stripeServer().faults.rateLimit({ endpoints: [{ match: { method: 'POST', path: '/v1/products' }, requestsPerSecond: 0 }] });
      await expect(impatient.createBillingPlan(policy)).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringContaining('try again') });
    });
  });

  describe('two tenants', () => {
    it('with different platform keys, used concurrently, each get their plans in their own account', async () => {
      const db = database().knex;
      const keyA = uniquePlatformKey();
      const keyB = uniquePlatformKey();
      const tenantB = { domain: 'wso2.com', id: 7 };
      const engine = buildEngine(stripeServer(), db, [tenantWithKey(keyA), tenantWithKey(keyB, tenantB)]);
      const policiesA = await Promise.all(['A1', 'A2', 'A3'].map((n) => new GatewaySeed(db).policy(n, fixedMonthly('1'))));
      const policiesB = await Promise.all(['B1', 'B2', 'B3'].map((n) => new GatewaySeed(db, tenantB).policy(n, fixedMonthly('2'))));
      const changes = await Promise.all([...policiesA, ...policiesB].map((p) => engine.createBillingPlan(p)));

      const pricesA = (await sdkFor(stripeServer(), keyA).prices.list({ limit: 100 })).data.map((p) => p.id);
      const pricesB = (await sdkFor(stripeServer(), keyB).prices.list({ limit: 100 })).data.map((p) => p.id);
      expect(pricesA.sort()).toEqual(changes.slice(0, 3).map((c) => c.planId).sort());
      expect(pricesB.sort()).toEqual(changes.slice(3).map((c) => c.planId).sort());
    });
  });
});

