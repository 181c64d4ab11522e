import type Stripe from 'stripe';
import type { SubscriptionRef } from '../../src/domain/model';
import type { EndedSubscriptionRef, UsageAsBilled, UsagePeriod } from '../../src/monetization/monetization';
import type { StripeClients } from './stripe.clients';
import { callStripe, isResourceMissing } from './stripe.errors';
import type { StripeRepository } from './stripe.repository';

const MINUTE = 60;

/**
 * A subscription's metered usage as Stripe counted and invoiced it, in the connected account the
 * subscription lives in:
 * - counted: the meter's event summary for the subscription's customer
 *   (GET /v1/billing/meters/:id/event_summaries, https://docs.stripe.com/api/billing/meter-event-summary/list),
 *   whose `start_time` and `end_time` "must be aligned with minute boundaries": the period's bounds
 *   are rounded down to the minute and the range is returned with the count, so the core compares
 *   it with what it sent stamped in that same range; for a subscription that ended (cancelled)
 *   the range stops at its `ended_at`. Summaries are eventually consistent
 *   ("meter events are aggregated asynchronously"): usage sent moments ago may not show yet.
 * - invoiced: the quantity of the subscription's invoice lines for its metered price whose
 *   period lies in the billing period (the renewal invoice bills the period in arrears; a final
 *   invoice at cancel bills its part); void invoices bill nothing.
 * A live subscription is found through its billed row (its API and application); an ended one
 * (unsubscribed) through the Stripe subscription the engine cancelled for that very Meterline
 * subscription, kept with its account after the cancel: after a resubscribe the API and
 * application lead to the new Stripe subscription, the UUID to the old one.
 */
export class StripeUsageAsBilled {
  constructor(
    private readonly clients: StripeClients,
    private readonly repository: StripeRepository,
  ) {}

  async usageAsBilled(subscription: SubscriptionRef | EndedSubscriptionRef, period: UsagePeriod): Promise<UsageAsBilled | null> {
    const billed = await this.stripeSubscriptionOf(subscription);
    if (!billed) return null;
    const { stripeSubscriptionId, account } = billed;
    const stripe = this.clients.forTenant(subscription.api.tenant.domain);
    const context = { account, subscription: subscription.uuid };
    let found: Stripe.Subscription;
    try {
      found = await callStripe('retrieve the subscription', context, () => stripe.subscriptions.retrieve(stripeSubscriptionId, {}, { stripeAccount: account }));
    } catch (error) {
      if (isResourceMissing(error)) return null;
      throw error;
    }
    const customer = typeof found.customer === 'string' ? found.customer : found.customer.id;
    const metered = found.items.data.map((item) => item.price).find((price) => price.recurring?.usage_type === 'metered' && price.recurring.meter);
    const meter = metered?.recurring?.meter;
    if (!metered || !meter) return null;

    const from = Math.floor(period.start.getTime() / 1000 / MINUTE) * MINUTE;
    // An ended subscription bills nothing after it ended: the range stops there (rounded down to
    // the minute, like every bound), since its customer's later usage on the same meter belongs to
    // a subscription made since (the application subscribed to the API again).
    const end = Math.floor(Math.min(period.end.getTime() / 1000, found.ended_at ?? Number.POSITIVE_INFINITY) / MINUTE) * MINUTE;
    const to = Math.max(end, from + MINUTE);
    const counted = await countedOnMeter(stripe, { account, meter, customer, from, to }, context);

    const invoice = await callStripe('list the subscription invoices', context, () =>
      this.invoiceOf(stripe, account, stripeSubscriptionId, metered.id, period),
    );
    return { meter, counted: { from: new Date(from * 1000), to: new Date(to * 1000), quantity: counted }, invoice };
  }

  private async stripeSubscriptionOf(subscription: SubscriptionRef | EndedSubscriptionRef): Promise<{ stripeSubscriptionId: string; account: string } | undefined> {
    if ('ended' in subscription) return this.repository.cancelledSubscriptionOf(subscription.uuid);
    const billed = await this.repository.billedSubscription(subscription.api.uuid, subscription.application.uuid);
    return billed ? { stripeSubscriptionId: billed.row.stripeSubscriptionId, account: billed.account } : undefined;
  }

  /** The newest non-void invoice with lines of `priceId` inside the period, and their quantity. */
  private async invoiceOf(stripe: Stripe, account: string, subscriptionId: string, priceId: string, period: UsagePeriod): Promise<UsageAsBilled['invoice']> {
    const start = period.start.getTime() / 1000;
    const end = period.end.getTime() / 1000;
    for await (const invoice of stripe.invoices.list({ subscription: subscriptionId, limit: 100 }, { stripeAccount: account })) {
      if (invoice.status === 'void' || !invoice.id) continue;
      const invoiceId = invoice.id;
      const lines = invoice.lines.has_more
        ? await stripe.invoices.listLineItems(invoiceId, { limit: 100 }, { stripeAccount: account }).autoPagingToArray({ limit: 10_000 })
        : invoice.lines.data;
      const ours = lines.filter((line) => priceOf(line) === priceId && line.period.start >= start && line.period.end <= end && line.period.end > line.period.start);
      if (ours.length === 0) continue;
      const finalizedAt = invoice.status_transitions.finalized_at;
      return {
        id: invoiceId,
        quantity: ours.reduce((sum, line) => sum + (line.quantity ?? 0), 0),
        final: invoice.status !== 'draft',
        finalizedAt: finalizedAt ? new Date(finalizedAt * 1000) : null,
      };
    }
    return null;
  }
}

function priceOf(line: Stripe.InvoiceLineItem): string | null {
  const price = line.pricing?.price_details?.price;
  if (!price) return null;
  return typeof price === 'string' ? price : price.id;
}

/**
 * What Stripe has aggregated on `meter` for `customer` over [from, to) (Unix seconds on minute
 * boundaries): the sum of the meter's event summaries. Eventually consistent: usage sent moments
 * ago may not show yet (https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage).
 */
export function countedOnMeter(
  stripe: Stripe,
  range: { account: string; meter: string; customer: string; from: number; to: number },
  context: Record<string, unknown>,
): Promise<number> {
  return callStripe('list meter event summaries', { ...context, meter: range.meter }, async () => {
    let total = 0;
    for await (const summary of stripe.billing.meters.listEventSummaries(
      range.meter,
      { customer: range.customer, start_time: range.from, end_time: range.to, limit: 100 },
      { stripeAccount: range.account },
    )) {
      total += summary.aggregated_value;
    }
    return total;
  });
}
