import { invalidState } from '../http/errors';
import type { AccountState } from '../state/account-state';
import type { World } from '../state/world';
import type { WireInvoice } from '../wire';
import { markUncollectible, subscriptionOf } from './invoice-lifecycle';
import { endSubscription } from './subscription-cycle';

/**
 * What happens when Stripe's retries of a failed subscription payment are exhausted, per the
 * account's settings: "If all retries for a payment fail" the subscription is cancelled, marked
 * `unpaid` or left `past_due`, and the invoice left past due or marked uncollectible
 * (https://docs.stripe.com/billing/revenue-recovery/smart-retries,
 * https://docs.stripe.com/billing/subscriptions/overview#settings). The subscription's status is
 * changed only when the failing invoice is its latest one: a later invoice that was paid leaves it
 * as it is (https://support.stripe.com/questions/retry-schedules-longer-than-a-subscription-s-billing-period).
 *
 * This server does not run the retry schedule itself (Smart Retries' "8 tries within 2 weeks"):
 * a test ends it at once with the test control `billing.exhaustRetries`.
 */
export interface RetrySettings {
  /** Default 'cancel'. */
  subscription?: 'cancel' | 'unpaid' | 'past_due';
  /** Default 'past_due' (the invoice stays open). */
  invoice?: 'uncollectible' | 'past_due';
}

export function exhaustRetries(world: World, account: AccountState, invoice: WireInvoice, settings: RetrySettings = {}): void {
  if (invoice.status !== 'open' || !invoice.attempted) {
    throw invalidState(`Only an open invoice whose payment failed has retries to exhaust; ${invoice.id} is ${invoice.status}.`);
  }
  invoice.next_payment_attempt = null;
  const subscription = subscriptionOf(account, invoice);
  const latest = subscription !== undefined && subscription.latest_invoice === invoice.id;
  if ((settings.invoice ?? 'past_due') === 'uncollectible') markUncollectible(world, account, invoice);
  if (!subscription || !latest || subscription.status === 'canceled') return;
  const action = settings.subscription ?? 'cancel';
  if (action === 'cancel') {
    endSubscription(world, account, subscription, world.clock.now(), 'payment_failed');
  } else if (action === 'unpaid' && subscription.status !== 'unpaid') {
    const previous = subscription.status;
    subscription.status = 'unpaid';
    world.events.emit(account, 'customer.subscription.updated', subscription, { status: previous });
  }
}
