import { z } from 'zod';
import { GatewayError } from '../../../apim/errors';
import type { PolicyRecord } from '../../../apim/model';
import { defineRoute } from '../../route';
import { pageQuery, pagination, resourceId } from '../common';

/** Each time unit in milliseconds: WSO2's `ThrottlingPolicy.unitTime` is the quota window in ms (60000 for "1 min"). */
const MS_PER: Readonly<Record<string, number>> = { sec: 1_000, min: 60_000, hour: 3_600_000, day: 86_400_000, month: 2_592_000_000, year: 31_536_000_000 };

/**
 * WSO2's publisher `ThrottlingPolicy` of a subscription policy: the quota (a bandwidth limit's
 * data amount and an event limit's count in `requestCount`, as WSO2 maps them), the business plan
 * (`tierPlan`) and, when COMMERCIAL, its prices in `monetizationProperties`. Burst control and
 * stop-on-quota are the gateway's, not kept by Meterline: answered as WSO2's defaults.
 */
export function toPublisherThrottlingPolicyDto(policy: PolicyRecord) {
  const { limit, pricing } = policy;
  const count = limit.type === 'REQUESTCOUNTLIMIT' ? limit.requestCount : limit.type === 'BANDWIDTHLIMIT' ? limit.dataAmount : limit.eventCount;
  return {
    name: policy.name,
    ...(policy.description === null ? {} : { description: policy.description }),
    policyLevel: 'subscription',
    displayName: policy.displayName ?? policy.name,
    attributes: {},
    requestCount: count,
    ...(limit.type === 'BANDWIDTHLIMIT' ? { dataUnit: limit.dataUnit } : {}),
    unitTime: limit.unitTime * (MS_PER[limit.timeUnit] ?? 1),
    timeUnit: limit.timeUnit,
    rateLimitCount: 0,
    ...(limit.type === 'EVENTCOUNTLIMIT' ? {} : { quotaPolicyType: limit.type === 'BANDWIDTHLIMIT' ? 'BANDWIDTHVOLUME' : 'REQUESTCOUNT' }),
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
