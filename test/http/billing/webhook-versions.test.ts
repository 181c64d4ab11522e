import Stripe from 'stripe';
import { fixedPriceSubscription, forEachBillingHarness, type BillingHarness } from '../../helpers/billing-harness';
import type { StripeServer } from '../../../dev/stripe-server';

/**
 * Stripe renders each event at the receiving endpoint's API version, or the account's default
 * (https://docs.stripe.com/webhooks/versioning); before 2025-03-31.basil an invoice names its
 * subscription in top-level `subscription`/`subscription_details`, from then on under
 * `parent.subscription_details` (https://docs.stripe.com/changelog/basil/2025-03-31/adds-new-parent-field-to-invoicing-objects).
 * Meterline's handling must not depend on which: through the signed webhook route over HTTP, a
 * subscription held until its first payment is released by the invoice.paid of either shape.
 */
const WEBHOOK = '/api/am/monetization/webhooks/stripe/carbon.super';

async function firstPaymentReleases(harness: BillingHarness, stripeServer: StripeServer, expectedVersion: string) {
  const { subscriptionId, account, subscriber, status } = await fixedPriceSubscription(harness);
  expect(status).toBe('ON_HOLD');
  const invoice = (await harness.platform.invoices.list({}, { stripeAccount: account })).data[0]!;
  await harness.platform.invoices.pay(invoice.id!, { paid_out_of_band: true }, { stripeAccount: account });
  await stripeServer.webhooks.flush();
  const paid = stripeServer.webhooks.deliveries().filter((d) => d.url.endsWith(WEBHOOK) && d.eventType === 'invoice.paid' && d.payload.includes(invoice.id!));
  expect(paid.map((d) => d.status)).toEqual([200]);
  const body = JSON.parse(paid[0]!.payload) as { api_version: string; data: { object: Record<string, unknown> } };
  expect(body.api_version).toBe(expectedVersion);
  const list = (await harness.call('GET', `/api/am/devportal/v3/subscriptions/${subscriptionId}/invoices`, subscriber)).body;
  expect(list.list).toEqual([expect.objectContaining({ invoiceId: invoice.id, status: 'PAID', amountPaid: '10.00' })]);
  const gateway = harness.token('gateway', ['apim:usage_ingest']);
  const access = (await harness.call('GET', `/api/am/usage/v1/subscriptions/${subscriptionId}/access`, gateway)).body;
  expect(access).toMatchObject({ allowed: true, status: 'UNBLOCKED' });
  return body.data.object;
}

describe('an endpoint on 2024-06-20 (before basil)', () => {
  forEachBillingHarness({ holdUntilPaid: true, graceDays: 3, webhookApiVersion: '2024-06-20' }, (harness, _kind, stripeServer) => {
    it('its invoice.paid, with top-level subscription and no parent, releases the held subscription', async () => {
      const invoice = await firstPaymentReleases(harness(), stripeServer(), '2024-06-20');
      expect(invoice).not.toHaveProperty('parent');
      expect(invoice.subscription).toEqual(expect.stringMatching(/^sub_/));
    });
  });
});

describe('an endpoint without a version (the account default, the current version)', () => {
  forEachBillingHarness({ holdUntilPaid: true, graceDays: 3 }, (harness, _kind, stripeServer) => {
    it('its invoice.paid, with parent.subscription_details, releases the held subscription', async () => {
      const invoice = await firstPaymentReleases(harness(), stripeServer(), Stripe.API_VERSION);
      expect(invoice).toMatchObject({ parent: { subscription_details: { subscription: expect.stringMatching(/^sub_/) } } });
      expect(invoice).not.toHaveProperty('subscription');
    });
  });
});
