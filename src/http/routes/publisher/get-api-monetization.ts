import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';

/** GET /apis/{apiId}/monetization — whether monetization is on, and each monetized tier's plan id. */
export const getApiMonetization = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/apis/{apiId}/monetization',
  operationId: 'getAPIMonetization',
  summary: 'Get Monetization Status for each Tier in a Given API',
  scopes: ['apim:api_view', 'apim:api_publish', 'apim:api_manage'],
  params: z.strictObject({ apiId: resourceId }),
  responses: { 200: 'APIMonetizationInfo' },
  async handle({ principal, params, apim }) {
    const status = await apim.apis.monetizationStatus(principal.tenant, params.apiId);
    return { status: 200, body: { enabled: status.enabled, properties: status.plans } };
  },
});
