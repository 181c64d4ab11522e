import { toMinorUnitDecimal } from '../domain/money';
import type { OwnInvoiceKind } from '../monetization/monetization';
import type { OwnInvoice } from './own-invoices.repository';

/** One line of an issued own invoice, as the invoice page shows it. */
export interface IssuedLine {
  description: string;
  quantity: bigint;
  /** The unit price in (possibly fractional) minor units, as engines' lines carry it ("25" fils for 0.025 KWD); null when the line is not quantity × unit price. */
  unitAmountDecimal: string | null;
  /** Minor units. */
  amount: bigint;
}

/** What an issued own invoice is and what it bills. */
export interface IssuedInvoiceLines {
  kind: OwnInvoiceKind;
  periodStart: Date;
  periodEnd: Date;
  currency: string;
  lines: IssuedLine[];
}

/**
 * A subscription's issued own invoices with their lines, by the engine's invoice id (the id its
 * invoice record in billing carries, so the page finds the lines of each issued invoice).
 * Drafts (not issued yet, no engine id) are left out: they are not on billing's records.
 */
export function ownInvoiceLines(
  invoicesOf: (subscriptionUuid: string) => Promise<readonly OwnInvoice[]>,
): (subscriptionUuid: string) => Promise<Map<string, IssuedInvoiceLines>> {
  return async (subscriptionUuid) => {
    const found = new Map<string, IssuedInvoiceLines>();
    for (const invoice of await invoicesOf(subscriptionUuid)) {
      if (invoice.engineInvoiceId === null) continue;
      found.set(invoice.engineInvoiceId, {
        kind: invoice.kind,
        periodStart: invoice.periodStart,
        periodEnd: invoice.periodEnd,
        currency: invoice.currency,
        lines: invoice.lines.map((line) => ({
          description: line.description,
          quantity: line.quantity,
          // Rated unit prices are major-unit decimals ("0.025"); the page writes unit prices from minor units.
          unitAmountDecimal: line.unitAmountDecimal === null ? null : toMinorUnitDecimal(line.unitAmountDecimal, invoice.currency),
          amount: line.amount,
        })),
      });
    }
    return found;
  };
}
