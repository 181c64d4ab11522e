import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../../route';
import { apiActor, resourceId } from '../common';
import { spendLimitBody, spendLimitResult, spendLimitsOf } from '../extensions/spend-limits';

/**
 * The publisher's spend limit on a subscription to one of their APIs (Meterline extension,
 * docs/spend-limits.md): for the API's provider or an admin (`apim:admin`), 403 for another
 * publisher, 404 for a subscription not of the tenant. GET shows both parties' limits, what
 * applies and the period's spend; PUT sets the publisher's limit; DELETE removes it.
 */
const SCOPES = ['apim:api_view', 'apim:subscription_view', 'apim:subscription_manage'] as const;
const WRITE_SCOPES = ['apim:subscription_manage'] as const;
const params = z.strictObject({ subscriptionId: resourceId });
const PATH = '/subscriptions/{subscriptionId}/spend-limit';

export const getPublisherSpendLimit = defineRoute({
  api: 'publisher',
  method: 'get',
  path: PATH,
  operationId: 'meterline.getPublisherSpendLimit',
  summary: "Show the spend limits of a subscription to one of the caller's APIs and the period's spend",
  scopes: SCOPES,
  params,
  responses: { 200: 'Meterline.SpendLimit' },
  async handle({ principal, params: { subscriptionId }, apim, spendLimits }) {
    await apim.apis.getManagedBySubscription(apiActor(principal), subscriptionId);
    return spendLimitResult(await spendLimitsOf(spendLimits).show(subscriptionId));
  },
});

export const putPublisherSpendLimit = defineRoute({
  api: 'publisher',
  method: 'put',
  path: PATH,
  operationId: 'meterline.setPublisherSpendLimit',
  summary: "Set the publisher's spend limit on a subscription to one of the caller's APIs",
  scopes: WRITE_SCOPES,
  params,
  body: spendLimitBody,
  responses: { 200: 'Meterline.SpendLimit' },
  async handle({ principal, params: { subscriptionId }, body, apim, spendLimits }) {
    await apim.apis.getManagedBySubscription(apiActor(principal), subscriptionId);
    return spendLimitResult(await spendLimitsOf(spendLimits).set(subscriptionId, 'PUBLISHER', body, principal.subject));
  },
});

export const deletePublisherSpendLimit = defineRoute({
  api: 'publisher',
  method: 'delete',
  path: PATH,
  operationId: 'meterline.removePublisherSpendLimit',
  summary: "Remove the publisher's spend limit from a subscription to one of the caller's APIs",
  scopes: WRITE_SCOPES,
  params,
  responses: { 200: 'Meterline.SpendLimit' },
  async handle({ principal, params: { subscriptionId }, apim, spendLimits }) {
    await apim.apis.getManagedBySubscription(apiActor(principal), subscriptionId);
    return spendLimitResult(await spendLimitsOf(spendLimits).remove(subscriptionId, 'PUBLISHER'));
  },
});

export const PUBLISHER_SPEND_LIMIT_ROUTES = [getPublisherSpendLimit, putPublisherSpendLimit, deletePublisherSpendLimit] as AnyRoute[];
