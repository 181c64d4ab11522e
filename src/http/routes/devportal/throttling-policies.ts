import { z } from 'zod';
import type { PolicyRecord } from '../../../apim/model';
import { GatewayError } from '../../../apim/errors';
import { defineRoute } from '../../route';
import { pageQuery, pagination, resourceId } from '../common';
import { throttlingQuotaFields } from '../throttling-quota';

/**
 * WSO2's devportal `ThrottlingPolicy` of a subscription policy: its quota (`unitTime` in
 * milliseconds, as WSO2 answers it), its business plan and, when COMMERCIAL, its prices.
 */
export function toThrottlingPolicyDto(policy: PolicyRecord) {
  const { limit, pricing } = policy;
  return {
    name: policy.name,
    ...(policy.description === null ? {} : { description: policy.description }),
    policyLevel: 'subscription',
    attributes: {},
    ...throttlingQuotaFields(limit),
    tierPlan: policy.billingPlan,
    // Meterline does not enforce quotas (the gateway does); WSO2's default for its policies.
    stopOnQuotaReach: true,
    ...(pricing
      ? {
          monetizationAttributes: {
            billingType: pricing.plan === 'FIXEDRATE' ? 'fixedPrice' : 'dynamicRate',
            billingCycle: pricing.billingCycle,
            ...(pricing.fixedPrice === undefined ? {} : { fixedPrice: pricing.fixedPrice }),
            ...(pricing.plan === 'DYNAMICRATE' ? { pricePerRequest: pricing.pricePerRequest } : {}),
            currencyType: pricing.currency.toUpperCase(),
          },
        }
      : {}),
  };
}

/**
 * Application-level policies are WSO2's throttling of whole applications, which Meterline does
 * not manage: it lists `Unlimited`, the one WSO2 always has and Meterline's default for a new
 * application.
 */
const UNLIMITED_APPLICATION_POLICY = {
  name: 'Unlimited',
  description: 'Allows unlimited requests',
  policyLevel: 'application',
  attributes: {},
  requestCount: 0,
  unitTime: 0,
  timeUnit: 'min',
  rateLimitCount: 0,
  quotaPolicyType: 'REQUESTCOUNT',
  tierPlan: 'FREE',
  stopOnQuotaReach: true,
} as const;

const policyLevel = z.enum(['application', 'subscription']);

async function policiesOf(level: z.infer<typeof policyLevel>, list: () => Promise<PolicyRecord[]>): Promise<object[]> {
  return level === 'application' ? [UNLIMITED_APPLICATION_POLICY] : (await list()).map(toThrottlingPolicyDto);
}

/** GET /throttling-policies/{policyLevel} — the tenant's subscription policies (tiers and business plans), or the application ones. */
export const listThrottlingPolicies = defineRoute({
  api: 'devportal',
  method: 'get',
  path: '/throttling-policies/{policyLevel}',
  operationId: 'getAllThrottlingPolicies',
  summary: 'Get All Available Throttling Policies',
  // WSO2 asks for any valid token here; Meterline's devportal tokens all hold apim:subscribe.
  scopes: ['apim:subscribe'],
  params: z.strictObject({ policyLevel }),
  query: z.strictObject({ ...pageQuery }),
  responses: { 200: 'ThrottlingPolicyList' },
  async handle({ principal, params, query, apim }) {
    const all = await policiesOf(params.policyLevel, () => apim.policies.list(principal.tenant));
    const page = all.slice(query.offset, query.offset + query.limit);
    return { status: 200, body: { count: page.length, list: page, pagination: pagination(`/throttling-policies/${params.policyLevel}`, query, all.length) } };
  },
});

/** GET /throttling-policies/{policyLevel}/{policyId} — one policy by name (`policyId` is its name, as in WSO2). */
export const getThrottlingPolicy = defineRoute({
  api: 'devportal',
  method: 'get',
  path: '/throttling-policies/{policyLevel}/{policyId}',
  operationId: 'getThrottlingPolicyByName',
  summary: 'Get Details of a Throttling Policy',
  scopes: ['apim:subscribe'],
  params: z.strictObject({ policyLevel, policyId: resourceId }),
  responses: { 200: 'ThrottlingPolicy' },
  async handle({ principal, params, apim }) {
    const found = (await policiesOf(params.policyLevel, () => apim.policies.list(principal.tenant))).find((p) => (p as { name: string }).name === params.policyId);
    if (!found) throw GatewayError.notFound(`Throttling policy ${params.policyLevel}/${params.policyId}`);
    return { status: 200, body: found };
  },
});
