import type { InvoiceStatus } from '../monetization/billing-events';

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
