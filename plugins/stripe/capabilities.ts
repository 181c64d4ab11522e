import type { EngineCapabilities } from '../../src/monetization/capabilities';
import { stripePriceProblem } from './pricing';

/** The tenant secret Stripe's webhook deliveries are verified with (`[tenants.monetization_info]`). */
export const WEBHOOK_SECRET_KEY = 'stripe_webhook_secret';

/**
 * The tenant secret of its Stripe event destination for thin events (meter error reports,
 * `v1.billing.meter.error_report_triggered`): a destination has its own signing secret
 * (https://docs.stripe.com/event-destinations), so deliveries are verified with either.
 */
export const EVENT_DESTINATION_SECRET_KEY = 'stripe_event_destination_secret';

/** The header Stripe signs every webhook delivery in: https://docs.stripe.com/webhooks#verify-events */
export const SIGNATURE_HEADER = 'Stripe-Signature';

/** Stripe's documented values, which the core reads instead of knowing Stripe. */
export const stripeCapabilities: EngineCapabilities = {
  usage: {
    // "Timestamps must be within the past 35 calendar days" and "no more than 5 minutes into the
    // future": https://docs.stripe.com/api/billing/meter-event/create#create_billing_meter_event-timestamp
    backdatingLimitMs: 35 * 86_400_000,
    futureToleranceMs: 5 * 60_000,
    // A meter event's `identifier` deduplicates "within a rolling period of at least 24 hours":
    // https://docs.stripe.com/api/billing/meter-event/create#create_billing_meter_event-identifier
    // (idempotency keys likewise "are removed after they're at least 24 hours old":
    // https://docs.stripe.com/api/idempotent_requests).
    identifierMemoryMs: 24 * 3_600_000,
    // A renewal invoice stays a draft for its "default finalization grace period of 1 hour. During
    // the finalization grace period, you can continue to report usage for the previous billing
    // period": https://docs.stripe.com/billing/subscriptions/usage-based/configure-grace-period
    periodUsageGraceMs: 3_600_000,
  },
  tenantSecrets: [
    { key: WEBHOOK_SECRET_KEY, description: "the tenant's Stripe webhook signing secret (whsec_…)" },
    { key: EVENT_DESTINATION_SECRET_KEY, description: "the signing secret (whsec_…) of the tenant's Stripe event destination for thin events (meter error reports)" },
  ],
  webhooks: { signatureHeaders: [SIGNATURE_HEADER], secret: WEBHOOK_SECRET_KEY, otherSecrets: [EVENT_DESTINATION_SECRET_KEY] },
  // The invoice Stripe issues when a subscription is created has
  // `billing_reason: 'subscription_create'`: https://docs.stripe.com/api/invoices/object#invoice_object-billing_reason
  isFirstPaymentInvoice: (billingReason) => billingReason === 'subscription_create',
  // Currencies and amounts Stripe can charge (https://docs.stripe.com/currencies): pricing.ts.
  checkPrice: stripePriceProblem,
};
