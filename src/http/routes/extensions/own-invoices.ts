import { z } from 'zod';
import { GatewayError } from '../../../apim/errors';
import { formatMinorUnits } from '../../../domain/money';
import { defineRoute } from '../../route';
import { resourceId } from '../common';
import type { OwnInvoiceView } from './own-invoices-port';

/** Tenant admins: Meterline's own invoices are the tenant's billing, as its subscription policies are. */
const SCOPES = ['apim:admin'] as const;
const STATUSES = ['DRAFT', 'OPEN', 'PAID', 'VOID', 'UNCOLLECTIBLE'] as const;
/** At most this many invoices per answer (newest period first). */
const LIST_LIMIT = 1000;

/** An own invoice as the admin routes show it: amounts exact decimal strings in the major unit, times ISO-8601 UTC. */
export function toOwnInvoiceDto(invoice: OwnInvoiceView) {
  const money = (minor: bigint) => formatMinorUnits(minor, invoice.currency);
  return {
    invoiceId: invoice.invoiceId,
    kind: invoice.kind,
    subscriptionId: invoice.subscriptionUuid,
    apiId: invoice.apiUuid,
    status: invoice.status,
    currency: invoice.currency.toUpperCase(),
    periodStart: invoice.periodStart.toISOString(),
    periodEnd: invoice.periodEnd.toISOString(),
    calls: Number(invoice.calls),
    total: money(invoice.total),
    lines: invoice.lines.map((line) => ({
      kind: line.kind,
      description: line.description,
      quantity: Number(line.quantity),
      unitAmountDecimal: line.unitAmountDecimal,
      amount: money(line.amount),
    })),
    engineInvoiceId: invoice.engineInvoiceId,
    hostedInvoiceUrl: invoice.hostedInvoiceUrl,
    invoicePdfUrl: invoice.invoicePdfUrl,
    expiresTime: invoice.expiresAt.toISOString(),
    attempts: invoice.attempts,
    lastError: invoice.lastError,
    createdTime: invoice.createdAt.toISOString(),
    submittedTime: invoice.submittedAt?.toISOString() ?? null,
  };
}

/**
 * GET /api/am/admin/v4/monetization/own-invoices (Meterline's own, not in WSO2's admin API):
 * the invoices Meterline made for the caller's tenant (engines that only collect payment),
 * newest period first, optionally of one subscription (`subscriptionId`) and in one status.
 * An engine that makes its own invoices: an empty list.
 */
export const listOwnInvoices = defineRoute({
  api: 'admin',
  method: 'get',
  path: '/monetization/own-invoices',
  operationId: 'meterline.listOwnInvoices',
  summary: "List the invoices Meterline made for the tenant's subscriptions",
  scopes: SCOPES,
  query: z.strictObject({ subscriptionId: resourceId.optional(), status: z.enum(STATUSES).optional() }),
  responses: { 200: 'Meterline.OwnInvoiceList' },
  async handle({ principal, query, ownInvoices }) {
    const found = ownInvoices ? await ownInvoices.list(principal.tenant.domain, query.subscriptionId, LIST_LIMIT) : [];
    const list = found.filter((invoice) => query.status === undefined || invoice.status === query.status).map(toOwnInvoiceDto);
    return { status: 200, body: { count: list.length, list } };
  },
});

/**
 * POST /api/am/admin/v4/monetization/own-invoices/close, body `{"subscriptionId": "…"}`: runs the
 * invoicing check now for that subscription only (its missing first invoice, its periods due
 * `close_after_minutes` after their end, its drafts left). Idempotent: a second call makes
 * nothing. 200 with what it made; 404 for a subscription not of the tenant; 409 when the engine
 * makes its own invoices.
 */
export const closeOwnInvoices = defineRoute({
  api: 'admin',
  method: 'post',
  path: '/monetization/own-invoices/close',
  operationId: 'meterline.closeOwnInvoices',
  summary: 'Make now the invoices due for one subscription (idempotent)',
  scopes: SCOPES,
  body: z.strictObject({ subscriptionId: resourceId }),
  responses: { 200: 'Meterline.OwnInvoiceClose' },
  async handle({ principal, body, ownInvoices }) {
    if (!ownInvoices) throw new GatewayError('CONFLICT', 'The billing engine makes its own invoices; Meterline has none to close');
    const result = await ownInvoices.closeNow(principal.tenant.domain, body.subscriptionId);
    if (result.outcome !== 'done') throw new GatewayError(result.outcome === 'notFound' ? 'NOT_FOUND' : 'CONFLICT', result.message);
    return { status: 200, body: { subscriptionId: body.subscriptionId, closed: result.closed, waiting: result.waiting, submitted: result.submitted, made: result.made.map(toOwnInvoiceDto) } };
  },
});
