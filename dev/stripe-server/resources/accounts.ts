import { z } from 'zod';
import { paginate } from '../http/list';
import { invalidState, resourceMissing } from '../http/errors';
import { expand, metadata, oneOf, paginationShape, parseParams, str } from '../http/params';
import { pathParam, route, type RequestContext, type Route } from '../http/route';
import type { WireAccount } from '../wire';
import { initialMetadata, listUrl, mergeMetadata, render } from './common';

const createSchema = z.strictObject({
  type: oneOf(['standard', 'express', 'custom']).optional(),
  country: str().optional(),
  email: str().optional(),
  business_type: oneOf(['company', 'government_entity', 'individual', 'non_profit']).optional(),
  default_currency: str().optional(),
  metadata: metadata().optional(),
  controller: z.record(z.string(), z.unknown()).optional(),
  capabilities: z.record(z.string(), z.unknown()).optional(),
  business_profile: z.looseObject({ name: str().optional(), url: str().optional() }).optional(),
  tos_acceptance: z.record(z.string(), z.unknown()).optional(),
  expand: expand(),
});
const updateSchema = z.strictObject({
  email: str().optional(),
  metadata: metadata().optional(),
  tos_acceptance: z.record(z.string(), z.unknown()).optional(),
  expand: expand(),
});

/**
 * Onboarding, as far as this server models it. A capability is requested with
 * `capabilities[card_payments][requested]=true`; it stays `inactive` and `charges_enabled` false
 * until the account's requirements are met ("Capabilities ... have a status of active, inactive or
 * pending. ... charges_enabled: Whether the account can process charges",
 * https://docs.stripe.com/connect/account-capabilities, https://docs.stripe.com/api/accounts/object),
 * which here is the terms of service accepted (`tos_acceptance`, on create or update). An account
 * created without requested capabilities is taken as already onboarded (no onboarding flow here).
 */
function applyOnboarding(account: WireAccount, requested: string[], onboarded: boolean): void {
  const status = onboarded ? 'active' : 'inactive';
  account.capabilities = Object.fromEntries(requested.map((name) => [name, status])) as WireAccount['capabilities'];
  account.charges_enabled = onboarded;
  account.payouts_enabled = onboarded;
  account.details_submitted = onboarded;
}

function requestedCapabilities(capabilities: Record<string, unknown> | undefined): string[] {
  return Object.entries(capabilities ?? {})
    .filter(([, value]) => typeof value === 'object' && value !== null && String((value as { requested?: unknown }).requested) === 'true')
    .map(([name]) => name);
}

/**
 * Why an account cannot take card payments, in Stripe's words ("You cannot create a charge on a
 * connected account without the `card_payments` capability enabled.", reported by Stripe users:
 * https://github.com/stripe/stripe-node/pull/737), or null when it can.
 */
export function chargesRefusal(account: WireAccount): string | null {
  const cardPayments = (account.capabilities as Record<string, string | undefined> | undefined)?.card_payments;
  if (!account.charges_enabled || (cardPayments !== undefined && cardPayments !== 'active')) {
    return 'You cannot create a charge on a connected account without the `card_payments` capability enabled.';
  }
  return null;
}
const retrieveSchema = z.strictObject({ expand: expand() });
const listSchema = z.strictObject({ ...paginationShape });

/** Only a platform creates connected accounts; a connected account cannot create its own. */
function create(ctx: RequestContext): WireAccount {
  if (ctx.account !== ctx.platform) {
    throw invalidState('Connected accounts cannot create other connected accounts; use the platform key without Stripe-Account.');
  }
  const p = parseParams(createSchema, ctx.params);
  const country = (p.country ?? 'US').toUpperCase();
  const state = ctx.world.registry.createConnected(ctx.platform, {
    type: p.type ?? (p.controller ? null : 'standard'),
    country,
    email: p.email ?? null,
    metadata: initialMetadata(p.metadata),
    businessType: p.business_type ?? null,
    defaultCurrency: (p.default_currency ?? (country === 'JP' ? 'jpy' : 'usd')).toLowerCase(),
    businessName: p.business_profile?.name ?? null,
    businessUrl: p.business_profile?.url ?? null,
  });
  const requested = requestedCapabilities(p.capabilities);
  if (requested.length > 0) applyOnboarding(state.account, requested, p.tos_acceptance !== undefined);
  ctx.world.events.emit(ctx.platform, 'account.updated', state.account);
  return render(ctx, state.account, p.expand);
}

function accountVisibleTo(ctx: RequestContext, id: string): WireAccount {
  const state = ctx.world.registry.resolve(ctx.platform, id);
  if (!state) throw resourceMissing('account', id, 'account');
  return state.account;
}

function retrieve(ctx: RequestContext): WireAccount {
  const p = parseParams(retrieveSchema, ctx.params);
  return render(ctx, accountVisibleTo(ctx, pathParam(ctx, 'id')), p.expand);
}

/** `GET /v1/account`: the account the request acts on. */
function retrieveCurrent(ctx: RequestContext): WireAccount {
  const p = parseParams(retrieveSchema, ctx.params);
  return render(ctx, ctx.account.account, p.expand);
}

function update(ctx: RequestContext): WireAccount {
  const account = accountVisibleTo(ctx, pathParam(ctx, 'id'));
  const p = parseParams(updateSchema, ctx.params);
  if (p.email !== undefined) account.email = p.email;
  if (p.metadata !== undefined) account.metadata = mergeMetadata(account.metadata ?? {}, p.metadata);
  if (p.tos_acceptance !== undefined && !account.charges_enabled) {
    applyOnboarding(account, Object.keys(account.capabilities ?? {}), true);
    ctx.world.events.emit(ctx.platform, 'account.updated', account);
  }
  return render(ctx, account, p.expand);
}

function listAccounts(ctx: RequestContext) {
  const p = parseParams(listSchema, ctx.params);
  const accounts = ctx.world.registry.connectedOf(ctx.platform).map((state) => state.account).reverse();
  return render(ctx, paginate(accounts, p, listUrl(ctx), 'account'), p.expand);
}

export const accountRoutes: Route[] = [
  route('POST', '/v1/accounts', create),
  route('GET', '/v1/accounts', listAccounts),
  route('GET', '/v1/accounts/:id', retrieve),
  route('POST', '/v1/accounts/:id', update),
  route('GET', '/v1/account', retrieveCurrent),
];
