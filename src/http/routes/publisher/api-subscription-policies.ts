import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';
import { toPublisherThrottlingPolicyDto } from './throttling-policies';

/**
 * GET /apis/{apiId}/subscription-policies — the subscription policies an API is sold on, of the
 * caller's tenant (an API of another tenant is not found). WSO2's spec declares one
 * `ThrottlingPolicy`, but WSO2 answers a JSON array of them (its implementation returns the list
 * of the tenant's subscription tiers the API offers, and its publisher portal and clients read a
 * list): Meterline answers that array, each item a `ThrottlingPolicy` as the tier listings give it,
 * in the listing's order (WSO2 filters the tenant's tier list by the API's tiers).
 */
export const getApiSubscriptionPolicies = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/apis/{apiId}/subscription-policies',
  operationId: 'getAPISubscriptionPolicies',
  summary: 'Get Details of the Subscription Throttling Policies of an API',
  scopes: ['apim:api_view', 'apim:api_manage'],
  params: z.strictObject({ apiId: resourceId }),
  responses: { 200: 'ThrottlingPolicy' },
  async handle({ principal, params, apim }) {
    const api = await apim.apis.get(principal.tenant, params.apiId);
    const offered = new Set(api.policies);
    const body = (await apim.policies.list(principal.tenant)).filter((p) => offered.has(p.name)).map(toPublisherThrottlingPolicyDto);
    return { status: 200, body };
  },
});
