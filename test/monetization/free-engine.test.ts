import type { SubscriptionPolicy, SubscriptionRef } from '../../src/domain/model';
import { FreeMonetization, freeEngine } from '../../src/monetization/free-engine';
import { MonetizationError, type Monetization } from '../../src/monetization/monetization';

const tenant = { domain: 'carbon.super', id: -1234 };
const freePolicy: SubscriptionPolicy = { uuid: 'p-1', name: 'Bronze', tenant, billingPlan: 'FREE', pricing: null };
const goldPolicy: SubscriptionPolicy = {
  uuid: 'p-2',
  name: 'Gold',
  tenant,
  billingPlan: 'COMMERCIAL',
  pricing: { plan: 'FIXEDRATE', currency: 'usd', billingCycle: 'month', fixedPrice: '10.00' },
};
const api = { uuid: 'a-1', name: 'Weather', version: '1.0', provider: 'alice', tenant };

function subscriptionOn(policy: SubscriptionPolicy): SubscriptionRef {
  return {
    uuid: 's-1',
    api,
    application: { uuid: 'app-1', name: 'App' },
    subscriber: { userId: 'bob', email: null },
    policy,
  };
}

describe('the free engine', () => {
  const engine: Monetization = new FreeMonetization();

  it('accepts FREE policies without any billing configuration', async () => {
    await expect(engine.createBillingPlan(freePolicy)).resolves.toEqual({ billable: false, planId: null, apisUpdated: 0 });
  });

  it('refuses COMMERCIAL policies, saying which setting is missing', async () => {
    await expect(engine.createBillingPlan(goldPolicy)).rejects.toThrow(/COMMERCIAL policy "Gold" needs a billing engine.*monetization_impl/);
  });

  it('refuses to monetize an API', async () => {
    await expect(engine.enableMonetization({ api, policies: [goldPolicy], properties: {} })).rejects.toBeInstanceOf(MonetizationError);
  });

  it('lets applications subscribe on FREE tiers, unblocked and unbilled', async () => {
    await expect(engine.createSubscription(subscriptionOn(freePolicy))).resolves.toEqual({
      billed: false,
      access: 'UNBLOCKED',
      engineSubscriptionId: null,
    });
  });

  it('refuses subscriptions on COMMERCIAL tiers', async () => {
    await expect(engine.createSubscription(subscriptionOn(goldPolicy))).rejects.toMatchObject({ code: 'BILLING_NOT_CONFIGURED' });
  });

  it('takes no options', () => {
    expect(() => freeEngine.create({ api_key: 'x' }, undefined as never)).toThrow(/takes no options/);
  });
});
