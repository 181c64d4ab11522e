import { z } from 'zod';
import { defineRoute } from '../../route';
import { managesApi } from '../../../apim/apis.service';
import { apiActor, pageQuery, pagination, resourceId } from '../common';
import { toPublisherSubscriptionDto } from './presenters';

/**
 * GET /subscriptions[?apiId=] — subscriptions to the caller's APIs (as WSO2 lists a provider's),
 * or to one of them; an admin (`apim:admin`) sees those to every API of the tenant. `apiId` of
 * another provider's API is 403.
 */
export const listPublisherSubscriptions = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/subscriptions',
  operationId: 'getSubscriptions',
  summary: 'Get all Subscriptions',
  scopes: ['apim:api_view', 'apim:subscription_view', 'apim:subscription_manage'],
  query: z.strictObject({ apiId: resourceId.optional(), ...pageQuery }),
  responses: { 200: 'SubscriptionList' },
  async handle({ principal, query, apim }) {
    const actor = apiActor(principal);
    if (query.apiId !== undefined) await apim.apis.getManaged(actor, query.apiId);
    const all = (await apim.subscriptions.listForPublisher(principal.tenant, query.apiId)).filter((s) => managesApi(actor, s.api));
    const page = all.slice(query.offset, query.offset + query.limit);
    const extra: Record<string, string> = query.apiId === undefined ? {} : { apiId: query.apiId };
    return {
      status: 200,
      body: { count: page.length, list: page.map(toPublisherSubscriptionDto), pagination: pagination('/subscriptions', query, all.length, extra) },
    };
  },
});
