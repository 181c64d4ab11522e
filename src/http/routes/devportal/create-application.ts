import { z } from 'zod';
import { defineRoute } from '../../route';
import { toApplicationDto } from './presenters';

/**
 * POST /applications — the caller's new application (409 if they already have one of that
 * name). Key management is not Meterline's: only JWT applications, no keys or attributes.
 */
export const createApplication = defineRoute({
  api: 'devportal',
  method: 'post',
  path: '/applications',
  operationId: 'createApplication',
  summary: 'Create a New Application',
  scopes: ['apim:subscribe', 'apim:app_manage'],
  body: z.strictObject({
    name: z.string().trim().min(1).max(100),
    throttlingPolicy: z.string().min(1).max(50),
    description: z.string().max(512).optional(),
    tokenType: z.literal('JWT').optional(),
  }),
  responses: { 201: 'Application' },
  async handle({ principal, body, gateway }) {
    const application = await gateway.applications.create(principal, {
      name: body.name,
      throttlingPolicy: body.throttlingPolicy,
      description: body.description ?? null,
    });
    return { status: 201, body: toApplicationDto(application), location: `/applications/${application.uuid}` };
  },
});
