import { z } from 'zod';
import { defineRoute } from '../../route';
import { toDevportalSubscriptionDto } from './presenters';
import { subscriptionBody } from './subscription.schema';

/**
 * POST /subscriptions/multiple — subscribes each of the array's requests in turn (each as
 * `POST /subscriptions` would) and answers 200 with the subscriptions made, as WSO2 does: one
 * that fails (a conflict, an unknown tier) is left out of the answer and logged; when none could
 * be made, the first failure is the answer. A malformed array is refused whole (400 naming the
 * item's field, e.g. `[1].throttlingPolicy`).
 */
export const createSubscriptions = defineRoute({
  api: 'devportal',
  method: 'post',
  path: '/subscriptions/multiple',
  operationId: 'addSubscriptions',
  summary: 'Add New Subscriptions',
  scopes: ['apim:subscribe', 'apim:sub_manage'],
  body: z.array(subscriptionBody).min(1).max(100),
  responses: { 200: 'Subscription[]' },
  async handle({ principal, body, apim }) {
    const made = await apim.subscriptions.subscribeMany(
      principal,
      body.map(({ applicationId, apiId, throttlingPolicy }) => ({ applicationId, apiId, throttlingPolicy })),
    );
    return { status: 200, body: made.map(toDevportalSubscriptionDto) };
  },
});
