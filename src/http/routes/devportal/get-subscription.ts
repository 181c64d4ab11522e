import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';
import { toDevportalSubscriptionDto } from './presenters';

/** GET /subscriptions/{subscriptionId} — one of the caller's subscriptions. */
export const getDevportalSubscription = defineRoute({
  api: 'devportal',
  method: 'get',
  path: '/subscriptions/{subscriptionId}',
  operationId: 'getSubscriptionById',
  summary: 'Get Details of a Subscription',
  scopes: ['apim:subscribe', 'apim:sub_manage'],
  params: z.strictObject({ subscriptionId: resourceId }),
  responses: { 200: 'Subscription' },
  async handle({ principal, params, apim }) {
    return { status: 200, body: toDevportalSubscriptionDto(await apim.subscriptions.getOwn(principal, params.subscriptionId)) };
  },
});
