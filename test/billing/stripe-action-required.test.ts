import Stripe from 'stripe';
import { StripeWebhookVerifier } from '../../plugins/stripe/webhooks';

/**
 * `invoice.payment_action_required` ("Sent when the invoice requires customer authentication":
 * https://docs.stripe.com/billing/subscriptions/event-destinations) counts as an unpaid attempt,
 * so a subscription whose first payment awaits 3-D Secure is held even if no
 * `invoice.payment_failed` accompanies it.
 */
it('reads invoice.payment_action_required as a payment that did not succeed, with the reason', () => {
  const secret = 'whsec_action_required';
  const payload = JSON.stringify({
    id: 'evt_action_required',
    object: 'event',
    type: 'invoice.payment_action_required',
    created: 1_900_000_000,
    account: 'acct_publisher',
    data: {
      object: {
        id: 'in_sca',
        object: 'invoice',
        currency: 'eur',
        status: 'open',
        total: 1000,
        amount_due: 1000,
        amount_paid: 0,
        amount_remaining: 1000,
        period_start: 1_900_000_000,
        period_end: 1_900_000_000,
        billing_reason: 'subscription_create',
        parent: { subscription_details: { subscription: 'sub_sca', metadata: { meterline_subscription_uuid: 'uuid-1' } } },
      },
    },
  });
  const now = new Date(1_900_000_000_000);
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: 1_900_000_000 });
  const event = new StripeWebhookVerifier().verify({ secret, rawBody: Buffer.from(payload), signature, now });
  expect(event).toMatchObject({
    type: 'invoice',
    change: 'payment_failed',
    failure: "the payment awaits the customer's authentication (3-D Secure)",
    invoice: { engineInvoiceId: 'in_sca', engineSubscriptionId: 'sub_sca', status: 'OPEN', billingReason: 'subscription_create' },
  });
});
