import type { InvoiceStatus } from '../monetization/billing-events';

/** Billing's records as the rest of Meterline reads them (the repository stores them). */

/** One engine invoice as Meterline recorded it from the engine's events. */
export interface InvoiceRecord {
  invoiceId: number;
  tenantDomain: string;
  engineInvoiceId: string;
  engineAccount: string | null;
  engineSubscriptionId: string | null;
  subscriptionUuid: string | null;
  apiUuid: string | null;
  applicationUuid: string | null;
  status: InvoiceStatus;
  currency: string;
  total: bigint;
  amountDue: bigint;
  amountPaid: bigint;
  amountRemaining: bigint;
  periodStart: Date;
  periodEnd: Date;
  hostedInvoiceUrl: string | null;
  billingReason: string | null;
  lastError: string | null;
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
