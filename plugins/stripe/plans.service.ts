import type Stripe from 'stripe';
import type { SubscriptionPolicy } from '../../src/domain/model';
import type { BillingPlanChange } from '../../src/monetization/monetization';
import { archivePrice, archiveProduct, findPrice, findProduct, reactivatePrice, reactivateProduct } from './archive';
import { sendPastStoredErrors } from './retry';
import { contentDigest, idempotencyKey } from './idempotency';
import { ensureMeter, policyMeterEventName } from './meters';
import { priceMatches, priceParams } from './pricing';
import type { ApiPlanCopies } from './api-plans.service';
import type { StripeClients } from './stripe.clients';
import { callStripe, findInStripe } from './stripe.errors';
import type { StripeRepository } from './stripe.repository';

const NOT_BILLABLE: BillingPlanChange = { billable: false, planId: null, apisUpdated: 0 };

/**
 * Policies → plans in the tenant's platform account: a Product per COMMERCIAL policy and one
 * active Price (licensed for FIXEDRATE, metered on a Billing Meter for DYNAMICRATE), recorded in
 * AM_POLICY_PLAN_MAPPING.
 */
export class PlansService {
  constructor(
    private readonly clients: StripeClients,
    private readonly repository: StripeRepository,
    private readonly apiPlans: ApiPlanCopies,
  ) {}

  async create(policy: SubscriptionPolicy): Promise<BillingPlanChange> {
    if (policy.billingPlan === 'FREE' || !policy.pricing) return NOT_BILLABLE;
    const price = await this.ensurePlatformPrice(policy);
    return { billable: true, planId: price.id, apisUpdated: 0 };
  }

  /**
   * Brings the platform plan and every API's connected-account copy in line with the policy.
   * Each copy is compared and replaced on its own, so a retry after a partial failure finishes
   * the copies the first attempt did not reach.
   */
  async update(policy: SubscriptionPolicy): Promise<BillingPlanChange> {
    if (policy.billingPlan === 'FREE' || !policy.pricing) {
      await this.delete(policy);
      const apisUpdated = await this.apiPlans.withdrawTier(policy);
      return { ...NOT_BILLABLE, apisUpdated };
    }
    const price = await this.ensurePlatformPrice(policy);
    const apisUpdated = await this.apiPlans.repriceTier(policy);
    return { billable: true, planId: price.id, apisUpdated };
  }

  async delete(policy: SubscriptionPolicy): Promise<void> {
    const mapping = await this.repository.planMapping(policy.uuid);
    if (!mapping) return;
    const stripe = this.clients.forTenant(policy.tenant.domain);
    await archivePrice(stripe, mapping.planId);
    await archiveProduct(stripe, mapping.productId);
    await this.repository.deletePlanMapping(policy.uuid);
  }

  private async ensurePlatformPrice(policy: SubscriptionPolicy): Promise<Stripe.Price> {
    const pricing = policy.pricing!;
    const stripe = this.clients.forTenant(policy.tenant.domain);
    const mapping = await this.repository.planMapping(policy.uuid);
    const product = await this.ensureProduct(stripe, policy, mapping?.productId);
    const meterId =
      pricing.plan === 'DYNAMICRATE'
        ? (await ensureMeter(stripe, { eventName: policyMeterEventName(policy.uuid), displayName: `${policy.tenant.domain} ${policy.name} requests` })).id
        : undefined;
    const wanted = priceParams(pricing, policy.name);

    const current = mapping ? await this.retrievePrice(stripe, mapping.planId) : undefined;
    if (current && current.active && current.product === product.id && priceMatches(current, wanted, meterId)) return current;

    const params: Stripe.PriceCreateParams = {
      ...wanted,
      product: product.id,
      recurring: { ...wanted.recurring!, ...(meterId ? { meter: meterId } : {}) },
      metadata: { meterline_policy_uuid: policy.uuid, meterline_tenant: policy.tenant.domain },
    };
    const created = await callStripe('create the price of a policy', { policy: policy.name }, () =>
      sendPastStoredErrors(
        idempotencyKey(policy.tenant.domain, 'policy', policy.uuid, 'price', contentDigest(params)),
        (key) => stripe.prices.create(params, { idempotencyKey: key }),
        () => findPrice(stripe, params, (price) => priceMatches(price, wanted, meterId)),
      ),
    );
    const price = await reactivatePrice(stripe, created);
    await this.repository.savePlanMapping(policy.uuid, { productId: product.id, planId: price.id });
    if (current && current.id !== price.id) await archivePrice(stripe, current.id);
    return price;
  }

  private async ensureProduct(stripe: Stripe, policy: SubscriptionPolicy, productId: string | undefined): Promise<Stripe.Product> {
    if (productId) {
      const existing = await this.retrieveProduct(stripe, productId);
      if (existing) return reactivateProduct(stripe, existing);
    }
    const metadata = { meterline_policy_uuid: policy.uuid, meterline_tenant: policy.tenant.domain };
    const created = await callStripe('create the product of a policy', { policy: policy.name }, () =>
      sendPastStoredErrors(
        idempotencyKey(policy.tenant.domain, 'policy', policy.uuid, 'product'),
        (key) => stripe.products.create({ name: `${policy.tenant.domain}-${policy.name}`, metadata }, { idempotencyKey: key }),
        () => findProduct(stripe, metadata),
      ),
    );
    return reactivateProduct(stripe, created);
  }

  /** With its tiers, which Stripe includes only when asked (`expand[]=tiers`), so a tiered price can be compared. */
  private retrievePrice(stripe: Stripe, priceId: string): Promise<Stripe.Price | undefined> {
    return findInStripe('retrieve a price', { priceId }, () => stripe.prices.retrieve(priceId, { expand: ['tiers'] }));
  }

  private retrieveProduct(stripe: Stripe, productId: string): Promise<Stripe.Product | undefined> {
    return findInStripe('retrieve a product', { productId }, () => stripe.products.retrieve(productId));
  }
}
