import { defineRoute } from '../../route';
import { toPolicyDto } from './subscription-policy.schema';

/** GET /throttling/policies/subscription — the tenant's subscription policies. */
export const listSubscriptionPolicies = defineRoute({
  api: 'admin',
  method: 'get',
  path: '/throttling/policies/subscription',
  operationId: 'getAllSubscriptionThrottlingPolicies',
  summary: 'Get all Subscription Throttling Policies',
  scopes: ['apim:admin', 'apim:tier_view'],
  responses: { 200: 'SubscriptionThrottlePolicyList' },
  async handle({ principal, apim }) {
    const policies = await apim.policies.list(principal.tenant);
    return { status: 200, body: { count: policies.length, list: policies.map(toPolicyDto) } };
  },
});
