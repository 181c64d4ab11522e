import { z } from 'zod';
import { defineRoute } from '../../route';
import { apiActor, resourceId } from '../common';
import { apiBody } from './api.schema';
import { toApiDto } from './presenters';

/**
 * PUT /apis/{apiId} — WSO2's updateAPI. The body is WSO2's whole `API` (validated as on create);
 * Meterline applies the fields it keeps: the tiers (`policies`, kept when absent) and the display
 * name. As WSO2 says, name, version, context, provider and lifecycle state are not changed by
 * this operation (nor the type): their values in the body are ignored. Only the API's provider
 * or an admin (`apim:admin`); another publisher of the tenant gets 403. This is how an API WSO2
 * created (whose tiers live in WSO2's registry, not in its database) is given the tiers it is
 * subscribed on.
 */
export const updateApi = defineRoute({
  api: 'publisher',
  method: 'put',
  path: '/apis/{apiId}',
  operationId: 'updateAPI',
  summary: 'Update an API',
  scopes: ['apim:api_create', 'apim:api_manage', 'apim:api_publish'],
  params: z.strictObject({ apiId: resourceId }),
  body: apiBody,
  responses: { 200: 'API' },
  async handle({ principal, params, body, apim }) {
    const api = await apim.apis.update(apiActor(principal), params.apiId, { displayName: body.displayName ?? null, policies: body.policies ?? null });
    return { status: 200, body: toApiDto(api) };
  },
});
