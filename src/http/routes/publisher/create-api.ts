import { z } from 'zod';
import { GatewayError } from '../../../apim/errors';
import { defineRoute } from '../../route';
import { apiActor, storedText } from '../common';
import { toApiDto } from './presenters';

/**
 * The part of WSO2's `API` Meterline keeps: identity, context, provider and the subscription
 * tiers (`policies`). Gateway-runtime fields (endpoints, operations, CORS, ...) belong to the
 * gateway and are refused as unsupported here.
 */
const apiBody = z.strictObject({
  name: storedText(60).min(1).regex(/^[^~!@#;:%^*()+={}|\\<>"',&$[\]/]*$/, 'contains a character WSO2 does not allow in API names'),
  version: storedText(30).min(1).regex(/^[^~!@#;:%^*()+={}|\\<>"',&/$[\]\s]+$/, 'contains a character WSO2 does not allow in versions'),
  context: z
    .string()
    .min(1)
    .max(232)
    .regex(/^\/?[A-Za-z0-9_\-./{}]+$/, 'must be a URL path such as /weather')
    .transform((context) => (context.startsWith('/') ? context : `/${context}`)),
  provider: storedText(50).min(1).optional(),
  type: z.enum(['HTTP', 'WS', 'SOAPTOREST', 'SOAP', 'GRAPHQL', 'WEBSUB', 'SSE', 'WEBHOOK', 'ASYNC']).default('HTTP'),
  policies: z.array(storedText(512).min(1)).default([]),
});

/**
 * POST /apis — creates an API in CREATED state in the caller's tenant. The provider defaults to
 * the caller; naming someone else needs `apim:admin`, as in WSO2.
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
    const api = await apim.apis.create(principal.tenant, { ...body, provider }, principal.subject);
    return { status: 201, body: toApiDto(api), location: `/apis/${api.uuid}` };
  },
});
