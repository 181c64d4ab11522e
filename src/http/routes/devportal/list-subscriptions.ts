import { z } from 'zod';
import { defineRoute } from '../../route';
import { pageQuery, pagination, resourceId } from '../common';
import { toDevportalSubscriptionDto } from './presenters';

/** GET /subscriptions?applicationId=|apiId= — the caller's subscriptions; one of the two filters is mandatory, as in WSO2. */
export const listDevportalSubscriptions = defineRoute({
  api: 'devportal',
  method: 'get',
  path: '/subscriptions',
  operationId: 'getSubscriptions',
  summary: 'Get All Subscriptions',
  scopes: ['apim:subscribe', 'apim:sub_manage'],
  query: z
    .strictObject({ apiId: resourceId.optional(), applicationId: resourceId.optional(), ...pageQuery })
    .refine((q) => q.apiId !== undefined || q.applicationId !== undefined, { message: 'give apiId or applicationId', path: ['applicationId'] }),
  responses: { 200: 'SubscriptionList' },
  async handle({ principal, query, apim }) {
    const filter = {
      ...(query.apiId === undefined ? {} : { apiId: query.apiId }),
      ...(query.applicationId === undefined ? {} : { applicationId: query.applicationId }),
    };
    const all = await apim.subscriptions.listOwn(principal, filter);
    const page = all.slice(query.offset, query.offset + query.limit);
    return {
      status: 200,
      body: { count: page.length, list: page.map(toDevportalSubscriptionDto), pagination: pagination('/subscriptions', query, all.length, filter) },
    };
  },
});
