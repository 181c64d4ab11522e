/**
 * The gateway's objects as the billing engines see them. Plain data, already validated at the
 * edge; engines trust these types.
 */

export interface TenantRef {
  domain: string;
  id: number;
}

export const BILLING_PLANS = ['FREE', 'COMMERCIAL'] as const;
export type BillingPlanKind = (typeof BILLING_PLANS)[number];

export const MONETIZATION_PLANS = ['FIXEDRATE', 'DYNAMICRATE'] as const;
export type MonetizationPlan = (typeof MONETIZATION_PLANS)[number];

export const BILLING_CYCLES = ['day', 'week', 'month', 'year'] as const;
export type BillingCycle = (typeof BILLING_CYCLES)[number];

/**
 * What a COMMERCIAL policy charges. Amounts are exact decimal strings in the major unit.
 * FIXEDRATE: `fixedPrice` per billing cycle, in advance. DYNAMICRATE: `pricePerRequest` for the
 * cycle's usage, in arrears, plus an optional `fixedPrice` base fee per cycle, in advance.
 */
export type PolicyPricing =
  | { plan: 'FIXEDRATE'; currency: string; billingCycle: BillingCycle; fixedPrice: string }
  | { plan: 'DYNAMICRATE'; currency: string; billingCycle: BillingCycle; pricePerRequest: string; fixedPrice?: string };

/** A subscription throttling policy (tier, business plan). */
export interface SubscriptionPolicy {
  uuid: string;
  name: string;
  tenant: TenantRef;
  billingPlan: BillingPlanKind;
  /** Present exactly when billingPlan is COMMERCIAL. */
  pricing: PolicyPricing | null;
}

/** An API as far as monetization cares. */
export interface ApiRef {
  uuid: string;
  name: string;
  version: string;
  provider: string;
  tenant: TenantRef;
}

export interface ApplicationRef {
  uuid: string;
  name: string;
}

export interface SubscriberRef {
  userId: string;
  email: string | null;
}

/** One subscription of an application to an API on a policy, identified by its UUID. */
export interface SubscriptionRef {
  uuid: string;
  api: ApiRef;
  application: ApplicationRef;
  subscriber: SubscriberRef;
  policy: SubscriptionPolicy;
}
