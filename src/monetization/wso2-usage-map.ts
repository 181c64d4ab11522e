import { formatMinorUnits } from '../domain/money';
import type { ApiRevenue, PendingInvoice } from './monetization';

/**
 * The pending invoice with the keys WSO2's publisher and developer portal show ("View Invoice"),
 * amounts as exact decimal strings in the currency's major unit (JPY "500", USD "10.50",
 * KWD "1.234") and times as `yyyy-MM-dd HH:mm:ss UTC`, as WSO2 formats them.
 */
export function toWso2UsageMap(invoice: PendingInvoice): Record<string, string> {
  const money = (minor: bigint) => formatMinorUnits(minor, invoice.currency);
  const time = (date: Date | null) => (date === null ? '' : formatUtc(date));
  return {
    Description: invoice.description ?? '',
    Paid: String(invoice.paid),
    Tax: money(invoice.tax),
    'Invoice ID': invoice.invoiceId ?? '',
    'Account Name': invoice.accountName ?? '',
    'Next Payment Attempt': time(invoice.nextPaymentAttempt),
    'Customer Email': invoice.customerEmail ?? '',
    Currency: invoice.currency.toUpperCase(),
    'Account Country': invoice.accountCountry ?? '',
    'Amount Remaining': money(invoice.amountRemaining),
    'Period End': time(invoice.periodEnd),
    'Due Date': time(invoice.dueDate),
    'Amount Due': money(invoice.amountDue),
    'Total Tax Amounts': money(invoice.tax),
    'Amount Paid': money(invoice.amountPaid),
    Subtotal: money(invoice.subtotal),
    Total: money(invoice.total),
    'Period Start': time(invoice.periodStart),
  };
}

/** Revenue as WSO2's `APIRevenue.properties`: one entry per currency and per subscription. */
export function toWso2RevenueMap(revenue: ApiRevenue): Record<string, string> {
  const entries: Array<[string, string]> = Object.entries(revenue.byCurrency).map(([currency, amount]) => [
    `Total Revenue (${currency.toUpperCase()})`,
    formatMinorUnits(amount, currency),
  ]);
  for (const s of revenue.subscriptions) {
    entries.push([`Revenue for subscription ID : ${s.subscriptionUuid} (${s.currency.toUpperCase()})`, formatMinorUnits(s.amount, s.currency)]);
  }
  // Amounts below the engine's minimum charge, carried to customers' balances (not yet revenue),
  // and earlier carried amounts these invoices collected (already in the totals above).
  for (const [label, totals] of [
    ['Carried to Customer Balance', revenue.carriedToBalance],
    ['Collected from Customer Balance', revenue.collectedFromBalance],
  ] as const) {
    for (const [currency, amount] of Object.entries(totals ?? {})) {
      if (amount !== 0n) entries.push([`${label} (${currency.toUpperCase()})`, formatMinorUnits(amount, currency)]);
    }
  }
  return Object.fromEntries(entries);
}

function formatUtc(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
