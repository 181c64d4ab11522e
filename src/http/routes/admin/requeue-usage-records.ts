import { z } from 'zod';
import { GatewayError } from '../../../apim/errors';
import { SUPER_TENANT } from '../../../config/schema';
import { defineRoute, type AnyRoute } from '../../route';
import { RequeueConflictError, RequeueNotFoundError, type UsageRequeuer } from '../../../usage/usage-requeue';

/** The publish-usage scopes: whoever may publish usage may publish it again. */
const REQUEUE_SCOPES = ['apim:admin', 'apim:monetization_usage_publish'] as const;

/** Exactly one of `recordId` and `subscriptionId`. */
const body = z
  .strictObject({
    recordId: z.number().int().positive().optional(),
    subscriptionId: z.string().min(1).max(255).optional(),
  })
  .refine((b) => (b.recordId === undefined) !== (b.subscriptionId === undefined), { message: 'give exactly one of recordId and subscriptionId', path: ['recordId'] });

/**
 * `POST /api/am/admin/v4/monetization/usage-records/requeue` (Meterline's own, not in WSO2's admin
 * API), body `{"recordId": 42}` or `{"subscriptionId": "…"}`: puts usage the engine reported it
 * could not bill (ENGINE_ERROR) back to be published once, under a new identifier (see
 * `usageRequeuer`, which refuses when the engine counted it after all). 200 with what was
 * re-queued; 400 naming the field; 404 for an unknown record or a subscription without such
 * records; 409 for a record that is not ENGINE_ERROR or whose usage the engine counted. Like the
 * publisher it covers every tenant, so only the super tenant's admins may ask.
 */
export function usageRequeueRoutes(requeue: UsageRequeuer): AnyRoute[] {
  const route = defineRoute({
    api: 'admin',
    method: 'post',
    path: '/monetization/usage-records/requeue',
    operationId: 'meterline.requeueUsageRecords',
    summary: 'Publish again, once, usage the billing engine reported it could not bill',
    scopes: REQUEUE_SCOPES,
    body,
    responses: { 200: 'Meterline.UsageRequeue' },
    async handle({ principal, body: { recordId, subscriptionId } }) {
      if (principal.tenant.domain !== SUPER_TENANT.domain) {
        throw new GatewayError('FORBIDDEN', 'Usage records cover every tenant; only the super tenant (carbon.super) can re-queue them');
      }
      try {
        const result = await requeue(recordId !== undefined ? { recordId } : { subscriptionUuid: subscriptionId! });
        return { status: 200, body: result };
      } catch (error) {
        if (error instanceof RequeueNotFoundError) throw new GatewayError('NOT_FOUND', error.message);
        if (error instanceof RequeueConflictError) throw new GatewayError('CONFLICT', error.message);
        throw error;
      }
    },
  });
  return [route] as AnyRoute[];
}
