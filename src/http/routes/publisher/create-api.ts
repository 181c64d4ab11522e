import { GatewayError } from '../../../apim/errors';
import { defineRoute } from '../../route';
import { apiActor } from '../common';
import { apiBody } from './api.schema';
import { toApiDto } from './presenters';

/**
 * POST /apis — creates an API in CREATED state in the caller's tenant. The provider defaults to
 * the caller; naming someone else needs `apim:admin`, as in WSO2. WSO2's fields Meterline does not
 * keep are accepted and ignored (see `apiBody`).
 */
export const createApi = defineRoute({
  api: 'publisher',
  method: 'post',
  path: '/apis',
  operationId: 'createAPI',
  summary: 'Create a New API',
  scopes: ['apim:api_create', 'apim:api_manage'],
  body: apiBody,
  responses: { 201: 'API' },
  async handle({ principal, body, apim }) {
    const provider = body.provider ?? principal.subject;
    if (provider !== principal.subject && !apiActor(principal).admin) {
      throw new GatewayError('FORBIDDEN', 'Only an admin (apim:admin) can create an API on behalf of another provider');
    }
    const input = { name: body.name, displayName: body.displayName ?? null, version: body.version, context: body.context, provider, type: body.type, policies: body.policies ?? [] };
    const api = await apim.apis.create(principal.tenant, input, principal.subject);
    return { status: 201, body: toApiDto(api), location: `/apis/${api.uuid}` };
  },
});
