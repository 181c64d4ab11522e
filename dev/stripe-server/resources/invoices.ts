import { z } from 'zod';
import { StripeApiError, invalidState, parameterMissing, unsupported } from '../http/errors';
import { paginate } from '../http/list';
import { bool, expand, int, metadata, oneOf, paginationShape, parseParams, rangeFilter, str } from '../http/params';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import { draftInvoice } from '../billing/invoice-builder';
import {
  DEFAULT_DAYS_UNTIL_DUE,
  collectAutomatically,
  finalizeInvoice,
  markUncollectible,
  payInvoice,
  voidInvoice,
} from '../billing/invoice-lifecycle';
import { licensedLines, meteredLines, nextPeriodAfter, subscriptionInvoice } from '../billing/subscription-cycle';
import { currentPeriod } from '../billing/subscription-items';
import type { WireInvoice } from '../wire';
import { emptyToNull, initialMetadata, listUrl, mergeMetadata, render } from './common';
import { inRange } from './products';

const previewSchema = z.strictObject({
  customer: str().optional(),
  subscription: str().optional(),
  preview_mode: oneOf(['next', 'recurring']).optional(),
  automatic_tax: z.strictObject({ enabled: bool() }).optional(),
  subscription_details: z.record(z.string(), z.unknown()).optional(),
  schedule: z.unknown().optional(),
  schedule_details: z.unknown().optional(),
  invoice_items: z.unknown().optional(),
  currency: str().optional(),
  expand: expand(),
});
const createSchema = z.strictObject({
  customer: str(),
  collection_method: oneOf(['charge_automatically', 'send_invoice']).optional(),
  days_until_due: int().optional(),
  due_date: int().optional(),
  auto_advance: bool().optional(),
  description: str().optional(),
  metadata: metadata().optional(),
  currency: str().optional(),
  default_payment_method: str().optional(),
  pending_invoice_items_behavior: oneOf(['exclude', 'include']).optional(),
  expand: expand(),
});
const updateSchema = z.strictObject({
  description: str().optional(),
  metadata: metadata().optional(),
  auto_advance: bool().optional(),
  days_until_due: int().optional(),
  default_payment_method: str().optional(),
  expand: expand(),
});
const listSchema = z.strictObject({
  ...paginationShape,
  customer: str().optional(),
  subscription: str().optional(),
  status: oneOf(['draft', 'open', 'paid', 'uncollectible', 'void']).optional(),
  collection_method: oneOf(['charge_automatically', 'send_invoice']).optional(),
  created: rangeFilter().optional(),
  due_date: rangeFilter().optional(),
});
const plainSchema = z.strictObject({ expand: expand() });
const finalizeSchema = z.strictObject({ auto_advance: bool().optional(), expand: expand() });
const paySchema = z.strictObject({
  paid_out_of_band: bool().optional(),
  payment_method: str().optional(),
  forgive: bool().optional(),
  off_session: bool().optional(),
  source: str().optional(),
  expand: expand(),
});
const linesSchema = z.strictObject({ ...paginationShape });

/**
 * `POST /v1/invoices/create_preview` for a subscription: the invoice its
 * current period will close with — metered usage aggregated so far in the
 * period (events still being aggregated are left out: "aggregated usage ... on
 * upcoming invoices might not immediately reflect recently received meter
 * events", https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage)
 * plus licensed items for the next period. Nothing is stored.
 */
function createPreview(ctx: RequestContext): WireInvoice {
  const p = parseParams(previewSchema, ctx.params);
  for (const param of ['subscription_details', 'schedule', 'schedule_details', 'invoice_items'] as const) {
    if (p[param] !== undefined) throw unsupported(param, `Previewing with ${param}`);
  }
  if (p.subscription === undefined) {
    if (p.customer === undefined) throw parameterMissing('customer');
    throw parameterMissing('subscription');
  }
  const subscription = ctx.account.subscriptions.require(p.subscription, 'subscription');
  if (p.customer !== undefined && p.customer !== subscription.customer) {
    ctx.account.customers.require(p.customer, 'customer');
    throw invalidState(`The subscription ${subscription.id} does not belong to customer ${p.customer}.`, undefined, 'subscription');
  }
  if (subscription.status === 'canceled' || subscription.status === 'incomplete_expired') {
    throw new StripeApiError(404, {
      type: 'invalid_request_error',
      code: 'invoice_upcoming_none',
      message: `No upcoming invoices for customer: ${String(subscription.customer)}`,
    });
  }
  const period = currentPeriod(subscription);
  const next = nextPeriodAfter(subscription, period.end);
  const lines = [
    ...meteredLines(ctx.world, ctx.account, subscription, period),
    ...(subscription.cancel_at_period_end ? [] : licensedLines(subscription, next)),
  ];
  const invoice = subscriptionInvoice(ctx.world, ctx.account, subscription, lines, 'upcoming', period, true);
  // Charged when the renewal draft is finalized, after the grace period.
  invoice.next_payment_attempt =
    subscription.collection_method === 'charge_automatically' ? period.end + ctx.world.billingTiming.finalizationGraceSeconds : null;
  return render(ctx, invoice, p.expand);
}

/** `POST /v1/invoices`: an empty draft for a customer (line items are not modelled). */
function create(ctx: RequestContext): WireInvoice {
  const p = parseParams(createSchema, ctx.params);
  const customer = ctx.account.customers.require(p.customer, 'customer');
  const method = p.collection_method ?? 'charge_automatically';
  const now = ctx.world.clock.now();
  const invoice = draftInvoice(ctx.world, ctx.account, {
    customer,
    subscription: null,
    lines: [],
    billingReason: 'manual',
    collectionMethod: method,
    daysUntilDue: p.days_until_due ?? null,
    period: { start: now, end: now },
    currency: (p.currency ?? 'usd').toLowerCase(),
    defaultPaymentMethod: p.default_payment_method ?? null,
    description: p.description ?? null,
    metadata: initialMetadata(p.metadata),
  });
  if (method === 'send_invoice') invoice.due_date = p.due_date ?? now + (p.days_until_due ?? DEFAULT_DAYS_UNTIL_DUE) * 86_400;
  invoice.auto_advance = p.auto_advance ?? false;
  ctx.account.invoices.insert(invoice);
  ctx.world.events.emit(ctx.account, 'invoice.created', invoice);
  return render(ctx, invoice, p.expand);
}

function retrieve(ctx: RequestContext): WireInvoice {
  const p = parseParams(plainSchema, ctx.params);
  return render(ctx, ctx.account.invoices.require(pathParam(ctx, 'id')), p.expand);
}

function update(ctx: RequestContext): WireInvoice {
  const invoice = ctx.account.invoices.require(pathParam(ctx, 'id'));
  const p = parseParams(updateSchema, ctx.params);
  const draftOnly = ['days_until_due', 'default_payment_method'] as const;
  for (const param of draftOnly) {
    if (p[param] !== undefined && invoice.status !== 'draft') {
      throw invalidState(`You can only update ${param} on a draft invoice.`, 'invoice_not_editable', param);
    }
  }
  if (p.metadata !== undefined) invoice.metadata = mergeMetadata(invoice.metadata ?? {}, p.metadata);
  if (p.description !== undefined) invoice.description = emptyToNull(p.description, invoice.description);
  if (p.auto_advance !== undefined) invoice.auto_advance = p.auto_advance;
  if (p.default_payment_method !== undefined) invoice.default_payment_method = p.default_payment_method;
  if (p.days_until_due !== undefined) invoice.due_date = ctx.world.clock.now() + p.days_until_due * 86_400;
  ctx.world.events.emit(ctx.account, 'invoice.updated', invoice);
  return render(ctx, invoice, p.expand);
}

function remove(ctx: RequestContext) {
  const invoice = ctx.account.invoices.require(pathParam(ctx, 'id'));
  if (invoice.status !== 'draft') {
    throw invalidState('You can only delete draft invoices. Void open invoices instead.', 'invoice_not_editable');
  }
  ctx.account.invoices.delete(invoice.id);
  ctx.world.events.emit(ctx.account, 'invoice.deleted', invoice);
  return { id: invoice.id, object: 'invoice' as const, deleted: true as const };
}

function finalize(ctx: RequestContext): WireInvoice {
  const invoice = ctx.account.invoices.require(pathParam(ctx, 'id'));
  const p = parseParams(finalizeSchema, ctx.params);
  finalizeInvoice(ctx.world, ctx.account, invoice);
  if (p.auto_advance ?? invoice.auto_advance) collectAutomatically(ctx.world, ctx.account, invoice);
  return render(ctx, invoice, p.expand);
}

function pay(ctx: RequestContext): WireInvoice {
  const invoice = ctx.account.invoices.require(pathParam(ctx, 'id'));
  const p = parseParams(paySchema, ctx.params);
  if (p.source !== undefined) throw unsupported('source', 'Paying with a legacy source');
  const options: Parameters<typeof payInvoice>[3] = {};
  if (p.paid_out_of_band !== undefined) options.paidOutOfBand = p.paid_out_of_band;
  if (p.payment_method !== undefined) {
    ctx.account.paymentMethods.require(p.payment_method, 'payment_method');
    options.paymentMethod = p.payment_method;
  }
  payInvoice(ctx.world, ctx.account, invoice, options);
  return render(ctx, invoice, p.expand);
}

function voidIt(ctx: RequestContext): WireInvoice {
  const invoice = ctx.account.invoices.require(pathParam(ctx, 'id'));
  const p = parseParams(plainSchema, ctx.params);
  voidInvoice(ctx.world, ctx.account, invoice);
  return render(ctx, invoice, p.expand);
}

function uncollectible(ctx: RequestContext): WireInvoice {
  const invoice = ctx.account.invoices.require(pathParam(ctx, 'id'));
  const p = parseParams(plainSchema, ctx.params);
  markUncollectible(ctx.world, ctx.account, invoice);
  return render(ctx, invoice, p.expand);
}

function listInvoices(ctx: RequestContext) {
  const p = parseParams(listSchema, ctx.params);
  const matches = ctx.account.invoices.newestFirst(
    (i) =>
      (p.customer === undefined || i.customer === p.customer) &&
      (p.subscription === undefined || i.parent?.subscription_details?.subscription === p.subscription) &&
      (p.status === undefined || i.status === p.status) &&
      (p.collection_method === undefined || i.collection_method === p.collection_method) &&
      inRange(i.created, p.created) &&
      (p.due_date === undefined || (i.due_date !== null && inRange(i.due_date, p.due_date))),
  );
  return render(ctx, paginate(matches, p, listUrl(ctx), 'invoice'), p.expand);
}

function listLines(ctx: RequestContext) {
  const invoice = ctx.account.invoices.require(pathParam(ctx, 'id'));
  const p = parseParams(linesSchema, ctx.params);
  return render(ctx, paginate([...invoice.lines.data], p, listUrl(ctx), 'invoice line item'), p.expand);
}

export const invoiceRoutes: Route[] = [
  route('POST', '/v1/invoices/create_preview', createPreview),
  route('POST', '/v1/invoices', create),
  route('GET', '/v1/invoices', listInvoices),
  route('GET', '/v1/invoices/:id', retrieve),
  route('POST', '/v1/invoices/:id', update),
  route('DELETE', '/v1/invoices/:id', remove),
  route('GET', '/v1/invoices/:id/lines', listLines),
  route('POST', '/v1/invoices/:id/finalize', finalize),
  route('POST', '/v1/invoices/:id/pay', pay),
  route('POST', '/v1/invoices/:id/void', voidIt),
  route('POST', '/v1/invoices/:id/mark_uncollectible', uncollectible),
];
