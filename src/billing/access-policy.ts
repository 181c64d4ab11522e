/**
 * Whether a subscription may call its API, decided from local state only (the gateway asks on
 * every request, so this never waits on the billing engine).
 */
export type SubscriptionAccessStatus = 'UNBLOCKED' | 'ON_HOLD' | 'BLOCKED';

export interface PaymentStanding {
  /** A paid-plan subscription whose first invoice is not paid yet. */
  awaitingFirstPayment: boolean;
  /** When an invoice of the subscription first failed or became uncollectible, unpaid since. */
  failingSince: Date | null;
  /** When the billing engine cancelled the subscription (e.g. after failed payments). */
  cancelledAt: Date | null;
}

export interface TenantBillingRules {
  /** New subscriptions on paid plans stay ON_HOLD until their first invoice is paid. */
  holdUntilPaid: boolean;
  /** How long a subscription keeps access after a later invoice fails. */
  gracePeriodMs: number;
}

export interface AccessDecision {
  status: SubscriptionAccessStatus;
  allowed: boolean;
  reason: string | null;
}

export function decideAccess(standing: PaymentStanding, rules: TenantBillingRules, now: Date): AccessDecision {
  if (standing.cancelledAt !== null) {
    return { status: 'BLOCKED', allowed: false, reason: 'the billing engine cancelled this subscription' };
  }
  if (standing.failingSince !== null) {
    const blockedFrom = standing.failingSince.getTime() + rules.gracePeriodMs;
    if (now.getTime() >= blockedFrom) {
      return { status: 'BLOCKED', allowed: false, reason: `an invoice is unpaid since ${standing.failingSince.toISOString()}` };
    }
  }
  if (rules.holdUntilPaid && standing.awaitingFirstPayment) {
    return { status: 'ON_HOLD', allowed: false, reason: 'the first invoice of this subscription is not paid yet' };
  }
  // Nothing paid yet and a payment failed (or awaits the customer, e.g. 3-D Secure): the engine has
  // not started the subscription, so it is held whatever the tenant's hold_until_paid.
  if (standing.awaitingFirstPayment && standing.failingSince !== null) {
    return { status: 'ON_HOLD', allowed: false, reason: 'no payment of this subscription has succeeded yet and one failed or awaits the customer' };
  }
  return { status: 'UNBLOCKED', allowed: true, reason: null };
}
