import { forEachBillingHarness } from '../../helpers/billing-harness';
import { subscribeWithCard } from './card-subscription';

/**
 * A subscription whose first payment needs 3-D Secure starts `incomplete` in Stripe ("A successful
 * payment needs to be made within 23 hours to activate the subscription. Or the payment requires
 * action, like customer authentication": https://docs.stripe.com/billing/subscriptions/overview#payment-status;
 * test card pm_card_threeDSecure2Required: https://docs.stripe.com/testing#regulatory-cards). Meterline
 * holds it (no access) until its first invoice is paid, and blocks it once Stripe expires it —
 * here with hold_until_paid off, where Meterline used to grant access anyway.
 */
forEachBillingHarness({ holdUntilPaid: false, graceDays: 3 }, (harness, _kind, stripeServer) => {
  const gateway = () => harness().token('gateway', ['apim:usage_ingest']);
  const accessOf = async (subscriptionId: string) => (await harness().call('GET', `/api/am/usage/v1/subscriptions/${subscriptionId}/access`, gateway())).body;

  it('holds a subscription whose first payment needs 3-D Secure, and unblocks it once the invoice is paid', async () => {
    const { subscriptionId, account, stripeSubscription } = await subscribeWithCard(harness(), 'pm_card_threeDSecure2Required');
    await stripeServer().webhooks.flush();
    expect(stripeSubscription.status).toBe('incomplete');
    expect(await accessOf(subscriptionId)).toMatchObject({ allowed: false, status: 'ON_HOLD' });

    // The customer completes the 3-D Secure authentication: the first invoice is paid.
    stripeServer().payments.completeAuthentication(account, String(stripeSubscription.latest_invoice));
    await stripeServer().webhooks.flush();
    expect((await harness().platform.subscriptions.retrieve(stripeSubscription.id, {}, { stripeAccount: account })).status).toBe('active');
    expect(await accessOf(subscriptionId)).toMatchObject({ allowed: true, status: 'UNBLOCKED' });
  });

  it('is held from the subscribe answer on, before any webhook about its invoice arrives', async () => {
    stripeServer().webhooks.pause();
    try {
      const { subscriptionId, status } = await subscribeWithCard(harness(), 'pm_card_threeDSecure2Required');
      expect(status).toBe('ON_HOLD');
      expect(await accessOf(subscriptionId)).toMatchObject({ allowed: false, status: 'ON_HOLD' });
    } finally {
      stripeServer().webhooks.resume();
      await stripeServer().webhooks.flush();
    }
  });

  it('blocks a held subscription once Stripe expires it unpaid after 23 hours (incomplete_expired)', async () => {
    const { subscriptionId, account, stripeSubscription } = await subscribeWithCard(harness(), 'pm_card_authenticationRequired');
    await stripeServer().webhooks.flush();
    expect(await accessOf(subscriptionId)).toMatchObject({ allowed: false, status: 'ON_HOLD' });

    stripeServer().clock.advance(23 * 3600 + 60);
    await stripeServer().webhooks.flush();
    expect((await harness().platform.subscriptions.retrieve(stripeSubscription.id, {}, { stripeAccount: account })).status).toBe('incomplete_expired');
    expect(await accessOf(subscriptionId)).toMatchObject({ allowed: false, status: 'BLOCKED' });
  });
});
