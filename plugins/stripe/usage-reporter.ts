import Stripe from 'stripe';
import { BILLING_CYCLES, type SubscriptionRef } from '../../src/domain/model';
import { MonetizationError, type BillingCycleInfo, type UsageReport, type UsageReportOutcome } from '../../src/monetization/monetization';
import { apiMeterEventName } from './meters';
import type { StripeClients } from './stripe.clients';
import { sendPastStoredErrors } from './retry';
import { callStripe, isDuplicateMeterEventIdentifier, isResourceMissing } from './stripe.errors';
import type { StripeRepository } from './stripe.repository';

/**
 * Sends one window of metered usage as a Billing Meter event for the subscription's shared
 * customer on the API's meter, in the connected account the subscription lives in, stamped with the window's own time. The caller's identifier names
 * the usage (subscription, meter, window), so a re-send is recognised by Stripe and never billed
 * twice.
 */
export class StripeUsageReporter {
  constructor(
    private readonly clients: StripeClients,
    private readonly repository: StripeRepository,
  ) {}

  async report(usage: UsageReport): Promise<UsageReportOutcome> {
    const { subscription } = usage;
    if (!Number.isSafeInteger(usage.quantity) || usage.quantity < 0) {
      throw new MonetizationError('ENGINE_REJECTED', `usage quantity must be a whole number, got ${usage.quantity}`);
    }
    if (usage.quantity === 0) return { sent: false, reason: 'no usage in the window' };
    const billed = await this.repository.billedSubscription(subscription.api.uuid, subscription.application.uuid);
    if (!billed) return { sent: false, reason: `subscription ${subscription.uuid} is not billed` };
    const { row, account } = billed;

    const stripe = this.clients.forTenant(subscription.api.tenant.domain);
    try {
      // The identifier, not the key, dedupes: past a 500 Stripe saved under the key, the next key
      // of the chain is sent at once, and a repeat then answers "An event already exists".
      await callStripe('send a meter event', { account, subscription: subscription.uuid }, () =>
        sendPastStoredErrors(usage.identifier, (key) =>
          stripe.billing.meterEvents.create(
            {
              event_name: apiMeterEventName(subscription.api.uuid),
              payload: { stripe_customer_id: row.sharedCustomerId, value: String(usage.quantity) },
              identifier: usage.identifier,
              timestamp: Math.floor(usage.windowStart.getTime() / 1000),
            },
            { stripeAccount: account, idempotencyKey: key },
          ),
        ),
      );
    } catch (error) {
      // Already recorded (an earlier send whose answer was lost, under another idempotency key).
      if (isDuplicateMeterEventIdentifier(error, usage.identifier)) return { sent: true };
      throw error;
    }
    return { sent: true };
  }

  /**
   * The Stripe subscription's billing cycle anchor and its price's interval, read from the
   * connected account the subscription lives in. Null when the subscription is not billed or Stripe no longer
   * has it.
   */
  async billingCycle(subscription: SubscriptionRef): Promise<BillingCycleInfo | null> {
    const billed = await this.repository.billedSubscription(subscription.api.uuid, subscription.application.uuid);
    if (!billed) return null;
    const { row, account } = billed;
    const stripe = this.clients.forTenant(subscription.api.tenant.domain);
    let found: Stripe.Subscription;
    try {
      found = await callStripe('retrieve the subscription', { account, subscription: subscription.uuid }, () =>
        stripe.subscriptions.retrieve(row.stripeSubscriptionId, {}, { stripeAccount: account }),
      );
    } catch (error) {
      if (isResourceMissing(error)) return null;
      throw error;
    }
    const recurring = found.items.data[0]?.price.recurring;
    const interval = BILLING_CYCLES.find((cycle) => cycle === recurring?.interval);
    if (!recurring || !interval) return null;
    return { anchor: new Date(found.billing_cycle_anchor * 1000), interval, intervalCount: recurring.interval_count };
  }
}
