import { z } from 'zod';
import { newId } from '../core/ids';
import { paginate } from '../http/list';
import { addressShape, expand, int, metadata, oneOf, paginationShape, parseParams, rangeFilter, str, list } from '../http/params';
import { parameterInvalid } from '../http/errors';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import { balanceTransactionsOf } from '../billing/customer-balance';
import { cancelNow } from '../billing/subscription-cycle';
import type { WireCustomer } from '../wire';
import { emptyToNull, initialMetadata, listUrl, mergeMetadata, render } from './common';
import { attachPaymentMethod } from './payment-methods';
import { inRange } from './products';

const invoiceSettingsShape = z.strictObject({
  default_payment_method: str().optional(),
  footer: str().optional(),
});

const sharedShape = {
  name: str().optional(),
  email: str().optional(),
  description: str().optional(),
  phone: str().optional(),
  metadata: metadata().optional(),
  address: z.union([z.literal(''), addressShape]).optional(),
  invoice_prefix: str().optional(),
  invoice_settings: invoiceSettingsShape.optional(),
  preferred_locales: list(str()).optional(),
  balance: int().optional(),
  tax_exempt: z.union([z.literal(''), oneOf(['exempt', 'none', 'reverse'])]).optional(),
  expand: expand(),
};

const createSchema = z.strictObject({ ...sharedShape, payment_method: str().optional() });
const updateSchema = z.strictObject({ ...sharedShape });
const retrieveSchema = z.strictObject({ expand: expand() });
const listSchema = z.strictObject({ ...paginationShape, email: str().optional(), created: rangeFilter().optional() });

type AddressInput = z.output<typeof addressShape> | '' | undefined;

function address(input: AddressInput, current: WireCustomer['address']): WireCustomer['address'] {
  if (input === undefined) return current ?? null;
  if (input === '') return null;
  return {
    city: input.city ?? null,
    country: input.country ?? null,
    line1: input.line1 ?? null,
    line2: input.line2 ?? null,
    postal_code: input.postal_code ?? null,
    state: input.state ?? null,
  };
}

const PREFIX = /^[A-Z0-9]{3,12}$/;

/**
 * Stripe refuses an e-mail address it considers malformed: 400 `email_invalid` on `email`
 * ("The email address is invalid (e.g., not properly formatted)"):
 * https://docs.stripe.com/error-codes#email-invalid. One `@`, a non-empty local part, a dotted
 * domain, no spaces, at most 512 characters (the field's limit).
 */
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

function checkEmail(email: string | undefined): void {
  if (email === undefined || email === '') return;
  if (email.length > 512 || !EMAIL.test(email)) {
    throw parameterInvalid('email', `Invalid email address: ${email}`, 'email_invalid');
  }
}

function invoicePrefix(): string {
  return newId('x', 8).slice(2).toUpperCase().replace(/[^A-Z0-9]/g, 'X');
}

/** The default payment method must be attached to this customer, as Stripe requires. */
function setDefaultPaymentMethod(ctx: RequestContext, customer: WireCustomer, id: string | undefined): void {
  if (id === undefined) return;
  if (id === '') {
    customer.invoice_settings.default_payment_method = null;
    return;
  }
  const pm = ctx.account.paymentMethods.get(id);
  if (!pm || pm.customer !== customer.id) {
    throw parameterInvalid(
      'invoice_settings[default_payment_method]',
      `The customer does not have a payment method with the ID ${id}. The payment method must be attached to the customer.`,
    );
  }
  customer.invoice_settings.default_payment_method = id;
}

function create(ctx: RequestContext): WireCustomer {
  const p = parseParams(createSchema, ctx.params);
  checkEmail(p.email);
  if (p.invoice_prefix !== undefined && !PREFIX.test(p.invoice_prefix)) {
    throw parameterInvalid('invoice_prefix', 'Invoice prefix must be 3–12 uppercase letters or numbers.');
  }
  const customer: WireCustomer = {
    id: newId('cus', 14),
    object: 'customer',
    address: address(p.address, null),
    balance: p.balance ?? 0,
    created: ctx.world.clock.now(),
    currency: null,
    default_source: null,
    delinquent: false,
    description: p.description ?? null,
    email: p.email ?? null,
    invoice_prefix: p.invoice_prefix ?? invoicePrefix(),
    invoice_settings: {
      custom_fields: null,
      default_payment_method: null,
      footer: p.invoice_settings?.footer ?? null,
      rendering_options: null,
    },
    livemode: false,
    metadata: initialMetadata(p.metadata),
    name: p.name ?? null,
    next_invoice_sequence: 1,
    phone: p.phone ?? null,
    preferred_locales: p.preferred_locales ?? [],
    shipping: null,
    tax_exempt: p.tax_exempt || 'none',
    test_clock: null,
  };
  ctx.account.customers.insert(customer);
  if (p.payment_method !== undefined) attachPaymentMethod(ctx, p.payment_method, customer.id, 'payment_method');
  setDefaultPaymentMethod(ctx, customer, p.invoice_settings?.default_payment_method);
  ctx.world.events.emit(ctx.account, 'customer.created', customer);
  return render(ctx, customer, p.expand);
}

function retrieve(ctx: RequestContext): WireCustomer | { id: string; object: 'customer'; deleted: true } {
  const id = pathParam(ctx, 'id');
  const p = parseParams(retrieveSchema, ctx.params);
  if (ctx.account.deletedCustomers.has(id)) return { id, object: 'customer', deleted: true };
  return render(ctx, ctx.account.customers.require(id), p.expand);
}

function update(ctx: RequestContext): WireCustomer {
  const customer = ctx.account.customers.require(pathParam(ctx, 'id'));
  const p = parseParams(updateSchema, ctx.params);
  checkEmail(p.email);
  const previous: Record<string, unknown> = {};
  for (const key of ['name', 'email', 'description', 'phone'] as const) {
    const value = p[key];
    if (value !== undefined) {
      previous[key] = customer[key];
      customer[key] = emptyToNull(value, customer[key] ?? null);
    }
  }
  if (p.metadata !== undefined) {
    previous.metadata = customer.metadata;
    customer.metadata = mergeMetadata(customer.metadata, p.metadata);
  }
  customer.address = address(p.address, customer.address ?? null);
  if (p.invoice_prefix !== undefined) customer.invoice_prefix = p.invoice_prefix;
  if (p.balance !== undefined) customer.balance = p.balance;
  if (p.preferred_locales !== undefined) customer.preferred_locales = p.preferred_locales;
  if (p.tax_exempt !== undefined) customer.tax_exempt = p.tax_exempt || 'none';
  if (p.invoice_settings) {
    previous.invoice_settings = { ...customer.invoice_settings };
    setDefaultPaymentMethod(ctx, customer, p.invoice_settings.default_payment_method);
    if (p.invoice_settings.footer !== undefined) customer.invoice_settings.footer = emptyToNull(p.invoice_settings.footer, null);
  }
  ctx.world.events.emit(ctx.account, 'customer.updated', customer, previous);
  return render(ctx, customer, p.expand);
}

/** Deleting a customer cancels its subscriptions immediately (no final invoice), as Stripe does. */
function remove(ctx: RequestContext): { id: string; object: 'customer'; deleted: true } {
  const customer = ctx.account.customers.require(pathParam(ctx, 'id'));
  for (const subscription of ctx.account.subscriptions.all()) {
    if (subscription.customer === customer.id && subscription.status !== 'canceled' && subscription.status !== 'incomplete_expired') {
      cancelNow(ctx.world, ctx.account, subscription, { invoiceNow: false, prorate: false });
    }
  }
  ctx.account.customers.delete(customer.id);
  ctx.account.deletedCustomers.add(customer.id);
  ctx.world.events.emit(ctx.account, 'customer.deleted', customer);
  return { id: customer.id, object: 'customer', deleted: true };
}

function listCustomers(ctx: RequestContext) {
  const p = parseParams(listSchema, ctx.params);
  const matches = ctx.account.customers.newestFirst(
    (c) => (p.email === undefined || c.email === p.email) && inRange(c.created, p.created),
  );
  return render(ctx, paginate(matches, p, listUrl(ctx), 'customer'), p.expand);
}

const balanceListSchema = z.strictObject({ ...paginationShape, expand: expand() });

/** `GET /v1/customers/:id/balance_transactions`: the balance ledger, newest first (https://docs.stripe.com/api/customer_balance_transactions/list). */
function listBalanceTransactions(ctx: RequestContext) {
  const customer = ctx.account.customers.require(pathParam(ctx, 'id'));
  const p = parseParams(balanceListSchema, ctx.params);
  const newestFirst = [...balanceTransactionsOf(ctx.account, customer.id)].reverse();
  return render(ctx, paginate(newestFirst, p, listUrl(ctx), 'customer balance transaction'), p.expand);
}

export const customerRoutes: Route[] = [
  route('GET', '/v1/customers/:id/balance_transactions', listBalanceTransactions),
  route('POST', '/v1/customers', create),
  route('GET', '/v1/customers', listCustomers),
  route('GET', '/v1/customers/:id', retrieve),
  route('POST', '/v1/customers/:id', update),
  route('DELETE', '/v1/customers/:id', remove),
];
