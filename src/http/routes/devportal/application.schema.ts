import { z } from 'zod';
import type { ApplicationInput } from '../../../apim/model';
import { wso2Body } from '../../openapi/wso2-body';
import { storedText } from '../common';

/**
 * WSO2's devportal `Application` as create and update accept it. Meterline keeps the name,
 * throttling policy, description and token type (AM_APPLICATION.TOKEN_TYPE); the other fields of
 * WSO2's schema (`groups`, `attributes`, `visibility`, `subscriptionScopes`, and the read-only
 * ones a client sends back) are type-checked against WSO2's schema and ignored: application
 * sharing, custom attributes and keys are WSO2 Key Manager matters Meterline does not handle.
 */
export const applicationBody = wso2Body('devportal', 'Application', {
  name: storedText(100).trim().min(1),
  throttlingPolicy: storedText(50).min(1),
  // Free text keeps tabs and line breaks, but not NUL, which PostgreSQL cannot store.
  description: z.string().max(512).regex(/^[^\u0000]*$/, 'must not contain NUL characters').nullish(),
  tokenType: z.enum(['JWT', 'OAUTH']).nullish(),
});

export function toApplicationInput(body: z.output<typeof applicationBody>): ApplicationInput {
  return { name: body.name, throttlingPolicy: body.throttlingPolicy, description: body.description ?? null, tokenType: body.tokenType ?? 'JWT' };
}
