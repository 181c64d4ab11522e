import { z } from 'zod';
import { GatewayError } from '../../apim/errors';
import { SUPER_TENANT } from '../../config/schema';
import { defineRoute, type AnyRoute } from '../route';
import { parsePeriod, PeriodFormatError } from '../../usage/usage-reconcile-period';
import { UsageReconcileUnsupportedError, type UsageReconciler } from '../../usage/usage-reconcile';

/** The publish-usage scopes: whoever may publish usage may check what it became. */
const RECONCILE_SCOPES = ['apim:admin', 'apim:monetization_usage_publish'] as const;

const query = z.strictObject({ period: z.string().max(40).optional() });

/**
 * `GET /api/am/admin/v4/monetization/usage-reconciliation[?period=…]` (Meterline's own, not in
 * WSO2's admin API): the same reconciliation as `meterline reconcile usage --json`, answered 200
 * whether or not it found differences (`matches` says). 400 naming `period` for a value that is
 * not one of its forms (see `parsePeriod`); 409 when the engine cannot reconcile usage. Like the
 * publisher it covers every tenant, so only the super tenant's admins may ask.
 */
export function usageReconcileRoutes(reconcile: UsageReconciler): AnyRoute[] {
  const route = defineRoute({
    api: 'admin',
    method: 'get',
    path: '/monetization/usage-reconciliation',
    operationId: 'meterline.usageReconciliation',
    summary: 'Usage sent against what the billing engine counted and invoiced, per subscription and period',
    scopes: RECONCILE_SCOPES,
    query,
    responses: { 200: 'Meterline.UsageReconciliation' },
    async handle({ principal, query: { period } }) {
      if (principal.tenant.domain !== SUPER_TENANT.domain) {
        throw new GatewayError('FORBIDDEN', 'Usage reconciliation covers every tenant; only the super tenant (carbon.super) can run it');
      }
      let selector;
      try {
        selector = parsePeriod(period);
      } catch (error) {
        if (error instanceof PeriodFormatError) throw GatewayError.invalid('period', error.message);
        throw error;
      }
      try {
        return { status: 200, body: await reconcile(selector) };
      } catch (error) {
        if (error instanceof UsageReconcileUnsupportedError) throw new GatewayError('CONFLICT', error.message);
        throw error;
      }
    },
  });
  return [route] as AnyRoute[];
}
