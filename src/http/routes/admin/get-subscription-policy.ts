import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';
import { toPolicyDto } from './subscription-policy.schema';

/** GET /throttling/policies/subscription/{policyId} */
export const getSubscriptionPolicy = defineRoute({
  api: 'admin',
  method: 'get',
  path: '/throttling/policies/subscription/{policyId}',
  operationId: 'getSubscriptionThrottlingPolicyById',
  summary: 'Get a Subscription Policy',
  scopes: ['apim:admin', 'apim:tier_view'],
  params: z.strictObject({ policyId: resourceId }),
  responses: { 200: 'SubscriptionThrottlePolicy' },
  async handle({ principal, params, apim }) {
    return { status: 200, body: toPolicyDto(await apim.policies.get(principal.tenant, params.policyId)) };
  },
});
