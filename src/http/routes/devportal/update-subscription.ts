import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';
import { toDevportalSubscriptionDto } from './presenters';
import { subscriptionUpdateBody } from './subscription.schema';

/**
 * PUT /subscriptions/{subscriptionId} — the devportal's "change business plan": moves one of the
 * caller's subscriptions to `requestedThrottlingPolicy` (else `throttlingPolicy`), with its
 * billing (see `SubscriptionsService.changePlan`). The application and API cannot change (400).
 */
export const updateDevportalSubscription = defineRoute({
  api: 'devportal',
  method: 'put',
  path: '/subscriptions/{subscriptionId}',
  operationId: 'updateSubscription',
  summary: 'Update Existing Subscription',
  scopes: ['apim:subscribe', 'apim:sub_manage'],
  params: z.strictObject({ subscriptionId: resourceId }),
  body: subscriptionUpdateBody,
  responses: { 200: 'Subscription' },
  async handle({ principal, params, body, apim }) {
    const subscription = await apim.subscriptions.changePlan(principal, params.subscriptionId, {
      applicationId: body.applicationId,
      ...(body.apiId === undefined ? {} : { apiId: body.apiId }),
      throttlingPolicy: body.requestedThrottlingPolicy ?? body.throttlingPolicy,
    });
    return { status: 200, body: toDevportalSubscriptionDto(subscription), location: `/subscriptions/${subscription.uuid}` };
  },
});
