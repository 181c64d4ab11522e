import { z } from 'zod';
import { GatewayError } from '../../../apim/errors';
import { defineRoute } from '../../route';
import { resourceId } from '../common';
import { subscriptionPolicyBody, toPolicyDto, toPolicyInput } from './subscription-policy.schema';

/**
 * PUT /throttling/policies/subscription/{policyId} — replaces the policy and its billing plan
 * (the engine replaces the plan and the APIs' copies; the row is restored if that fails).
 */
export const updateSubscriptionPolicy = defineRoute({
  api: 'admin',
  method: 'put',
  path: '/throttling/policies/subscription/{policyId}',
  operationId: 'updateSubscriptionThrottlingPolicy',
  summary: 'Update a Subscription Policy',
  scopes: ['apim:admin', 'apim:tier_manage'],
  params: z.strictObject({ policyId: resourceId }),
  body: subscriptionPolicyBody,
  responses: { 200: 'SubscriptionThrottlePolicy' },
  async handle({ principal, params, body, apim }) {
    if (body.policyId != null && body.policyId !== params.policyId) {
      throw GatewayError.invalid('policyId', 'does not match the policy in the path');
    }
    const policy = await apim.policies.update(principal.tenant, params.policyId, toPolicyInput(body));
    return { status: 200, body: toPolicyDto(policy) };
  },
});
