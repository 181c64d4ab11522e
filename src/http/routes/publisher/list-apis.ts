import { z } from 'zod';
import { defineRoute } from '../../route';
import { pageQuery, pagination } from '../common';
import { toApiInfoDto } from './presenters';

/** GET /apis — the tenant's APIs, a page at a time. */
export const listApis = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/apis',
  operationId: 'getAllAPIs',
  summary: 'Retrieve APIs',
  scopes: ['apim:api_view', 'apim:api_manage', 'apim:api_import_export', 'apim:api_list_view'],
  query: z.strictObject(pageQuery),
  responses: { 200: 'APIList' },
  async handle({ principal, query, apim }) {
    const { total, apis } = await apim.apis.list(principal.tenant, query);
    return { status: 200, body: { count: apis.length, list: apis.map(toApiInfoDto), pagination: pagination('/apis', query, total) } };
  },
});
