import type { EngineCapabilities } from '../../src/monetization/capabilities';
import { SIGNATURE_HEADER } from './signature';

/** Where the tenant's integration receives Meterline's requests (an http(s) URL). */
export const INTEGRATION_URL_KEY = 'integration_url';
/** The secret (`whsec_<base64>`) Meterline signs its requests to the integration with. */
export const SIGNING_SECRET_KEY = 'integration_signing_secret';
/** The secret (`whsec_<base64>`) the integration signs its invoice events to Meterline with. */
export const INBOUND_SECRET_KEY = 'integration_inbound_secret';

/**
 * Who a subscription's billing account is (`subscription.created`'s `account.kind`): `user` (the
 * subscriber, the default), `team` (the application) or `org` (the tenant). A setting, not a
 * secret, kept beside the secrets as MyFatoorah's region is.
 */
export const ACCOUNT_KIND_KEY = 'integration_account_kind';

/** The billing reason an integration gives the invoice that starts a subscription (docs/custom-billing.md). */
export const FIRST_INVOICE_REASON = 'subscription_create';

/**
 * The integration bills (it makes the invoices and reports them back), so `invoicing` is the
 * engine's. Usage limits are the protocol's (docs/custom-billing.md, "Usage"): the integration
 * accepts usage of any age (Meterline's outbox may hold it while the integration is down),
 * deduplicates by `webhook-id` for at least 45 days, and puts usage that arrives up to 24 h after
 * a period ends on that period's invoice. Usage stamped more than 5 minutes ahead is refused, as
 * by the free engine.
 */
export const httpIntegrationCapabilities: EngineCapabilities = {
  usage: {
    backdatingLimitMs: Number.POSITIVE_INFINITY,
    futureToleranceMs: 5 * 60_000,
    identifierMemoryMs: 45 * 86_400_000,
    periodUsageGraceMs: 24 * 3_600_000,
  },
  tenantSecrets: [
    { key: INTEGRATION_URL_KEY, description: "the URL of the tenant's billing integration (Meterline POSTs each operation there)" },
    { key: SIGNING_SECRET_KEY, description: 'the whsec_… secret Meterline signs its requests to the integration with' },
    { key: INBOUND_SECRET_KEY, description: 'the whsec_… secret the integration signs its invoice events to Meterline with' },
    { key: ACCOUNT_KIND_KEY, description: "whose billing account a subscription is on: user (the subscriber, default), team (the application) or org (the tenant); a setting, not a secret" },
  ],
  // Standard Webhooks' header, not this engine's own: the notifications' webhook sender signs with it too.
  webhooks: { signatureHeaders: [SIGNATURE_HEADER], secret: INBOUND_SECRET_KEY },
  isFirstPaymentInvoice: (billingReason) => billingReason === FIRST_INVOICE_REASON,
};
