import { defineRoute } from '../../route';
import { toDevportalSubscriptionDto } from './presenters';
import { subscriptionBody } from './subscription.schema';

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
  body: subscriptionBody,
  responses: { 201: 'Subscription' },
  async handle({ principal, body, apim }) {
    const { applicationId, apiId, throttlingPolicy } = body;
    const subscription = await apim.subscriptions.subscribe(principal, { applicationId, apiId, throttlingPolicy });
    return { status: 201, body: toDevportalSubscriptionDto(subscription), location: `/subscriptions/${subscription.uuid}` };
  },
});
