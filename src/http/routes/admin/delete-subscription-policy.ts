import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';

/** DELETE /throttling/policies/subscription/{policyId} — archives the billing plan, then removes the policy. */
export const deleteSubscriptionPolicy = defineRoute({
  api: 'admin',
  method: 'delete',
  path: '/throttling/policies/subscription/{policyId}',
  operationId: 'removeSubscriptionThrottlingPolicy',
  summary: 'Delete a Subscription Policy',
  scopes: ['apim:admin', 'apim:tier_manage'],
  params: z.strictObject({ policyId: resourceId }),
  responses: { 200: '' },
  async handle({ principal, params, apim }) {
    await apim.policies.delete(principal.tenant, params.policyId);
    return { status: 200 };
  },
});
