/**
 * What the own-invoice admin routes need of Meterline's own invoicing (src/invoicing, which http
 * may not import): the composition root adapts it. Shapes are plain data.
 */
export interface OwnInvoiceView {
  invoiceId: string;
  kind: string;
  subscriptionUuid: string;
  apiUuid: string;
  periodStart: Date;
  periodEnd: Date;
  calls: bigint;
  currency: string;
  total: bigint;
  /** Meterline's status of its invoice (DRAFT, OPEN, PAID) with payment as billing's invoice record follows it (PAID, VOID, UNCOLLECTIBLE). */
  status: string;
  engineInvoiceId: string | null;
  hostedInvoiceUrl: string | null;
  invoicePdfUrl: string | null;
  expiresAt: Date;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  submittedAt: Date | null;
  lines: ReadonlyArray<{ kind: string; description: string; quantity: bigint; unitAmountDecimal: string | null; amount: bigint }>;
}

export interface OwnInvoicesAdmin {
  /** A tenant's own invoices (of one subscription when given), newest period first, at most `limit`. */
  list(tenantDomain: string, subscriptionUuid: string | undefined, limit: number): Promise<OwnInvoiceView[]>;
  /**
   * The invoicing check for one subscription of the tenant; `notFound` when it is not the
   * tenant's, `disabled` when the engine makes its own invoices.
   */
  closeNow(tenantDomain: string, subscriptionUuid: string): Promise<
    | { outcome: 'done'; closed: number; waiting: string | null; made: OwnInvoiceView[]; submitted: number }
    | { outcome: 'notFound' | 'disabled'; message: string }
  >;
}
