import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';

/** DELETE /subscriptions/{subscriptionId} — cancels the billing subscription (final invoice), then removes it. */
export const deleteDevportalSubscription = defineRoute({
  api: 'devportal',
  method: 'delete',
  path: '/subscriptions/{subscriptionId}',
  operationId: 'removeSubscription',
  summary: 'Remove a Subscription',
  scopes: ['apim:subscribe', 'apim:sub_manage'],
  params: z.strictObject({ subscriptionId: resourceId }),
  responses: { 200: '' },
  async handle({ principal, params, apim }) {
    await apim.subscriptions.unsubscribe(principal, params.subscriptionId);
    return { status: 200 };
  },
});
