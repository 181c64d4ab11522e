import { z } from 'zod';
import { toWso2RevenueMap } from '../../../monetization/wso2-usage-map';
import { defineRoute } from '../../route';
import { apiActor, resourceId } from '../common';

/**
 * GET /apis/{apiId}/revenue — paid revenue per currency and per subscription (404 when not
 * monetized). Another provider's money: only the API's provider or an admin (`apim:admin`), 403
 * for another publisher of the tenant.
 */
export const getApiRevenue = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/apis/{apiId}/revenue',
  operationId: 'getAPIRevenue',
  summary: 'Get Total Revenue Details of a Given Monetized API',
  scopes: ['apim:api_view', 'apim:api_publish', 'apim:api_manage'],
  params: z.strictObject({ apiId: resourceId }),
  responses: { 200: 'APIRevenue' },
  async handle({ principal, params, apim }) {
    const revenue = await apim.apis.revenue(apiActor(principal), params.apiId);
    return { status: 200, body: { properties: toWso2RevenueMap(revenue) } };
  },
});
