import type Stripe from 'stripe';
import type { SubscriptionRef } from '../../src/domain/model';
import { MonetizationError, type SubscriptionOutcome } from '../../src/monetization/monetization';
import { idempotencyKey } from './idempotency';
import { baseFeeItem } from './pricing';
import { sendPastStoredErrors } from './retry';
import type { StripeClients } from './stripe.clients';
import { callStripe } from './stripe.errors';
import type { StripeRepository } from './stripe.repository';

const NOT_BILLED: SubscriptionOutcome = { billed: false, access: 'UNBLOCKED', engineSubscriptionId: null };

/** How many plan changes a Stripe subscription has had, in its metadata: the n-th change's idempotency key. */
const CHANGES = 'meterline_plan_changes';

/**
 * Change of business plan of a billed subscription: the same Stripe subscription (same id,
 * customer, account and billing cycle) moves to the new tier's price, as Stripe documents
 * (https://docs.stripe.com/billing/subscriptions/change-price): the plan's subscription item gets
 * the new price with `proration_behavior: create_prorations`, so the unused time on the old fixed
 * price is credited and the new one charged for the rest of the period on the next invoice.
 * A DYNAMICRATE tier's base fee is a second item: the old one is removed and the new tier's
 * added (prorated too). Usage is on the subscription's meter: Meterline has sent what was used
 * before the change, so it is billed at the old price on the item that carried it.
 *
 * Safe to retry: a subscription already on the new tier's price is left as it is. The key of
 * the update names the subscription and its n-th change (counted in the subscription's metadata
 * by the same update), so a later change back and forth is never answered with an earlier
 * change's saved response.
 */
export class StripePlanChange {
  constructor(
    private readonly clients: StripeClients,
    private readonly repository: StripeRepository,
  ) {}

  async change(from: SubscriptionRef, to: SubscriptionRef): Promise<SubscriptionOutcome> {
    if (to.policy.billingPlan !== 'COMMERCIAL' || !to.policy.pricing) return NOT_BILLED;
    const { api, application } = from;
    const apiId = await this.repository.apiId(api.uuid);
    const applicationId = await this.repository.applicationId(application.uuid);
    const row = apiId !== undefined && applicationId !== undefined ? await this.repository.monetizedSubscription(apiId, applicationId) : undefined;
    if (apiId === undefined || !row) throw new MonetizationError('NOT_FOUND', `subscription ${from.uuid} is not billed`);
    const account = await this.repository.accountOf(row);
    if (!account) throw new MonetizationError('NOT_MONETIZED', `subscription ${from.uuid} has no connected account recorded`);
    const plans = await this.repository.apiPlans(apiId);
    const target = plans.find((plan) => plan.tierName === to.policy.name);
    if (!target) {
      throw new MonetizationError('NOT_MONETIZED', `tier ${to.policy.name} of API ${api.name} ${api.version} has no plan in connected account ${account}; enable monetization for the API again`);
    }
    const stripe = this.clients.forTenant(api.tenant.domain);
    const context = { account, subscription: from.uuid };
    const current = await callStripe('read the subscription', context, () => stripe.subscriptions.retrieve(row.stripeSubscriptionId, {}, { stripeAccount: account }));
    const billed: SubscriptionOutcome = { billed: true, access: 'UNBLOCKED', engineSubscriptionId: current.id };
    if (current.items.data.some((item) => item.price.id === target.planId)) return billed;

    const source = plans.find((plan) => plan.tierName === from.policy.name);
    const planItem =
      current.items.data.find((item) => item.price.id === source?.planId) ??
      (from.policy.pricing?.plan === 'DYNAMICRATE' ? current.items.data.find((item) => item.price.recurring?.usage_type === 'metered') : current.items.data[0]);
    if (!planItem) throw new MonetizationError('CONFLICT', `Stripe subscription ${current.id} has no item for tier ${from.policy.name}`);
    const baseFee = baseFeeItem(to.policy.pricing, to.policy.name, target.productId);
    await updatePlanItems(stripe, {
      tenant: api.tenant.domain,
      subscription: from.uuid,
      account,
      current,
      items: [
        { id: planItem.id, price: target.planId },
        // The old tier's base fee, if any: every other item of the subscription.
        ...current.items.data.filter((item) => item.id !== planItem.id).map((item) => ({ id: item.id, deleted: true })),
        ...(baseFee ? [baseFee] : []),
      ],
      prorations: 'create_prorations',
      intent: 'change-plan',
      target: to.policy.name,
    });
    return billed;
  }
}

/**
 * The one way a billed subscription's plan items are changed (a change of business plan, an
 * adopted WSO2 subscription moved to its metered price: api-plans.service.ts): one
 * `subscriptions.update` of the same subscription (items changed in place, ids kept), counting
 * the change in the subscription's metadata, with an idempotency key naming the subscription,
 * the kind of change (`intent`), its n-th change and its target, sent past Stripe's stored
 * errors. The caller has checked that the change is still to be made (`current` is not on the
 * target yet), so a retry after a crash is answered from the saved response or finds nothing to do.
 */
export async function updatePlanItems(
  stripe: Stripe,
  input: {
    tenant: string;
    /** The gateway subscription's UUID. */
    subscription: string;
    account: string;
    current: Stripe.Subscription;
    items: Stripe.SubscriptionUpdateParams.Item[];
    prorations: Stripe.SubscriptionUpdateParams.ProrationBehavior;
    intent: string;
    target: string;
  },
): Promise<void> {
  const { tenant, subscription, account, current } = input;
  const changes = Number(current.metadata?.[CHANGES] ?? '0');
  const params: Stripe.SubscriptionUpdateParams = {
    items: input.items,
    proration_behavior: input.prorations,
    metadata: { [CHANGES]: String(changes + 1) },
  };
  await callStripe('change the plan of the subscription', { account, subscription }, () =>
    sendPastStoredErrors(idempotencyKey(tenant, 'subscription', subscription, input.intent, current.id, changes + 1, input.target), (key) =>
      stripe.subscriptions.update(current.id, params, { stripeAccount: account, idempotencyKey: key }),
    ),
  );
}
