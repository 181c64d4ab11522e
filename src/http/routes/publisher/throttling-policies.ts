import { z } from 'zod';
import { GatewayError } from '../../../apim/errors';
import type { PolicyRecord } from '../../../apim/model';
import { defineRoute } from '../../route';
import { pageQuery, pagination, resourceId } from '../common';
import { throttlingQuotaFields } from '../throttling-quota';

/**
 * WSO2's publisher `ThrottlingPolicy` of a subscription policy: the quota (a bandwidth limit's
 * data amount and an event limit's count in `requestCount`, as WSO2 maps them), the business plan
 * (`tierPlan`) and, when COMMERCIAL, its prices in `monetizationProperties`. Burst control and
 * stop-on-quota are the gateway's, not kept by Meterline: answered as WSO2's defaults.
 */
export function toPublisherThrottlingPolicyDto(policy: PolicyRecord) {
  const { limit, pricing } = policy;
  return {
    name: policy.name,
    ...(policy.description === null ? {} : { description: policy.description }),
    policyLevel: 'subscription',
    displayName: policy.displayName ?? policy.name,
    attributes: {},
    ...throttlingQuotaFields(limit),
    tierPlan: policy.billingPlan,
    stopOnQuotaReach: true,
    monetizationProperties: pricing
      ? {
          ...(pricing.fixedPrice === undefined ? {} : { fixedPrice: pricing.fixedPrice }),
          ...(pricing.plan === 'DYNAMICRATE' ? { pricePerRequest: pricing.pricePerRequest } : {}),
          currencyType: pricing.currency.toUpperCase(),
          billingCycle: pricing.billingCycle,
        }
      : {},
  };
}

/**
 * The levels WSO2's spec names: `subscription` (its enum spells it `subcription`; both are taken)
 * and `api`, the resource-level (advanced) policies, which Meterline does not manage: none.
 */
const policyLevel = z.enum(['subscription', 'subcription', 'api']);

/** GET /throttling-policies/{policyLevel} — the tenant's subscription policies, as the publisher portal lists tiers to sell an API on. */
export const listPublisherThrottlingPolicies = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/throttling-policies/{policyLevel}',
  operationId: 'getAllThrottlingPolicies',
  summary: 'Get All Throttling Policies for the Given Type',
  scopes: ['apim:api_view', 'apim:tier_view', 'apim:tier_manage'],
  params: z.strictObject({ policyLevel }),
  query: z.strictObject({ ...pageQuery }),
  responses: { 200: 'ThrottlingPolicyList' },
  async handle({ principal, params, query, apim }) {
    const all = params.policyLevel === 'api' ? [] : (await apim.policies.list(principal.tenant)).map(toPublisherThrottlingPolicyDto);
    const page = all.slice(query.offset, query.offset + query.limit);
    return {
      status: 200,
      body: { count: page.length, list: page, pagination: pagination(`/throttling-policies/${params.policyLevel}`, query, all.length) },
    };
  },
});

/** GET /throttling-policies/{policyLevel}/{policyName} — one subscription policy by name; 404 when the tenant has none of that name. */
export const getPublisherThrottlingPolicy = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/throttling-policies/{policyLevel}/{policyName}',
  operationId: 'getThrottlingPolicyByName',
  summary: 'Get Details of a Policy',
  scopes: ['apim:api_view', 'apim:tier_view', 'apim:tier_manage'],
  params: z.strictObject({ policyLevel, policyName: resourceId }),
  responses: { 200: 'ThrottlingPolicy' },
  async handle({ principal, params, apim }) {
    const policy = params.policyLevel === 'api' ? undefined : (await apim.policies.list(principal.tenant)).find((p) => p.name === params.policyName);
    if (!policy) throw GatewayError.notFound(`Throttling policy ${params.policyName}`);
    return { status: 200, body: toPublisherThrottlingPolicyDto(policy) };
  },
});

/**
 * WSO2's publisher `SubscriptionPolicy` of a subscription policy (the admin portal's shape, as
 * the publisher lists streaming policies): the quota as a `defaultLimit` of its type, the business
 * plan, the tenant. Burst control and stop-on-quota are the gateway's: WSO2's defaults.
 */
export function toPublisherSubscriptionPolicyDto(policy: PolicyRecord) {
  const { type, ...values } = policy.limit;
  const limitKey = type === 'REQUESTCOUNTLIMIT' ? 'requestCount' : type === 'BANDWIDTHLIMIT' ? 'bandwidth' : 'eventCount';
  return {
    uuid: policy.uuid,
    policyName: policy.name,
    displayName: policy.displayName ?? policy.name,
    ...(policy.description === null ? {} : { description: policy.description }),
    isDeployed: true,
    tenantId: policy.tenant.id,
    tenantDomain: policy.tenant.domain,
    defaultLimit: { type, [limitKey]: values },
    stopOnQuotaReach: true,
    billingPlan: policy.billingPlan,
  };
}

/**
 * GET /throttling-policies/streaming/subscription — the tenant's subscription policies for
 * streaming APIs (WebSocket, SSE, WebSub), which WSO2 throttles by event count: the policies whose
 * quota is an event limit (EVENTCOUNTLIMIT), as the spec's "Subscription Throttling Based on
 * Quota Type" section lists them. Registered before `/throttling-policies/{policyLevel}/{policyName}`.
 */
export const listStreamingSubscriptionPolicies = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/throttling-policies/streaming/subscription',
  operationId: 'getSubscriptionThrottlingPolicies',
  summary: 'Get streaming throttling policies',
  scopes: ['apim:api_view', 'apim:tier_view', 'apim:tier_manage'],
  query: z.strictObject({ ...pageQuery }),
  responses: { 200: 'SubscriptionPolicyList' },
  async handle({ principal, query, apim }) {
    const all = (await apim.policies.list(principal.tenant)).filter((p) => p.limit.type === 'EVENTCOUNTLIMIT').map(toPublisherSubscriptionPolicyDto);
    const page = all.slice(query.offset, query.offset + query.limit);
    return {
      status: 200,
      body: { count: page.length, list: page, pagination: pagination('/throttling-policies/streaming/subscription', query, all.length) },
    };
  },
});
