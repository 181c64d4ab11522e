import { z } from 'zod';
import { defineRoute } from '../../route';
import { resourceId } from '../common';

/** DELETE /applications/{applicationId} — ends each subscription (billing included), then removes the application. */
export const deleteApplication = defineRoute({
  api: 'devportal',
  method: 'delete',
  path: '/applications/{applicationId}',
  operationId: 'deleteApplication',
  summary: 'Remove an Application',
  scopes: ['apim:subscribe', 'apim:app_manage', 'apim:app_import_export'],
  params: z.strictObject({ applicationId: resourceId }),
  responses: { 200: '' },
  async handle({ principal, params, apim }) {
    await apim.applications.delete(principal, params.applicationId);
    return { status: 200 };
  },
});
