import { defineRoute } from '../../route';
import { subscriptionPolicyBody, toPolicyDto, toPolicyInput } from './subscription-policy.schema';

/**
 * POST /throttling/policies/subscription — adds a subscription policy; a COMMERCIAL one gets its
 * billing plan from the engine (row first, then plan; the row is removed if the plan fails).
 */
export const createSubscriptionPolicy = defineRoute({
  api: 'admin',
  method: 'post',
  path: '/throttling/policies/subscription',
  operationId: 'addSubscriptionThrottlingPolicy',
  summary: 'Add a Subscription Throttling Policy',
  scopes: ['apim:admin', 'apim:tier_manage'],
  body: subscriptionPolicyBody,
  responses: { 201: 'SubscriptionThrottlePolicy' },
  async handle({ principal, body, apim }) {
    const policy = await apim.policies.create(principal.tenant, toPolicyInput(body));
    return { status: 201, body: toPolicyDto(policy), location: `/throttling/policies/subscription/${policy.uuid}` };
  },
});
