import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../../route';
import { resourceId } from '../common';
import { spendLimitBody, spendLimitResult, spendLimitsOf } from '../extensions/spend-limits';

/**
 * The subscriber's spend limit on one of their subscriptions (Meterline extension, docs/spend-limits.md):
 * GET shows both parties' limits, what applies and the period's spend; PUT sets the subscriber's
 * limit; DELETE removes it. 404 for a subscription that is not the caller's (another subscriber's
 * or another tenant's); 409 when the subscription has no rated spend (not COMMERCIAL, not billed).
 */
const SCOPES = ['apim:subscribe', 'apim:sub_manage'] as const;
const params = z.strictObject({ subscriptionId: resourceId });
const PATH = '/subscriptions/{subscriptionId}/spend-limit';

export const getDevportalSpendLimit = defineRoute({
  api: 'devportal',
  method: 'get',
  path: PATH,
  operationId: 'meterline.getSubscriberSpendLimit',
  summary: "Show the spend limits of one of the caller's subscriptions and the period's spend",
  scopes: SCOPES,
  params,
  responses: { 200: 'Meterline.SpendLimit' },
  async handle({ principal, params: { subscriptionId }, apim, spendLimits }) {
    await apim.subscriptions.getOwn(principal, subscriptionId);
    return spendLimitResult(await spendLimitsOf(spendLimits).show(subscriptionId));
  },
});

export const putDevportalSpendLimit = defineRoute({
  api: 'devportal',
  method: 'put',
  path: PATH,
  operationId: 'meterline.setSubscriberSpendLimit',
  summary: "Set the subscriber's spend limit on one of the caller's subscriptions",
  scopes: SCOPES,
  params,
  body: spendLimitBody,
  responses: { 200: 'Meterline.SpendLimit' },
  async handle({ principal, params: { subscriptionId }, body, apim, spendLimits }) {
    await apim.subscriptions.getOwn(principal, subscriptionId);
    return spendLimitResult(await spendLimitsOf(spendLimits).set(subscriptionId, 'SUBSCRIBER', body, principal.subject));
  },
});

export const deleteDevportalSpendLimit = defineRoute({
  api: 'devportal',
  method: 'delete',
  path: PATH,
  operationId: 'meterline.removeSubscriberSpendLimit',
  summary: "Remove the subscriber's spend limit from one of the caller's subscriptions",
  scopes: SCOPES,
  params,
  responses: { 200: 'Meterline.SpendLimit' },
  async handle({ principal, params: { subscriptionId }, apim, spendLimits }) {
    await apim.subscriptions.getOwn(principal, subscriptionId);
    return spendLimitResult(await spendLimitsOf(spendLimits).remove(subscriptionId, 'SUBSCRIBER'));
  },
});

export const DEVPORTAL_SPEND_LIMIT_ROUTES = [getDevportalSpendLimit, putDevportalSpendLimit, deleteDevportalSpendLimit] as AnyRoute[];
