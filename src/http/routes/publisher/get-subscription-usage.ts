import { z } from 'zod';
import { toWso2UsageMap } from '../../../monetization/wso2-usage-map';
import { defineRoute } from '../../route';
import { apiActor, resourceId } from '../common';

/**
 * GET /subscriptions/{subscriptionId}/usage — the pending invoice of a subscription to one of the
 * tenant's APIs: for the API's provider or an admin (`apim:admin`), 403 for another publisher.
 */
export const getPublisherSubscriptionUsage = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/subscriptions/{subscriptionId}/usage',
  operationId: 'getSubscriptionUsage',
  summary: 'Get Details of a Pending Invoice for a Monetized Subscription',
  scopes: ['apim:api_view', 'apim:subscription_view', 'apim:subscription_manage'],
  params: z.strictObject({ subscriptionId: resourceId }),
  responses: { 200: 'APIMonetizationUsage' },
  async handle({ principal, params, apim }) {
    await apim.apis.getManagedBySubscription(apiActor(principal), params.subscriptionId);
    const invoice = await apim.subscriptions.pendingInvoiceForPublisher(principal.tenant, params.subscriptionId);
    return { status: 200, body: { properties: toWso2UsageMap(invoice) } };
  },
});
