import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';
import { applicationBody, toApplicationInput } from './application.schema';
import { toApplicationDto } from './presenters';

/**
 * PUT /applications/{applicationId} — replaces the name, throttling policy, description and token
 * type of one of the caller's applications (404 for anyone else's, 409 for a name they already use).
 * The devportal sends the whole application back: read-only fields are accepted and ignored.
 */
export const updateApplication = defineRoute({
  api: 'devportal',
  method: 'put',
  path: '/applications/{applicationId}',
  operationId: 'updateApplication',
  summary: 'Update an Application',
  scopes: ['apim:subscribe', 'apim:app_manage'],
  params: z.strictObject({ applicationId: resourceId }),
  body: applicationBody,
  responses: { 200: 'Application' },
  async handle({ principal, params, body, apim }) {
    const application = await apim.applications.update(principal, params.applicationId, toApplicationInput(body));
    return { status: 200, body: toApplicationDto(application) };
  },
});
