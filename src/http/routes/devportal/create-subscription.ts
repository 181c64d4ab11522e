import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId, storedText } from '../common';
import { toDevportalSubscriptionDto } from './presenters';

/**
 * POST /subscriptions — subscribes one of the caller's applications to a PUBLISHED API of their
 * tenant on one of its tiers, running the engine's subscription workflow. `status` is the access
 * the engine granted (UNBLOCKED, or ON_HOLD until paid).
 */
export const createSubscription = defineRoute({
  api: 'devportal',
  method: 'post',
  path: '/subscriptions',
  operationId: 'addSubscription',
  summary: 'Add a New Subscription',
  scopes: ['apim:subscribe', 'apim:sub_manage'],
  body: z.strictObject({ applicationId: resourceId, apiId: resourceId, throttlingPolicy: storedText(512).min(1) }),
  responses: { 201: 'Subscription' },
  async handle({ principal, body, apim }) {
    const subscription = await apim.subscriptions.subscribe(principal, body);
    return { status: 201, body: toDevportalSubscriptionDto(subscription), location: `/subscriptions/${subscription.uuid}` };
  },
});
