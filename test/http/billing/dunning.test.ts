import { forEachBillingHarness } from '../../helpers/billing-harness';
import { DEVPORTAL } from '../../helpers/rest-harness';
import { subscribeWithCard } from './card-subscription';

/**
 * Dunning: a renewal whose payment fails leaves the Stripe subscription `past_due` while Stripe
 * retries; when the retries are exhausted the account's settings cancel it or mark it `unpaid`
 * (https://docs.stripe.com/billing/revenue-recovery/smart-retries,
 * https://docs.stripe.com/billing/subscriptions/overview#settings). Meterline keeps access for the
 * tenant's grace period from the first failure, blocks it once Stripe cancels the subscription,
 * and the gateway's subscription shows it.
 */
const DAY = 86_400;

forEachBillingHarness({ holdUntilPaid: false, graceDays: 3 }, (harness, _kind, stripeServer) => {
  const gateway = () => harness().token('gateway', ['apim:usage_ingest']);
  const accessOf = async (subscriptionId: string) => (await harness().call('GET', `/api/am/usage/v1/subscriptions/${subscriptionId}/access`, gateway())).body;

  /** A paid subscription whose first renewal's payment failed (Stripe: past_due, retrying). */
  async function pastDue() {
    const subscribed = await subscribeWithCard(harness(), 'pm_card_visa');
    const { stripeSubscription, account, subscriptionId } = subscribed;
    await stripeServer().webhooks.flush();
    expect(await accessOf(subscriptionId)).toMatchObject({ allowed: true, status: 'UNBLOCKED' });
    stripeServer().payments.failNext({ customer: String(stripeSubscription.customer) });
    stripeServer().clock.advanceTo(stripeSubscription.items.data[0]!.current_period_end + 2 * 3600);
    await stripeServer().webhooks.flush();
    const renewed = await harness().platform.subscriptions.retrieve(stripeSubscription.id, {}, { stripeAccount: account });
    expect(renewed.status).toBe('past_due');
    return { ...subscribed, invoice: String(renewed.latest_invoice) };
  }

  const gatewayStatus = async (subscriptionId: string, subscriber: string) =>
    (await harness().call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}`, subscriber)).body.status;

  it('keeps access while Stripe retries, and blocks when Stripe cancels the subscription after its retries', async () => {
    const { subscriptionId, account, invoice, subscriber } = await pastDue();
    expect(await accessOf(subscriptionId)).toMatchObject({ allowed: true, status: 'UNBLOCKED' });

    stripeServer().billing.exhaustRetries(account, invoice);
    await stripeServer().webhooks.flush();
    expect(await accessOf(subscriptionId)).toMatchObject({ allowed: false, status: 'BLOCKED', reason: 'the billing engine cancelled this subscription' });
    expect(await gatewayStatus(subscriptionId, subscriber)).toBe('BLOCKED');
  });

  it('an unpaid subscription with its invoice written off is blocked once the grace period from the first failure ends', async () => {
    const { subscriptionId, account, invoice } = await pastDue();
    stripeServer().billing.exhaustRetries(account, invoice, { subscription: 'unpaid', invoice: 'uncollectible' });
    await stripeServer().webhooks.flush();
    expect(await accessOf(subscriptionId)).toMatchObject({ allowed: true, status: 'UNBLOCKED' });

    stripeServer().clock.advance(3 * DAY);
    expect(await accessOf(subscriptionId)).toMatchObject({ allowed: false, status: 'BLOCKED', reason: expect.stringContaining('unpaid since') });
  });
});
