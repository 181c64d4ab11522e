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

/** One tier of a tiered usage price; amounts are exact major-unit decimal strings. */
export interface PriceTier {
  /** Inclusive upper bound in calls; null for the last tier (to infinity). */
  upTo: number | null;
  /** Price per call in this tier ("0.002"); "0" when the tier charges only its flat fee. */
  unitPrice: string;
  /** Flat fee for reaching this tier ("0" when none). */
  flatPrice: string;
}

export const USAGE_MODELS = ['per_unit', 'graduated', 'volume', 'package'] as const;
export type UsageModel = (typeof USAGE_MODELS)[number];

/**
 * How a DYNAMICRATE policy charges the calls of a cycle. Absent on the pricing: per_unit at
 * pricePerRequest. `graduated`: each tier charges the calls that fall within it, plus the flat fee
 * of every tier reached; `volume`: every call at the tier the cycle's total falls in, plus that
 * tier's flat fee; `package`: `packagePrice` per started package of `packageSize` calls.
 */
export type UsageRate =
  | { model: 'per_unit'; unitPrice: string }
  | { model: 'package'; packageSize: number; packagePrice: string } // per started package of N calls (rounded up)
  | { model: 'graduated' | 'volume'; tiers: readonly PriceTier[] };

/**
 * What a COMMERCIAL policy charges. Amounts are exact decimal strings in the major unit.
 * FIXEDRATE: `fixedPrice` per billing cycle, in advance. DYNAMICRATE: `pricePerRequest` for the
 * cycle's usage, in arrears, plus an optional `fixedPrice` base fee per cycle, in advance; a
 * `usageRate` (tiers, packages) replaces the per-request price for rating, while
 * `pricePerRequest` stays for WSO2's clients (tiered: the first tier's unit price; package:
 * docs/pricing.md). Either plan may charge `setupFee` once, on the subscription's first invoice.
 */
export type PolicyPricing =
  | { plan: 'FIXEDRATE'; currency: string; billingCycle: BillingCycle; fixedPrice: string; setupFee?: string }
  | {
      plan: 'DYNAMICRATE';
      currency: string;
      billingCycle: BillingCycle;
      pricePerRequest: string;
      fixedPrice?: string;
      setupFee?: string;
      usageRate?: UsageRate;
    };

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
