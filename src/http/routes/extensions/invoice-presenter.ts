import type { InvoiceRecord } from '../../../billing/model';
import { formatMinorUnits } from '../../../domain/money';

/**
 * An invoice record as Meterline's REST extensions show it: amounts as exact decimal strings in
 * the currency's major unit (as WSO2's usage maps do), times as ISO-8601 UTC.
 */
export function toInvoiceDto(invoice: InvoiceRecord) {
  const money = (minor: bigint) => formatMinorUnits(minor, invoice.currency);
  const time = (date: Date | null) => date?.toISOString() ?? null;
  return {
    invoiceId: invoice.engineInvoiceId,
    subscriptionId: invoice.subscriptionUuid,
    applicationId: invoice.applicationUuid,
    apiId: invoice.apiUuid,
    status: invoice.status,
    currency: invoice.currency.toUpperCase(),
    total: money(invoice.total),
    amountDue: money(invoice.amountDue),
    amountPaid: money(invoice.amountPaid),
    amountRemaining: money(invoice.amountRemaining),
    carriedToBalance: invoice.carriedToBalance == null ? null : money(invoice.carriedToBalance),
    collectedFromBalance: invoice.collectedFromBalance == null ? null : money(invoice.collectedFromBalance),
    periodStart: time(invoice.periodStart),
    periodEnd: time(invoice.periodEnd),
    billingReason: invoice.billingReason,
    hostedInvoiceUrl: invoice.hostedInvoiceUrl,
    invoicePdfUrl: invoice.invoicePdfUrl,
    lastError: invoice.lastError,
    createdTime: time(invoice.createdAt),
    finalizedTime: time(invoice.finalizedAt),
    paidTime: time(invoice.paidAt),
    voidedTime: time(invoice.voidedAt),
    uncollectibleTime: time(invoice.uncollectibleAt),
  };
}

export type InvoiceDto = ReturnType<typeof toInvoiceDto>;
