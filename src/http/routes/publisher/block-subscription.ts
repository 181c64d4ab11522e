import { z } from 'zod';
import { BLOCK_STATES } from '../../../apim/subscription-blocking.service';
import { defineRoute } from '../../route';
import { apiActor, resourceId } from '../common';

/**
 * POST /subscriptions/block-subscription?subscriptionId=&blockState=BLOCKED|PROD_ONLY_BLOCKED —
 * blocks a subscription to one of the caller's APIs (its provider, or an admin): the access check
 * refuses its calls until it is unblocked; its billing goes on (see SubscriptionBlockingService).
 */
export const blockSubscription = defineRoute({
  api: 'publisher',
  method: 'post',
  path: '/subscriptions/block-subscription',
  operationId: 'blockSubscription',
  summary: 'Block a Subscription',
  scopes: ['apim:subscription_block', 'apim:subscription_manage'],
  query: z.strictObject({ subscriptionId: resourceId, blockState: z.enum(BLOCK_STATES) }),
  responses: { 200: 'OK' },
  async handle({ principal, query, apim }) {
    await apim.subscriptionBlocking.block(apiActor(principal), query.subscriptionId, query.blockState);
    return { status: 200 };
  },
});

/** POST /subscriptions/unblock-subscription?subscriptionId= — lifts the block: the subscription is UNBLOCKED. */
export const unblockSubscription = defineRoute({
  api: 'publisher',
  method: 'post',
  path: '/subscriptions/unblock-subscription',
  operationId: 'unBlockSubscription',
  summary: 'Unblock a Subscription',
  scopes: ['apim:subscription_block', 'apim:subscription_manage'],
  query: z.strictObject({ subscriptionId: resourceId }),
  responses: { 200: 'OK' },
  async handle({ principal, query, apim }) {
    await apim.subscriptionBlocking.unblock(apiActor(principal), query.subscriptionId);
    return { status: 200 };
  },
});
