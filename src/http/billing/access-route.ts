import express, { type Request, type Response, type Router } from 'express';
import type { AccessService } from '../../billing/access.service';
import { GatewayError } from '../../apim/errors';
import { fieldProblems } from '../../validation/issues';
import { authenticateBearer, requireAnyScope } from '../auth/bearer';
import type { TokenVerifier } from '../auth/tokens';
import { invalidInput } from '../route';
import { resourceId } from '../routes/common';

export const ACCESS_PATH = '/api/am/usage/v1/subscriptions/:subscriptionId/access';
/** Gateways ask with the same token they push usage with. */
export const ACCESS_SCOPES = ['apim:usage_ingest'] as const;

/**
 * `GET /api/am/usage/v1/subscriptions/{subscriptionId}/access`: may this subscription call now?
 * Answers `{ subscriptionId, allowed, status: UNBLOCKED|ON_HOLD|BLOCKED, reason }` from local
 * state only (no billing-engine call), so a gateway can ask on every request. A subscription of
 * another tenant than the token's is not found.
 */
export function accessRouter(deps: { access: AccessService; verifier: TokenVerifier | undefined; clock: () => Date }): Router {
  const router = express.Router();
  router.get(ACCESS_PATH, async (req: Request, res: Response) => {
    const principal = authenticateBearer(req, deps.verifier);
    requireAnyScope(principal, ACCESS_SCOPES);
    const parsed = resourceId.safeParse((req.params as { subscriptionId: string }).subscriptionId);
    if (!parsed.success) throw invalidInput(fieldProblems(parsed.error.issues, { whole: 'subscriptionId' }));
    const subscriptionId = parsed.data;
    const answer = await deps.access.check(subscriptionId, deps.clock(), principal.tenant.domain);
    if (!answer) throw GatewayError.notFound(`Subscription ${subscriptionId}`);
    res.set('Cache-Control', 'no-store').json(answer);
  });
  return router;
}
