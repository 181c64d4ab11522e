import { z } from 'zod';
import { defineRoute } from '../../route';
import { pageQuery, pagination, resourceId } from '../common';
import { toPublisherSubscriptionDto } from './presenters';

/** GET /subscriptions[?apiId=] — subscriptions to the tenant's APIs, or to one of them. */
export const listPublisherSubscriptions = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/subscriptions',
  operationId: 'getSubscriptions',
  summary: 'Get all Subscriptions',
  scopes: ['apim:api_view', 'apim:subscription_view', 'apim:subscription_manage'],
  query: z.strictObject({ apiId: resourceId.optional(), ...pageQuery }),
  responses: { 200: 'SubscriptionList' },
  async handle({ principal, query, gateway }) {
    const all = await gateway.subscriptions.listForPublisher(principal.tenant, query.apiId);
    const page = all.slice(query.offset, query.offset + query.limit);
    const extra: Record<string, string> = query.apiId === undefined ? {} : { apiId: query.apiId };
    return {
      status: 200,
      body: { count: page.length, list: page.map(toPublisherSubscriptionDto), pagination: pagination('/subscriptions', query, all.length, extra) },
    };
  },
});
