import type { EngineCapabilities } from '../../src/monetization/capabilities';
import type { OwnInvoiceKind } from '../../src/monetization/monetization';

/**
 * The core's own words this engine answers with, kept out of capabilities.ts (whose string values
 * are the engine's constants, which the core must not name; these are the core's).
 */
export const INVOICED_BY_METERLINE: NonNullable<EngineCapabilities['invoicing']> = 'meterline';

/** Meterline's invoice kind that starts a subscription: the billing reason of its first payment. */
export const FIRST_PAYMENT_KIND: OwnInvoiceKind = 'SUBSCRIPTION_START';
