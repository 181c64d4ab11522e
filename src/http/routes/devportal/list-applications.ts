import { z } from 'zod';
import { defineRoute } from '../../route';
import { pageQuery, pagination, storedText } from '../common';
import { toApplicationInfoDto } from './presenters';

/** GET /applications[?query=name] — the caller's applications (exact-name search, as WSO2). */
export const listApplications = defineRoute({
  api: 'devportal',
  method: 'get',
  path: '/applications',
  operationId: 'getApplications',
  summary: 'Retrieve/Search Applications',
  scopes: ['apim:subscribe', 'apim:app_manage', 'apim:app_import_export'],
  query: z.strictObject({ query: storedText(100).min(1).optional(), ...pageQuery }),
  responses: { 200: 'ApplicationList' },
  async handle({ principal, query, apim }) {
    const page = { limit: query.limit, offset: query.offset };
    const { total, applications } = await apim.applications.list(principal, { ...page, ...(query.query ? { name: query.query } : {}) });
    const extra: Record<string, string> = query.query ? { query: query.query } : {};
    return {
      status: 200,
      body: { count: applications.length, list: applications.map(toApplicationInfoDto), pagination: pagination('/applications', page, total, extra) },
    };
  },
});
