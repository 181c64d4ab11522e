import type { AccessService } from './access.service';
import type { BillingRecords } from './billing-records.service';
import type { BillingRepository } from './billing.repository';
import { advanceInvoiceStatus } from './invoice-lifecycle';
import type { InvoiceRecord } from './model';

/**
 * The billing reason Meterline gives its own first invoice of a subscription (the invoice kind
 * `SUBSCRIPTION_START`): for engines whose invoices Meterline makes, it is the one that starts a
 * subscription (`hold_until_paid` waits for it).
 */
export const OWN_FIRST_INVOICE_REASON = 'SUBSCRIPTION_START';

/** An invoice Meterline made and the engine issued (or, with nothing to pay, Meterline settled itself). */
export interface IssuedInvoice {
  /** The engine's invoice id; Meterline's own id for an invoice never submitted (nothing to pay). */
  engineInvoiceId: string;
  subscriptionUuid: string;
  /** Why it was made (the own invoice kind), kept as the record's billing reason. */
  billingReason: string;
  status: 'OPEN' | 'PAID';
  currency: string;
  total: bigint;
  periodStart: Date;
  periodEnd: Date;
  hostedInvoiceUrl: string | null;
  invoicePdfUrl: string | null;
}

/**
 * Records Meterline's own invoices on the billing records every engine's invoices live in
 * (ML_INVOICE through the repository), attached to the subscription's billing record (its engine
 * subscription and account), so payment events, the invoice listings and access decisions
 * (first invoice, grace, blocking) work for them unchanged. Recording the same invoice again
 * changes nothing, and never moves a status back (a payment event may have come first).
 */
export class IssuedInvoices {
  constructor(
    private readonly repository: BillingRepository,
    private readonly records: BillingRecords,
    private readonly access: AccessService,
  ) {}

  /**
   * Records the invoice and decides the subscription's standing again; answers the access the
   * subscription has now, or null when it has no billing record (its engine does not bill it).
   */
  async record(invoice: IssuedInvoice, now: Date): Promise<{ access: string } | null> {
    const recorded = await this.repository.transaction(async (trx) => {
      const subscription = await this.repository.subscriptionByUuid(invoice.subscriptionUuid, trx);
      if (!subscription) return null;
      const existing = await this.repository.invoiceByEngineId(trx, invoice.engineInvoiceId);
      const status = advanceInvoiceStatus(existing?.status, invoice.status);
      const paid = status === 'PAID' ? invoice.total : 0n;
      const record: Omit<InvoiceRecord, 'invoiceId' | 'createdAt'> = {
        tenantDomain: subscription.tenantDomain,
        engineInvoiceId: invoice.engineInvoiceId,
        engineAccount: subscription.engineAccount,
        engineSubscriptionId: subscription.engineSubscriptionId,
        subscriptionUuid: subscription.subscriptionUuid,
        apiUuid: subscription.apiUuid,
        applicationUuid: subscription.applicationUuid,
        status,
        currency: invoice.currency,
        total: invoice.total,
        amountDue: invoice.total,
        amountPaid: existing && existing.status === status ? existing.amountPaid : paid,
        amountRemaining: existing && existing.status === status ? existing.amountRemaining : invoice.total - paid,
        carriedToBalance: existing?.carriedToBalance ?? null,
        collectedFromBalance: existing?.collectedFromBalance ?? null,
        periodStart: invoice.periodStart,
        periodEnd: invoice.periodEnd,
        hostedInvoiceUrl: existing?.hostedInvoiceUrl ?? invoice.hostedInvoiceUrl,
        invoicePdfUrl: existing?.invoicePdfUrl ?? invoice.invoicePdfUrl,
        billingReason: invoice.billingReason,
        lastError: existing?.lastError ?? null,
        finalizedAt: existing?.finalizedAt ?? now,
        paidAt: existing?.paidAt ?? (status === 'PAID' ? now : null),
        voidedAt: existing?.voidedAt ?? null,
        uncollectibleAt: existing?.uncollectibleAt ?? null,
        firstFailedAt: existing?.firstFailedAt ?? null,
      };
      if (existing) await this.repository.updateInvoice(trx, existing.invoiceId, record, now);
      else await this.repository.insertInvoice(trx, { ...record, createdAt: now }, now);
      await this.records.refreshStanding(trx, subscription, now, {});
      return { before: existing?.status, record };
    });
    if (!recorded) return null;
    // Told once committed: invoice.issued when it goes OPEN (invoice.paid when nothing was to pay).
    await this.records.tellInvoice(recorded.record, recorded.before, null, now);
    const answer = await this.access.check(invoice.subscriptionUuid, now);
    return answer ? { access: answer.status } : null;
  }

  /** The billed subscriptions the engine has not cancelled (their billing records), by UUID. */
  liveSubscriptions(): Promise<string[]> {
    return this.repository.liveSubscriptionUuids();
  }

  /** The billing records of a subscription's invoices (own and engine-made), newest period first. */
  ofSubscription(subscriptionUuid: string): Promise<InvoiceRecord[]> {
    return this.repository.invoicesOfSubscription(subscriptionUuid);
  }
}
