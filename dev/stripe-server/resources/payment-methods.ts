import { createHash } from 'node:crypto';
import { z } from 'zod';
import { newId } from '../core/ids';
import { invalidState, parameterInvalid, parameterMissing, resourceMissing, unsupported } from '../http/errors';
import { paginate } from '../http/list';
import { addressShape, expand, int, metadata, oneOf, paginationShape, parseParams, str } from '../http/params';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import { cardForMagicPaymentMethod, cardForNumber, cardForToken, type TestCard } from '../billing/test-cards';
import type { AccountState } from '../state/account-state';
import type { WirePaymentMethod } from '../wire';
import { initialMetadata, listUrl, mergeMetadata, render } from './common';

const billingDetailsShape = z.strictObject({
  address: z.union([z.literal(''), addressShape]).optional(),
  email: str().optional(),
  name: str().optional(),
  phone: str().optional(),
  tax_id: str().optional(),
});

const createSchema = z.strictObject({
  type: oneOf(['card']).optional(),
  card: z
    .strictObject({
      token: str().optional(),
      number: str().optional(),
      exp_month: int().optional(),
      exp_year: int().optional(),
      cvc: str().optional(),
    })
    .optional(),
  billing_details: billingDetailsShape.optional(),
  metadata: metadata().optional(),
  customer: str().optional(),
  payment_method: str().optional(),
  allow_redisplay: oneOf(['always', 'limited', 'unspecified']).optional(),
  expand: expand(),
});

const attachSchema = z.strictObject({ customer: str(), expand: expand() });
const plainSchema = z.strictObject({ expand: expand() });
const updateSchema = z.strictObject({
  billing_details: billingDetailsShape.optional(),
  metadata: metadata().optional(),
  card: z.strictObject({ exp_month: int().optional(), exp_year: int().optional() }).optional(),
  allow_redisplay: oneOf(['always', 'limited', 'unspecified']).optional(),
  expand: expand(),
});
const listSchema = z.strictObject({ ...paginationShape, customer: str().optional(), type: str().optional() });
const customerListSchema = z.strictObject({ ...paginationShape, type: str().optional() });

type BillingDetailsInput = z.output<typeof billingDetailsShape>;

function billingDetails(input: BillingDetailsInput | undefined): WirePaymentMethod['billing_details'] {
  const address = input?.address;
  return {
    address:
      address && typeof address === 'object'
        ? {
            city: address.city ?? null,
            country: address.country ?? null,
            line1: address.line1 ?? null,
            line2: address.line2 ?? null,
            postal_code: address.postal_code ?? null,
            state: address.state ?? null,
          }
        : null,
    email: input?.email || null,
    name: input?.name || null,
    phone: input?.phone || null,
    tax_id: input?.tax_id || null,
  };
}

/** Stores a card payment method made from a test card. */
export function storeCardPaymentMethod(
  ctx: RequestContext,
  account: AccountState,
  card: TestCard,
  options: { expMonth?: number; expYear?: number; billing?: WirePaymentMethod['billing_details']; metadata?: Record<string, string> },
): WirePaymentMethod {
  const expYear = options.expYear ?? new Date(ctx.world.clock.now() * 1000).getUTCFullYear() + 3;
  const pm: WirePaymentMethod = {
    id: newId('pm'),
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: options.billing ?? billingDetails(undefined),
    card: {
      brand: card.brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
      country: 'US',
      display_brand: card.brand,
      exp_month: options.expMonth ?? 12,
      exp_year: expYear,
      fingerprint: createHash('sha256').update(`${card.brand}${card.last4}`).digest('hex').slice(0, 16),
      funding: card.funding,
      generated_from: null,
      last4: card.last4,
      networks: { available: [card.brand], preferred: null },
      regulated_status: 'unregulated',
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created: ctx.world.clock.now(),
    customer: null,
    customer_account: null,
    livemode: false,
    metadata: options.metadata ?? {},
    type: 'card',
  };
  account.paymentMethods.insert(pm);
  account.cardBehaviour.set(pm.id, { declines: card.declines, requiresAuthentication: card.requiresAuthentication ?? false });
  return pm;
}

/**
 * Resolves a payment method id in the acting account; Stripe's magic test ids
 * (`pm_card_visa`, `pm_card_chargeDeclined`...) mint a fresh payment method.
 */
export function resolvePaymentMethod(ctx: RequestContext, id: string, param: string): WirePaymentMethod {
  const magic = cardForMagicPaymentMethod(id);
  if (magic) return storeCardPaymentMethod(ctx, ctx.account, magic, {});
  const pm = ctx.account.paymentMethods.get(id);
  if (!pm) throw resourceMissing('PaymentMethod', id, param);
  return pm;
}

/** Attaches a payment method (or magic test id) to a customer of the acting account. */
export function attachPaymentMethod(ctx: RequestContext, id: string, customerId: string, param: string): WirePaymentMethod {
  const customer = ctx.account.customers.require(customerId, 'customer');
  const pm = resolvePaymentMethod(ctx, id, param);
  if (pm.customer !== null && pm.customer !== customer.id) {
    throw invalidState('The payment method you provided has already been attached to a customer.', undefined, param);
  }
  if (pm.customer === null) {
    pm.customer = customer.id;
    ctx.world.events.emit(ctx.account, 'payment_method.attached', pm);
  }
  return pm;
}

function cardFromParams(p: z.output<typeof createSchema>): TestCard {
  const card = p.card;
  if (!card) throw parameterMissing('card');
  if (card.token !== undefined) {
    const fromToken = cardForToken(card.token);
    if (!fromToken) throw resourceMissing('token', card.token, 'card[token]');
    return fromToken;
  }
  if (card.number === undefined) throw parameterMissing('card[number]');
  const fromNumber = cardForNumber(card.number);
  if (!fromNumber) {
    throw parameterInvalid('card[number]', 'Your card number is incorrect. Use one of Stripe\'s test card numbers.', 'incorrect_number');
  }
  return fromNumber;
}

/** Copies a platform payment method into the connected account (Stripe's "clone" for shared customers). */
function clone(ctx: RequestContext, p: z.output<typeof createSchema>, sourceId: string): WirePaymentMethod {
  if (ctx.account === ctx.platform) {
    throw invalidState(
      'Cloning a PaymentMethod requires the Stripe-Account header of the connected account to clone it to.',
      undefined,
      'payment_method',
    );
  }
  const source = ctx.platform.paymentMethods.get(sourceId);
  if (!source) throw resourceMissing('PaymentMethod', sourceId, 'payment_method');
  if (p.customer !== undefined) {
    ctx.platform.customers.require(p.customer, 'customer');
    if (source.customer !== p.customer) {
      throw invalidState(
        `The payment method ${sourceId} is not attached to customer ${p.customer}.`,
        undefined,
        'payment_method',
      );
    }
  } else if (source.customer !== null) {
    throw parameterMissing('customer');
  }
  const copy: WirePaymentMethod = {
    ...JSON.parse(JSON.stringify(source)),
    id: newId('pm'),
    created: ctx.world.clock.now(),
    customer: null,
    metadata: initialMetadata(p.metadata),
  };
  ctx.account.paymentMethods.insert(copy);
  ctx.account.cardBehaviour.set(copy.id, { ...(ctx.platform.cardBehaviour.get(source.id) ?? { declines: false }) });
  return copy;
}

function create(ctx: RequestContext): WirePaymentMethod {
  const p = parseParams(createSchema, ctx.params);
  if (p.payment_method !== undefined) return render(ctx, clone(ctx, p, p.payment_method), p.expand);
  if (p.customer !== undefined) throw parameterMissing('payment_method');
  if (p.type === undefined) throw parameterMissing('type');
  const card = cardFromParams(p);
  const options: Parameters<typeof storeCardPaymentMethod>[3] = {
    billing: billingDetails(p.billing_details),
    metadata: initialMetadata(p.metadata),
  };
  if (p.card?.exp_month !== undefined) options.expMonth = p.card.exp_month;
  if (p.card?.exp_year !== undefined) options.expYear = p.card.exp_year;
  const pm = storeCardPaymentMethod(ctx, ctx.account, card, options);
  if (p.allow_redisplay) pm.allow_redisplay = p.allow_redisplay;
  return render(ctx, pm, p.expand);
}

function retrieve(ctx: RequestContext): WirePaymentMethod {
  const p = parseParams(plainSchema, ctx.params);
  return render(ctx, ctx.account.paymentMethods.require(pathParam(ctx, 'id')), p.expand);
}

function update(ctx: RequestContext): WirePaymentMethod {
  const pm = ctx.account.paymentMethods.require(pathParam(ctx, 'id'));
  const p = parseParams(updateSchema, ctx.params);
  if (p.billing_details) {
    const given = billingDetails(p.billing_details);
    const current = pm.billing_details;
    pm.billing_details = {
      address: p.billing_details.address !== undefined ? given.address : current.address,
      email: p.billing_details.email !== undefined ? given.email : current.email,
      name: p.billing_details.name !== undefined ? given.name : current.name,
      phone: p.billing_details.phone !== undefined ? given.phone : current.phone,
      tax_id: p.billing_details.tax_id !== undefined ? given.tax_id : current.tax_id,
    };
  }
  if (p.metadata !== undefined) pm.metadata = mergeMetadata(pm.metadata ?? {}, p.metadata);
  if (p.card && pm.card) {
    if (p.card.exp_month !== undefined) pm.card.exp_month = p.card.exp_month;
    if (p.card.exp_year !== undefined) pm.card.exp_year = p.card.exp_year;
  }
  if (p.allow_redisplay) pm.allow_redisplay = p.allow_redisplay;
  ctx.world.events.emit(ctx.account, 'payment_method.updated', pm);
  return render(ctx, pm, p.expand);
}

function attach(ctx: RequestContext): WirePaymentMethod {
  const p = parseParams(attachSchema, ctx.params);
  return render(ctx, attachPaymentMethod(ctx, pathParam(ctx, 'id'), p.customer, 'payment_method'), p.expand);
}

function detach(ctx: RequestContext): WirePaymentMethod {
  const pm = ctx.account.paymentMethods.require(pathParam(ctx, 'id'));
  const p = parseParams(plainSchema, ctx.params);
  if (pm.customer === null) {
    throw invalidState('The payment method you provided is not attached to a customer so detachment is impossible.');
  }
  const customer = ctx.account.customers.get(String(pm.customer));
  if (customer && customer.invoice_settings.default_payment_method === pm.id) {
    customer.invoice_settings.default_payment_method = null;
  }
  pm.customer = null;
  ctx.world.events.emit(ctx.account, 'payment_method.detached', pm);
  return render(ctx, pm, p.expand);
}

function listPaymentMethods(ctx: RequestContext) {
  const p = parseParams(listSchema, ctx.params);
  if (p.type !== undefined && p.type !== 'card') throw unsupported('type', `Payment method type '${p.type}'`);
  const matches = ctx.account.paymentMethods.newestFirst((pm) => p.customer === undefined || pm.customer === p.customer);
  return render(ctx, paginate(matches, p, listUrl(ctx), 'PaymentMethod'), p.expand);
}

function listCustomerPaymentMethods(ctx: RequestContext) {
  const customer = ctx.account.customers.require(pathParam(ctx, 'id'));
  const p = parseParams(customerListSchema, ctx.params);
  const matches = ctx.account.paymentMethods.newestFirst((pm) => pm.customer === customer.id);
  return render(ctx, paginate(matches, p, listUrl(ctx), 'PaymentMethod'), p.expand);
}

export const paymentMethodRoutes: Route[] = [
  route('POST', '/v1/payment_methods', create),
  route('GET', '/v1/payment_methods', listPaymentMethods),
  route('GET', '/v1/payment_methods/:id', retrieve),
  route('POST', '/v1/payment_methods/:id', update),
  route('POST', '/v1/payment_methods/:id/attach', attach),
  route('POST', '/v1/payment_methods/:id/detach', detach),
  route('GET', '/v1/customers/:id/payment_methods', listCustomerPaymentMethods),
];
