import express, { type Request, type Response, type Router } from 'express';
import { GatewayError } from '../../apim/errors';
import { authenticateBearer, requireAnyScope } from '../auth/bearer';
import type { TokenVerifier } from '../auth/tokens';
import { invalidInput } from '../route';
import { fieldName, fieldProblems } from '../../validation/issues';
import { usageBatchSchema, type BatchResult } from '../../usage/ingest';
import { prefersMinimalReturn } from '../prefer';
import type { UsageService } from '../../usage/usage-service';

export const USAGE_INGEST_PATH = '/api/am/usage/v1/events';
/** The scope a gateway's token needs to push usage. */
export const USAGE_INGEST_SCOPE = 'apim:usage_ingest';

/**
 * `POST /api/am/usage/v1/events` — gateways push request events in batches of up to 1,000
 * (`{ "events": [...] }`). Answers 200 with one result per event: `accepted` (with `billable`
 * and, when not billable, the reason), `duplicate` (the event id was stored before; nothing
 * changes) or `rejected` (with every problem, field by field); good events of a batch are stored
 * even when others are rejected. Events of another tenant than the token's are rejected.
 *
 * With `Prefer: return=minimal` (RFC 7240) `results` holds only the rejected events, each with
 * its `index` in the batch, and the answer says `Preference-Applied: return=minimal`: a gateway
 * that only needs to know what was refused neither waits for nor reads a result per event.
 *
 * Not a WSO2 operation, so it has its own base path and body limit (1 MB, about 3,000 events);
 * authentication, scope check and error bodies are the REST API's.
 */
export function usageIngestRouter(usage: UsageService, verifier: TokenVerifier | undefined): Router {
  const router = express.Router();
  router.post(USAGE_INGEST_PATH, express.json({ limit: '1mb' }), async (req: Request, res: Response) => {
    const principal = authenticateBearer(req, verifier);
    requireAnyScope(principal, [USAGE_INGEST_SCOPE]);
    if (!req.is('application/json')) throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'The request body must be application/json');
    const parsed = usageBatchSchema.safeParse(req.body);
    if (!parsed.success) throw invalidInput(fieldProblems(parsed.error.issues, { whole: 'body' }));
    const tenant = principal.tenant.domain;
    const events = parsed.data.events;
    const foreign = events.map((event) => {
      const claimed = (event as { tenant?: unknown } | null)?.tenant;
      return typeof claimed === 'string' && claimed !== tenant;
    });
    const minimal = prefersMinimalReturn(req);
    const answer = (result: BatchResult) => {
      res.set('Cache-Control', 'no-store');
      if (!minimal) return res.status(200).json(result);
      res.set('Preference-Applied', 'return=minimal');
      const rejected = result.rejected === 0 ? [] : result.results.filter((r) => r.status === 'rejected');
      return res.status(200).json({ accepted: result.accepted, duplicates: result.duplicates, rejected: result.rejected, results: rejected });
    };
    if (!foreign.includes(true)) {
      // The common batch (a gateway's own tenant only): the service's answer as it is, indexes
      // and fields already the batch's, with no second object per event.
      answer(await usage.ingestion.ingest(events));
      return;
    }
    const result = await usage.ingestion.ingest(events.filter((_, i) => !foreign[i]));
    // Put the foreign-tenant rejections back in their places.
    const results: typeof result.results = [];
    let next = 0;
    events.forEach((event, index) => {
      if (foreign[index]) {
        const eventId = (event as { eventId?: unknown }).eventId;
        results.push({
          index,
          eventId: typeof eventId === 'string' ? eventId : null,
          status: 'rejected',
          errors: [{ field: fieldName(['events', index, 'tenant'], 'body'), message: `is not the access token's tenant (${tenant})` }],
        });
      } else {
        const own = result.results[next]!;
        next += 1;
        results.push({ ...own, index, ...(own.status === 'rejected' ? { errors: own.errors.map((e) => ({ ...e, field: e.field.replace(/^events\[\d+\]/, `events[${index}]`) })) } : {}) });
      }
    });
    answer({ ...result, rejected: result.rejected + foreign.filter(Boolean).length, results });
  });
  return router;
}
