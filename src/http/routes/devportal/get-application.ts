import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';
import { toApplicationDto } from './presenters';

/** GET /applications/{applicationId} — one of the caller's applications (404 for anyone else's). */
export const getApplication = defineRoute({
  api: 'devportal',
  method: 'get',
  path: '/applications/{applicationId}',
  operationId: 'getApplication',
  summary: 'Get Details of an Application',
  scopes: ['apim:subscribe', 'apim:app_manage'],
  params: z.strictObject({ applicationId: resourceId }),
  responses: { 200: 'Application' },
  async handle({ principal, params, apim }) {
    return { status: 200, body: toApplicationDto(await apim.applications.get(principal, params.applicationId)) };
  },
});
