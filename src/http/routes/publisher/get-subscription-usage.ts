import { z } from 'zod';
import { toWso2UsageMap } from '../../../monetization/wso2-usage-map';
import type { EngineErrorEntry } from '../../../usage/usage-service';
import { defineRoute } from '../../route';
import { apiActor, resourceId } from '../common';

/**
 * GET /subscriptions/{subscriptionId}/usage — the pending invoice of a subscription to one of the
 * tenant's APIs: for the API's provider or an admin (`apim:admin`), 403 for another publisher.
 * When the billing engine reported that it could not bill some of the subscription's usage after
 * accepting it, `Usage Errors` says which windows and why (absent otherwise).
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
  async handle({ principal, params, apim, usage }) {
    await apim.apis.getManagedBySubscription(apiActor(principal), params.subscriptionId);
    const invoice = await apim.subscriptions.pendingInvoiceForPublisher(principal.tenant, params.subscriptionId);
    const errors = usage ? await usage.engineErrors(params.subscriptionId) : [];
    const properties = toWso2UsageMap(invoice);
    return { status: 200, body: { properties: errors.length > 0 ? { ...properties, 'Usage Errors': describeErrors(errors) } : properties } };
  },
});

/** One entry per window: its times, its quantity and the engine's reason. */
function describeErrors(errors: readonly EngineErrorEntry[]): string {
  return errors.map((e) => `${e.windowStart} to ${e.windowEnd}, ${e.quantity} calls not billed: ${e.reason}`).join('; ');
}
