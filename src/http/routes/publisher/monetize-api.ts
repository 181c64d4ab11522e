import { z } from 'zod';
import { defineRoute } from '../../route';
import { apiActor, resourceId, storedText } from '../common';

/**
 * POST /apis/{apiId}/monetize — WSO2's `APIMonetizationInfo`. Only for PUBLISHED APIs (400,
 * WSO2 code 904300); the properties must not be empty and must carry every required additional
 * attribute (400 naming it). The engine enables or disables first; the state is recorded after.
 * Only the API's provider or an admin (`apim:admin`); another publisher of the tenant gets 403.
 *
 * The properties are kept as one JSON text (64 KiB on MySQL): at most 20, names up to 100
 * characters, values up to 1000 — far above any attribute WSO2 or Stripe defines.
 */
export const monetizeApi = defineRoute({
  api: 'publisher',
  method: 'post',
  path: '/apis/{apiId}/monetize',
  operationId: 'addAPIMonetization',
  summary: 'Configure Monetization for a Given API',
  scopes: ['apim:api_publish', 'apim:api_manage'],
  params: z.strictObject({ apiId: resourceId }),
  body: z.strictObject({
    enabled: z.boolean(),
    properties: z
      .record(storedText(100).min(1), storedText(1000))
      .refine((properties) => Object.keys(properties).length <= 20, 'must have at most 20 properties')
      .default({}),
  }),
  responses: { 201: '' },
  async handle({ principal, params, body, apim }) {
    await apim.apis.configureMonetization(apiActor(principal), params.apiId, body);
    return { status: 201, body: {} };
  },
});
