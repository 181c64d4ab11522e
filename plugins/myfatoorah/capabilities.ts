import type { EngineCapabilities } from '../../src/monetization/capabilities';
import { myFatoorahPriceProblem } from './currencies';
import { FIRST_PAYMENT_KIND, INVOICED_BY_METERLINE } from './meterline-invoicing';

/** The tenant's MyFatoorah API token key (`Authorization: Bearer …`): https://docs.myfatoorah.com/docs/live-token */
export const API_TOKEN_KEY = 'myfatoorah_api_token';

/** The tenant's webhook secret key (Integration Settings → Webhook Settings): https://docs.myfatoorah.com/docs/webhook-information */
export const WEBHOOK_SECRET_KEY = 'myfatoorah_webhook_secret';

/**
 * The tenant's MyFatoorah region, when its account is in another country than the deployment's
 * `region` (each country's account has its own token and origin: https://docs.myfatoorah.com/docs/live-token).
 */
export const REGION_KEY = 'myfatoorah_region';

/** The header MyFatoorah signs webhook events in: https://docs.myfatoorah.com/docs/webhook-signature */
export const SIGNATURE_HEADER = 'MyFatoorah-Signature';

/**
 * MyFatoorah issues invoices with a pay link and nothing else: no subscriptions, no metering
 * (https://docs.myfatoorah.com/docs/invoice-link). Meterline rates usage from its own usage
 * records and issues the invoices (`invoicing: 'meterline'`).
 *
 * Usage limits: nothing is sent to MyFatoorah for usage, so the engine puts no limit of its own
 * on it. Its age is not limited here (backdating, period grace: Infinity): when a period's usage
 * stops counting is Meterline's invoicing rule (the period is closed a configured time after its
 * end), not MyFatoorah's; Meterline's usage records are exactly-once, so an identifier is never
 * forgotten (Infinity). Usage stamped more than 5 minutes ahead is refused, as by the free engine:
 * a clock that far off is a sender's mistake.
 */
export const myFatoorahCapabilities: EngineCapabilities = {
  invoicing: INVOICED_BY_METERLINE,
  usage: {
    backdatingLimitMs: Number.POSITIVE_INFINITY,
    futureToleranceMs: 5 * 60_000,
    identifierMemoryMs: Number.POSITIVE_INFINITY,
    periodUsageGraceMs: Number.POSITIVE_INFINITY,
  },
  tenantSecrets: [
    { key: API_TOKEN_KEY, description: "the tenant's MyFatoorah API token key (of the country account its invoices are issued in)" },
    { key: WEBHOOK_SECRET_KEY, description: "the tenant's MyFatoorah webhook secret key (Webhook Settings, V2)" },
    { key: REGION_KEY, description: "the tenant's MyFatoorah region (kuwait, saudi_arabia, ...), replacing [apim.monetization.myfatoorah] region for it" },
  ],
  // Webhook V2 makes the secret key mandatory and puts the signature in this header:
  // https://docs.myfatoorah.com/docs/webhook-v2
  webhooks: { signatureHeaders: [SIGNATURE_HEADER], secret: WEBHOOK_SECRET_KEY },
  // Meterline's own invoice kinds are the billing reason of MyFatoorah invoices (recorded at submit).
  isFirstPaymentInvoice: (billingReason) => billingReason === FIRST_PAYMENT_KIND,
  checkPrice: myFatoorahPriceProblem,
};
