import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';
import { toApiDto } from './presenters';

/** GET /apis/{apiId} — one API of the caller's tenant. */
export const getApi = defineRoute({
  api: 'publisher',
  method: 'get',
  path: '/apis/{apiId}',
  operationId: 'getAPI',
  summary: 'Get Details of an API',
  scopes: ['apim:api_view', 'apim:api_manage', 'apim:api_import_export', 'apim:api_product_import_export'],
  params: z.strictObject({ apiId: resourceId }),
  responses: { 200: 'API' },
  async handle({ principal, params, apim }) {
    return { status: 200, body: toApiDto(await apim.apis.get(principal.tenant, params.apiId)) };
  },
});
