import type { InvoiceSnapshot } from '../monetization/billing-events';

/** Billing's records as the rest of Meterline reads them (the repository stores them). */

/** One engine invoice as Meterline recorded it from the engine's events: the engine's snapshot, and Meterline's own facts. */
export interface InvoiceRecord extends InvoiceSnapshot {
  invoiceId: number;
  tenantDomain: string;
  engineAccount: string | null;
  apiUuid: string | null;
  applicationUuid: string | null;
  lastError: string | null;
  /** The engine's PDF of the invoice (a safe link per `payLink`), or null. */
  invoicePdfUrl: string | null;
  createdAt: Date;
  finalizedAt: Date | null;
  paidAt: Date | null;
  voidedAt: Date | null;
  uncollectibleAt: Date | null;
  firstFailedAt: Date | null;
}

/** A billed subscription: its engine subscription and account, and its payment standing. */
export interface SubscriptionBillingRow {
  subscriptionUuid: string;
  tenantDomain: string;
  apiUuid: string;
  applicationUuid: string;
  engineSubscriptionId: string;
  engineAccount: string | null;
  awaitingFirstPayment: boolean;
  failingSince: Date | null;
  cancelledAt: Date | null;
}
