import { migrateLatest } from '../../helpers/migrations';
import type { PolicyPricing, UsageRate } from '../../../src/domain/model';
import { forEachTestDatabase } from '../../helpers/databases';
import { buildEngine, connectedAccount, GatewaySeed, sdkFor, tenantWithKey, uniquePlatformKey, useStripeServer } from './harness';

/**
 * A Stripe price's amounts, tiers and transform_quantity cannot be updated (the price update call
 * takes `active`, `metadata`, `nickname`, `lookup_key`, `tax_behavior` and a few more, no amounts:
 * https://docs.stripe.com/api/prices/update): a change of tiers or of package is a new price on the platform and on every API copy, the old
 * one archived, and an unchanged plan is never replaced.
 */
const stripeServer = useStripeServer();

const dynamic = (usageRate: UsageRate, setupFee?: string): PolicyPricing => ({
  plan: 'DYNAMICRATE',
  currency: 'usd',
  billingCycle: 'month',
  pricePerRequest: '0.002',
  ...(setupFee === undefined ? {} : { setupFee }),
  usageRate,
});
const tiered = (model: 'graduated' | 'volume', secondTierUnit: string): UsageRate => ({
  model,
  tiers: [
    { upTo: 1000, unitPrice: '0', flatPrice: '0' },
    { upTo: null, unitPrice: secondTierUnit, flatPrice: '5.00' },
  ],
});

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  it('a change of tiers replaces the platform price and the API copy; the same tiers again change nothing', async () => {
    const key = uniquePlatformKey();
    const db = database().knex;
    const engine = buildEngine(stripeServer(), db, [tenantWithKey(key)]);
    const seed = new GatewaySeed(db);
    const platform = sdkFor(stripeServer(), key);
    const policy = await seed.policy('Tiered', dynamic(tiered('graduated', '0.0015')));
    const first = await engine.createBillingPlan(policy);
    const account = await connectedAccount(platform);
    const api = await seed.api();
    const properties = { ConnectedAccountKey: account };
    await engine.enableMonetization({ api, policies: [policy], properties });
    await seed.recordMonetization(api, true, properties);
    const copyBefore = (await engine.getMonetizedPoliciesToPlanMapping(api))[policy.name]!;

    // Unchanged (a setup fee is not part of the price): nothing is replaced.
    expect(await engine.updateBillingPlan({ ...policy, pricing: dynamic(tiered('graduated', '0.0015'), '49.00') })).toEqual({
      billable: true,
      planId: first.planId,
      apisUpdated: 0,
    });

    const repriced = { ...policy, pricing: dynamic(tiered('graduated', '0.001')) };
    const change = await engine.updateBillingPlan(repriced);
    expect(change.planId).not.toBe(first.planId);
    expect(change.apisUpdated).toBe(1);
    expect((await platform.prices.retrieve(first.planId!)).active).toBe(false);
    const platformPrice = await platform.prices.retrieve(change.planId!, { expand: ['tiers'] });
    expect(platformPrice.tiers?.map((t) => String(t.unit_amount_decimal))).toEqual(['0', '0.1']);
    const copyAfter = (await engine.getMonetizedPoliciesToPlanMapping(api))[policy.name]!;
    expect(copyAfter).not.toBe(copyBefore);
    expect((await platform.prices.retrieve(copyBefore, {}, { stripeAccount: account })).active).toBe(false);
    expect(await platform.prices.retrieve(copyAfter, { expand: ['tiers'] }, { stripeAccount: account })).toMatchObject({
      active: true,
      billing_scheme: 'tiered',
      tiers_mode: 'graduated',
    });

    // Graduated → volume with the same tiers is a different price too; then a package.
    const volume = await engine.updateBillingPlan({ ...policy, pricing: dynamic(tiered('volume', '0.001')) });
    expect(volume.planId).not.toBe(change.planId);
    expect((await platform.prices.retrieve(volume.planId!)).tiers_mode).toBe('volume');
    const pack = await engine.updateBillingPlan({ ...policy, pricing: dynamic({ model: 'package', packageSize: 1000, packagePrice: '2.50' }) });
    expect(await platform.prices.retrieve(pack.planId!)).toMatchObject({ billing_scheme: 'per_unit', transform_quantity: { divide_by: 1000, round: 'up' } });
    expect(await engine.updateBillingPlan({ ...policy, pricing: dynamic({ model: 'package', packageSize: 1000, packagePrice: '2.50' }) })).toEqual({
      billable: true,
      planId: pack.planId,
      apisUpdated: 0,
    });
  });

  it('a tier flat fee finer than the minor unit is refused as the policy pricing, naming the policy', async () => {
    const key = uniquePlatformKey();
    const engine = buildEngine(stripeServer(), database().knex, [tenantWithKey(key)]);
    const policy = await new GatewaySeed(database().knex).policy('Fine', dynamic({ model: 'volume', tiers: [{ upTo: null, unitPrice: '0.001', flatPrice: '0.005' }] }));
    await expect(engine.createBillingPlan(policy)).rejects.toMatchObject({ code: 'INVALID_POLICY_PRICING', message: expect.stringContaining(policy.name) });
  });
});
