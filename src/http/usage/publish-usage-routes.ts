import { SUPER_TENANT } from '../../config/schema';
import { GatewayError } from '../../apim/errors';
import { defineRoute, EMPTY_QUERY, type AnyRoute } from '../route';
import type { UsageService } from '../../usage/usage-service';

/** WSO2's scopes for publish-usage and its status (admin API v4). */
const PUBLISH_SCOPES = ['apim:admin', 'apim:monetization_usage_publish'] as const;

/**
 * The publisher's admin endpoints (WSO2's admin API v4), bound to one UsageService:
 * - `POST /api/am/admin/v4/monetization/publish-usage` — 202 and WSO2's body when a job starts;
 *   409 with WSO2's "A job is already running" body when one runs (WSO2 answers 500).
 * - `GET /api/am/admin/v4/monetization/publish-usage/status` — WSO2's fields plus progress.
 * The job runs across tenants, as WSO2's does, so only the super tenant's admins may start it
 * or read its status.
 */
export function publishUsageRoutes(usage: UsageService): AnyRoute[] {
  const publishUsage = defineRoute({
    api: 'admin',
    method: 'post',
    path: '/monetization/publish-usage',
    operationId: 'monetizationPublishUsagePost',
    summary: 'Start the usage publisher in the background',
    scopes: PUBLISH_SCOPES,
    query: EMPTY_QUERY,
    responses: { 202: 'Request Accepted', 409: 'A job is already running' },
    async handle({ principal }) {
      requireSuperTenant(principal.tenant.domain);
      const answer = await usage.publishUsage();
      return { status: answer.accepted ? 202 : 409, body: answer.body };
    },
  });

  const publishStatus = defineRoute({
    api: 'admin',
    method: 'get',
    path: '/monetization/publish-usage/status',
    operationId: 'monetizationPublishUsageStatusGet',
    summary: 'State of the usage publisher, with progress',
    scopes: PUBLISH_SCOPES,
    query: EMPTY_QUERY,
    responses: { 200: 'MonetizationUsagePublishInfo' },
    async handle({ principal }) {
      requireSuperTenant(principal.tenant.domain);
      return { status: 200, body: await usage.publishStatus() };
    },
  });

  return [publishUsage, publishStatus] as AnyRoute[];
}

function requireSuperTenant(domain: string): void {
  if (domain !== SUPER_TENANT.domain) {
    throw new GatewayError('FORBIDDEN', 'The usage publisher serves every tenant; only the super tenant (carbon.super) can run it');
  }
}
