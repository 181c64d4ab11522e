import { z } from 'zod';
import { BLOCK_STATES } from '../../../apim/subscription-blocking.service';
import { defineRoute } from '../../route';
import { apiActor, resourceId, storedText } from '../common';

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

/**
 * POST /subscriptions/change-business-plan?subscriptionId=&businessPlan= — moves a subscription to
 * one of the caller's APIs to another tier the API offers (its provider, or an admin), as the
 * subscriber's own change of plan does (SubscriptionsService.changePlanForPublisher): the engine
 * bills the new plan, an unbilled subscription may become billed, a billed one cannot move to a
 * free tier (409), and only an UNBLOCKED subscription changes plan (409). 400 names `businessPlan`.
 */
export const changeSubscriptionBusinessPlan = defineRoute({
  api: 'publisher',
  method: 'post',
  path: '/subscriptions/change-business-plan',
  operationId: 'changeSubscriptionBusinessPlan',
  summary: 'Change subscription business plan',
  scopes: ['apim:subscription_manage'],
  query: z.strictObject({ subscriptionId: resourceId, businessPlan: storedText(256).min(1) }),
  responses: { 200: 'OK' },
  async handle({ principal, query, apim }) {
    await apim.apis.getManagedBySubscription(apiActor(principal), query.subscriptionId);
    await apim.subscriptions.changePlanForPublisher(principal.tenant, query.subscriptionId, query.businessPlan);
    return { status: 200 };
  },
});
