import { z } from 'zod';
import { defineRoute } from '../../route';
import { storedText } from '../common';
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
    name: storedText(100).trim().min(1),
    throttlingPolicy: storedText(50).min(1),
    // Free text keeps tabs and line breaks, but not NUL, which PostgreSQL cannot store.
    description: z.string().max(512).regex(/^[^\u0000]*$/, 'must not contain NUL characters').optional(),
    tokenType: z.literal('JWT').optional(),
  }),
  responses: { 201: 'Application' },
  async handle({ principal, body, apim }) {
    const application = await apim.applications.create(principal, {
      name: body.name,
      throttlingPolicy: body.throttlingPolicy,
      description: body.description ?? null,
    });
    return { status: 201, body: toApplicationDto(application), location: `/applications/${application.uuid}` };
  },
});
