import type { SubscriptionPolicy, SubscriptionRef } from '../domain/model';
import type { EngineCapabilities } from './capabilities';
import {
  MonetizationError,
  type Monetization,
  type MonetizationEngineFactory,
  type SubscriptionOutcome,
} from './monetization';

/**
 * It sends nothing anywhere, so it limits nothing: usage of any age is stored (and closed as not
 * billed by the publisher), it keeps no secrets and receives no webhooks. Usage stamped more than
 * 5 minutes ahead is still refused, as a clock that far off is a sender's mistake.
 */
const FREE_CAPABILITIES: EngineCapabilities = {
  usage: { backdatingLimitMs: Number.POSITIVE_INFINITY, futureToleranceMs: 5 * 60_000, identifierMemoryMs: Number.POSITIVE_INFINITY, periodUsageGraceMs: Number.POSITIVE_INFINITY },
  tenantSecrets: [],
  webhooks: null,
  isFirstPaymentInvoice: () => false,
};

const NOT_BILLED: SubscriptionOutcome = { billed: false, access: 'UNBLOCKED', engineSubscriptionId: null };

function refuseCommercial(what: string): never {
  throw new MonetizationError(
    'BILLING_NOT_CONFIGURED',
    `${what} needs a billing engine: set [apim.monetization] monetization_impl to an engine that charges`,
  );
}

/**
 * The in-tree engine for deployments that sell nothing: FREE policies and subscriptions work,
 * anything that would need to charge money is refused with a clear error.
 */
export class FreeMonetization implements Monetization {
  readonly name = 'free';
  readonly capabilities = FREE_CAPABILITIES;

  async createBillingPlan(policy: SubscriptionPolicy) {
    if (policy.billingPlan === 'COMMERCIAL') refuseCommercial(`COMMERCIAL policy "${policy.name}"`);
    return { billable: false, planId: null, apisUpdated: 0 };
  }

  async updateBillingPlan(policy: SubscriptionPolicy) {
    return this.createBillingPlan(policy);
  }

  async deleteBillingPlan(): Promise<void> {}

  async enableMonetization(): Promise<never> {
    refuseCommercial('Monetizing an API');
  }

  async disableMonetization() {
    return { enabled: false, plans: {}, changed: false, notes: [] };
  }

  async getMonetizedPoliciesToPlanMapping() {
    return {};
  }

  async getCurrentUsageForSubscription(subscription: SubscriptionRef): Promise<never> {
    throw new MonetizationError('NOT_MONETIZED', `subscription ${subscription.uuid} is not billed`);
  }

  async getTotalRevenue() {
    return { byCurrency: {}, subscriptions: [] };
  }

  async createSubscription(subscription: SubscriptionRef) {
    if (subscription.policy.billingPlan === 'COMMERCIAL') refuseCommercial(`Subscribing on "${subscription.policy.name}"`);
    return NOT_BILLED;
  }

  async deleteSubscription() {
    return NOT_BILLED;
  }

  async reportUsage() {
    return { sent: false as const, reason: 'the free engine bills nothing' };
  }

  async billingCycleOf(): Promise<null> {
    return null;
  }

  async billedSubscriptionOf(): Promise<null> {
    return null;
  }

  async billedSubscriptionsOf(): Promise<Map<string, never>> {
    return new Map<string, never>();
  }

  async listEngineSubscriptions(): Promise<never[]> {
    return [];
  }

  async cancelEngineSubscription(): Promise<void> {}

  async listEngineCustomers() {
    return { customers: [], unlisted: [] };
  }

  /** Never called: the free engine makes no customers, so `listEngineCustomers` finds none. */
  async repairEngineCustomer(): Promise<never> {
    throw new MonetizationError('NOT_FOUND', 'the free engine makes no customers');
  }
}

export const freeEngine: MonetizationEngineFactory = {
  name: 'free',
  capabilities: FREE_CAPABILITIES,
  create(options) {
    if (options !== undefined && (typeof options !== 'object' || options === null || Object.keys(options).length > 0)) {
      throw new MonetizationError('INVALID_MONETIZATION_PROPERTIES', 'the free engine takes no options');
    }
    return new FreeMonetization();
  },
};
