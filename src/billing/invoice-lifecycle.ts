/**
 * An invoice's lifecycle as Meterline records it: DRAFT (generated, not yet sent to the billing
 * engine) → OPEN (finalized in the engine) → PAID, or VOID / UNCOLLECTIBLE.
 */
export const INVOICE_STATUSES = ['DRAFT', 'OPEN', 'PAID', 'VOID', 'UNCOLLECTIBLE'] as const;
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];

/**
 * How far along an invoice is. Webhooks arrive late, twice and out of order, so a status only
 * ever moves forward: an UNCOLLECTIBLE invoice can still be paid or voided; PAID and VOID are
 * final (a `finalized` that arrives after `paid` changes nothing).
 */
const PROGRESS: Record<InvoiceStatus, number> = { DRAFT: 0, OPEN: 1, UNCOLLECTIBLE: 2, PAID: 3, VOID: 3 };

export function advanceInvoiceStatus(current: InvoiceStatus | undefined, incoming: InvoiceStatus): InvoiceStatus {
  if (current === undefined) return incoming;
  return PROGRESS[incoming] > PROGRESS[current] ? incoming : current;
}

export function isSettled(status: InvoiceStatus): boolean {
  return status === 'PAID' || status === 'VOID';
}
