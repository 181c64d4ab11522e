import { z } from 'zod';
import { wso2Body } from '../../openapi/wso2-body';
import { storedText } from '../common';

/**
 * WSO2's `API` as Meterline accepts it on `POST /apis` and `PUT /apis/{apiId}`. Meterline keeps the
 * identity (name, version, context, provider, type, displayName) and the subscription tiers
 * (`policies`). Every other field of WSO2's schema (endpoints, operations, CORS, security schemes,
 * visibility, business information, gateway type, ...) belongs to the gateway: it is type-checked
 * against WSO2's schema and ignored (`wso2Body`), so the publisher portal's and apictl's bodies
 * are accepted. `lifeCycleStatus` is changed through change-lifecycle and `monetization` through
 * `POST /apis/{apiId}/monetize`, as in WSO2; here they are ignored too.
 */
export const apiBody = wso2Body('publisher', 'API', {
  name: storedText(60).min(1).regex(/^[^~!@#;:%^*()+={}|\\<>"',&$[\]/]*$/, 'contains a character WSO2 does not allow in API names'),
  displayName: storedText(256).min(1).nullish(),
  version: storedText(30).min(1).regex(/^[^~!@#;:%^*()+={}|\\<>"',&/$[\]\s]+$/, 'contains a character WSO2 does not allow in versions'),
  context: z
    .string()
    .min(1)
    .max(232)
    .regex(/^\/?[A-Za-z0-9_\-./{}]+$/, 'must be a URL path such as /weather')
    .transform((context) => (context.startsWith('/') ? context : `/${context}`)),
  provider: storedText(50).min(1).nullish(),
  type: z.enum(['HTTP', 'WS', 'SOAPTOREST', 'SOAP', 'GRAPHQL', 'WEBSUB', 'SSE', 'WEBHOOK', 'ASYNC']).default('HTTP'),
  policies: z.array(storedText(512).min(1)).nullish(),
});
export type ApiBody = z.output<typeof apiBody>;
