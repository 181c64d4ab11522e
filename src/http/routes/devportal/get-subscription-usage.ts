import { z } from 'zod';
import { toWso2UsageMap } from '../../../monetization/wso2-usage-map';
import { defineRoute } from '../../route';
import { resourceId } from '../common';

/** GET /subscriptions/{subscriptionId}/usage — the caller's pending invoice for one subscription (404 when it is not billed). */
export const getDevportalSubscriptionUsage = defineRoute({
  api: 'devportal',
  method: 'get',
  path: '/subscriptions/{subscriptionId}/usage',
  operationId: 'getSubscriptionUsage',
  summary: 'Get Details of a Pending Invoice for a Monetized Subscription',
  scopes: ['apim:subscribe', 'apim:sub_manage'],
  params: z.strictObject({ subscriptionId: resourceId }),
  responses: { 200: 'APIMonetizationUsage' },
  async handle({ principal, params, apim }) {
    const invoice = await apim.subscriptions.pendingInvoiceOwn(principal, params.subscriptionId);
    return { status: 200, body: { properties: toWso2UsageMap(invoice) } };
  },
});
