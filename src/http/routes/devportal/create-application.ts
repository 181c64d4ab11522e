import { defineRoute } from '../../route';
import { applicationBody, toApplicationInput } from './application.schema';
import { toApplicationDto } from './presenters';

/**
 * POST /applications — the caller's new application (409 if they already have one of that
 * name). Key management is not Meterline's: no keys; groups and attributes are accepted and
 * ignored (see `applicationBody`).
 */
export const createApplication = defineRoute({
  api: 'devportal',
  method: 'post',
  path: '/applications',
  operationId: 'createApplication',
  summary: 'Create a New Application',
  scopes: ['apim:subscribe', 'apim:app_manage'],
  body: applicationBody,
  responses: { 201: 'Application' },
  async handle({ principal, body, apim }) {
    const application = await apim.applications.create(principal, toApplicationInput(body));
    return { status: 201, body: toApplicationDto(application), location: `/applications/${application.uuid}` };
  },
});
