import { createHash } from 'node:crypto';
import type { SubscriptionPolicy, SubscriptionRef } from '../../src/domain/model';
import type { AccountKind } from './http-integration.options';

/**
 * The requests Meterline sends an integration (docs/custom-billing.md, docs/custom-billing.openapi.yaml):
 * `{ type, timestamp, data }`, one `type` per operation. Synchronous ones are answered with JSON
 * the engine records; asynchronous ones go through the outbox and any 2xx is enough.
 */
export const SYNC_OPERATIONS = ['plan.created', 'plan.updated', 'monetization.enabled', 'subscription.created'] as const;
export const ASYNC_OPERATIONS = ['plan.deleted', 'monetization.disabled', 'subscription.deleted', 'usage.reported'] as const;
export type SyncOperation = (typeof SYNC_OPERATIONS)[number];
export type AsyncOperation = (typeof ASYNC_OPERATIONS)[number];
export type Operation = SyncOperation | AsyncOperation;

/** The one usage add-on Meterline reports: successful API calls. */
export const CALLS_ADD_ON = 'calls';

/** The plan code Meterline suggests for a policy; the integration may answer another. */
export function suggestedPlanCode(policy: SubscriptionPolicy): string {
  return `meterline-plan-${policy.uuid}`;
}

/** A policy as the integration sees it: prices as exact major-unit decimal strings, currency upper-case ISO 4217. */
export function policyData(policy: SubscriptionPolicy): Record<string, unknown> {
  const pricing = policy.pricing;
  if (!pricing) return { id: policy.uuid, name: policy.name, displayName: policy.name };
  const rate = pricing.plan === 'DYNAMICRATE' ? pricing.usageRate : undefined;
  return {
    id: policy.uuid,
    name: policy.name,
    displayName: policy.name,
    currency: pricing.currency.toUpperCase(),
    billingCycle: pricing.billingCycle,
    plan: pricing.plan,
    ...(pricing.fixedPrice !== undefined ? { fixedPrice: pricing.fixedPrice } : {}),
    ...(pricing.plan === 'DYNAMICRATE' ? { pricePerRequest: pricing.pricePerRequest, usageModel: rate?.model ?? 'per_unit' } : {}),
    ...(rate && (rate.model === 'graduated' || rate.model === 'volume') ? { tiers: rate.tiers.map((t) => ({ upTo: t.upTo, unitPrice: t.unitPrice, flatPrice: t.flatPrice })) } : {}),
    ...(rate && rate.model === 'package' ? { packageSize: rate.packageSize, packagePrice: rate.packagePrice } : {}),
    ...(pricing.setupFee !== undefined ? { setupFee: pricing.setupFee } : {}),
  };
}

/**
 * The subscription and its account as `subscription.created` carries them. The account by the
 * tenant's kind: `user` the subscriber (id and name: the user id; the subscriber's e-mail),
 * `team` the application (id: its UUID, name: its name; the subscriber's e-mail as the contact),
 * `org` the tenant (id and name: the tenant domain; no e-mail).
 */
export function subscriptionCreatedData(subscription: SubscriptionRef, planCode: string, accountKind: AccountKind = 'user'): Record<string, unknown> {
  const metered = subscription.policy.pricing?.plan === 'DYNAMICRATE';
  return {
    tenant: subscription.api.tenant.domain,
    subscription: {
      id: subscription.uuid,
      apiId: subscription.api.uuid,
      apiName: subscription.api.name,
      applicationId: subscription.application.uuid,
      applicationName: subscription.application.name,
      policyName: subscription.policy.name,
      planCode,
    },
    account: accountOf(subscription, accountKind),
    addOns: metered ? [{ code: CALLS_ADD_ON, kind: 'usage' }] : [],
  };
}

function accountOf(subscription: SubscriptionRef, kind: AccountKind): { kind: AccountKind; id: string; name: string; email: string | null } {
  switch (kind) {
    case 'team':
      return { kind, id: subscription.application.uuid, name: subscription.application.name, email: subscription.subscriber.email };
    case 'org':
      return { kind, id: subscription.api.tenant.domain, name: subscription.api.tenant.domain, email: null };
    default:
      return { kind: 'user', id: subscription.subscriber.userId, name: subscription.subscriber.userId, email: subscription.subscriber.email };
  }
}

/**
 * The `webhook-id` of an operation: its type, tenant and what it is about, so a retry of the same
 * operation is the same id (the integration deduplicates by it). For operations whose content may
 * change while what they are about does not (a policy updated twice, an API enabled with other
 * tiers), a digest of the data is part of it. At most 255 characters (else a digest of it).
 */
export function messageId(operation: Operation, tenantDomain: string, subject: string, data?: unknown): string {
  const parts = [operation, tenantDomain, subject, ...(data === undefined ? [] : [digest(canonicalJson(data)).slice(0, 16)])];
  const id = parts.join(':');
  return id.length <= 255 ? id : `${operation}:sha256:${digest(id)}`;
}

function digest(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** JSON with object keys sorted, so the same data always gives the same digest. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}
