import { z } from 'zod';
import { GatewayError } from '../../../apim/errors';
import type { EngineDelivery, EngineDeliveryLog } from '../../../monetization/monetization';
import { defineRoute, type AnyRoute } from '../../route';

/** Tenant admins: the billing engine's deliveries are the tenant's billing, as its policies are. */
const SCOPES = ['apim:admin'] as const;
const STATUSES = ['PENDING', 'DELIVERED', 'FAILED', 'DEAD'] as const;

const listQuery = z.strictObject({
  status: z.enum(STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(25),
  offset: z.coerce.number().int().min(0).default(0),
});

const deliveryParams = z.strictObject({ deliveryId: z.string().min(1).max(64) });

/** A delivery as the admin routes show it (times ISO-8601 UTC; never a body or a secret). */
function toDeliveryDto(delivery: EngineDelivery) {
  return {
    id: delivery.id,
    operation: delivery.operation,
    messageId: delivery.messageId,
    mode: delivery.mode,
    status: delivery.status,
    attempts: delivery.attempts,
    nextAttemptTime: delivery.nextAttemptAt?.toISOString() ?? null,
    lastError: delivery.lastError,
    createdTime: delivery.createdAt.toISOString(),
    deliveredTime: delivery.deliveredAt?.toISOString() ?? null,
  };
}

function logOf(log: EngineDeliveryLog | undefined): EngineDeliveryLog {
  if (!log) throw new GatewayError('NOT_FOUND', 'The billing engine keeps no delivery log');
  return log;
}

/**
 * The billing engine's delivery log (`Monetization.deliveries`, e.g. the HTTP integration engine's
 * requests and its dead letters), Meterline's own routes, not in WSO2's admin API, for the
 * caller's tenant only:
 * - `GET /api/am/admin/v4/monetization/deliveries?status=&limit=&offset=`: newest first, with the total;
 * - `POST /api/am/admin/v4/monetization/deliveries/{deliveryId}/replay`: sends it again now and
 *   answers it after that attempt; 404 for another tenant's or an unknown one, 409 for one that
 *   cannot be replayed (the reason in the description).
 * Both answer 404 when the engine keeps no delivery log.
 */
export function engineDeliveryRoutes(log: EngineDeliveryLog | undefined): AnyRoute[] {
  const list = defineRoute({
    api: 'admin',
    method: 'get',
    path: '/monetization/deliveries',
    operationId: 'meterline.listEngineDeliveries',
    summary: "List the billing engine's deliveries (requests to the billing integration, dead letters included)",
    scopes: SCOPES,
    query: listQuery,
    responses: { 200: 'Meterline.EngineDeliveryList' },
    async handle({ principal, query }) {
      const found = await logOf(log).list(principal.tenant.domain, { ...(query.status ? { status: query.status } : {}), limit: query.limit, offset: query.offset });
      return { status: 200, body: { count: found.list.length, total: found.total, list: found.list.map(toDeliveryDto) } };
    },
  });
  const replay = defineRoute({
    api: 'admin',
    method: 'post',
    path: '/monetization/deliveries/{deliveryId}/replay',
    operationId: 'meterline.replayEngineDelivery',
    summary: "Send one of the billing engine's deliveries again now (a dead letter, or a failed one)",
    scopes: SCOPES,
    params: deliveryParams,
    responses: { 200: 'Meterline.EngineDelivery' },
    async handle({ principal, params }) {
      const result = await logOf(log).replay(principal.tenant.domain, params.deliveryId);
      if (result.outcome === 'notFound') throw new GatewayError('NOT_FOUND', `No delivery ${params.deliveryId} in this tenant`);
      if (result.outcome === 'conflict') throw new GatewayError('CONFLICT', result.message);
      return { status: 200, body: toDeliveryDto(result.delivery) };
    },
  });
  return [list, replay] as AnyRoute[];
}
