import express, { type Request, type Response, type Router } from 'express';
import { WebhookRejectedError, type BillingEvent, type WebhookVerifier } from '../../monetization/billing-events';
import type { BillingRecords } from '../../billing/billing-records.service';
import type { Logger } from '../../logger';
import { MonetizationError, type Monetization, type TenantDirectory } from '../../monetization/monetization';
import type { UsageService } from '../../usage/usage-service';
import { wso2ErrorBody } from '../wso2-error-body';

export const WEBHOOK_PATH = '/api/am/monetization/webhooks/:engine/:tenantDomain';

/**
 * `POST /api/am/monetization/webhooks/{engine}/{tenantDomain}` (e.g. `/webhooks/stripe/carbon.super`):
 * the billing engine's signed events for one tenant. The body is read raw and its signature (in
 * the headers and checked with the tenant secret the engine's `webhooks` capability names)
 * verified by the engine before anything in it is read; a bad signature, a stale
 * timestamp, an unknown tenant or a signed body that is not a well-formed event (naming the bad
 * field) is a 400 and changes nothing. An accepted delivery answers 200 with its `outcome`;
 * an event Meterline ignores or does not know (another tenant's or account's object, metadata
 * naming a subscription it does not bill) also answers 200, with the `reason`, so the engine
 * stops retrying it, and changes nothing. A report of usage the engine accepted and then could
 * not bill (the engine's `usageErrors`) marks those usage records ENGINE_ERROR, which the
 * publish status lists. An engine that confirms events with its payment system (`confirm`) does so
 * before anything is applied; when it cannot, the answer is 502 and the engine delivers again.
 */
export function billingWebhookRouter(deps: {
  engine: Monetization;
  tenants: TenantDirectory;
  records: BillingRecords;
  logger: Logger;
  /** For the billing state (grace periods). */
  clock: () => Date;
  /**
   * The time the engine signs its deliveries by, for their freshness: the wall clock (default),
   * never the billing clock tests may move; a test that signs on its own clock passes that clock.
   */
  signatureClock?: () => Date;
  /** Where the engine's usage error reports go; without it they are acknowledged and ignored. */
  usage?: Pick<UsageService, 'recordEngineErrors'>;
}): Router {
  const router = express.Router();
  const verifier = deps.engine.webhooks;
  const signatureClock = deps.signatureClock ?? (() => new Date());
  const scheme = deps.engine.capabilities.webhooks;
  if (!verifier || !scheme) return router;
  router.post(WEBHOOK_PATH, express.raw({ type: () => true, limit: '1mb' }), async (req: Request, res: Response) => {
    const { engine, tenantDomain } = req.params as { engine: string; tenantDomain: string };
    if (engine !== deps.engine.name) return reject(res, 404, `No billing engine named ${engine} runs here`);
    const tenant = deps.tenants.find(tenantDomain);
    if (!tenant) return reject(res, 400, `Unknown tenant ${tenantDomain}`);
    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const signature = scheme.signatureHeaders.map((header) => req.get(header)).find((value) => value !== undefined);
    let event;
    try {
      event = verifyWithAny(verifier, [scheme.secret, ...(scheme.otherSecrets ?? [])].map((key) => tenant.secrets[key]), { rawBody, signature, now: signatureClock(), header: (name) => req.get(name) });
    } catch (error) {
      if (error instanceof WebhookRejectedError) {
        deps.logger.warn({ tenant: tenantDomain, reason: error.reason }, 'billing webhook refused');
        return reject(res, 400, error.message);
      }
      throw error;
    }
    const report = verifier.usageErrors && deps.usage ? await verifier.usageErrors(event, tenantDomain) : null;
    if (report && deps.usage) {
      const { recorded, duplicates, unknown } = await deps.usage.recordEngineErrors(report);
      if (unknown.length > 0) deps.logger.warn({ tenant: tenantDomain, event: report.id, unknown }, 'the billing engine reported errors for usage Meterline did not send');
      const unnamed = report.unnamed ?? 0;
      if (unnamed > 0) deps.logger.warn({ tenant: tenantDomain, event: report.id, unnamed }, 'the billing engine counted usage errors it did not name; reconcile usage to find their records');
      const reasons = [
        ...(unknown.length > 0 ? [`no usage record was sent as ${unknown.join(', ')}`] : []),
        ...(unnamed > 0 ? [`${unnamed} more error${unnamed === 1 ? ' was' : 's were'} counted without naming the usage`] : []),
      ];
      const reason = reasons.length > 0 ? reasons.join('; ') : undefined;
      // A report delivered again (or naming only errors noted before) changes nothing: a duplicate.
      const outcome = recorded > 0 ? 'applied' : duplicates > 0 ? 'duplicate' : 'unknown_object';
      res.status(200).json({ received: true, outcome, ...(reason ? { reason } : {}) });
      return;
    }
    if (verifier.confirm) {
      try {
        event = await verifier.confirm(event, tenantDomain);
      } catch (error) {
        if (!(error instanceof MonetizationError)) throw error;
        // Not confirmed now (the payment system unreachable or refusing): a 5xx, so it delivers again.
        deps.logger.warn({ tenant: tenantDomain, event: event.id, code: error.code }, 'billing webhook not confirmed with the billing engine');
        res.status(502).json(wso2ErrorBody(502, 'Bad Gateway', `The billing engine could not confirm the event: ${error.message}`));
        return;
      }
    }
    const { outcome, reason } = await deps.records.apply(tenantDomain, event, deps.clock(), (uuid) => deps.engine.billedSubscriptionOf(uuid));
    res.status(200).json({ received: true, outcome, ...(reason === null ? {} : { reason }) });
  });
  return router;
}

/**
 * Verifies with the first of the tenant's secrets that the engine's signature matches; a tenant
 * with none of them is refused as the verifier refuses a missing secret.
 */
function verifyWithAny(verifier: WebhookVerifier, secrets: ReadonlyArray<string | undefined>, input: { rawBody: Buffer; signature: string | undefined; now: Date; header?: (name: string) => string | undefined }): BillingEvent {
  const present = secrets.filter((secret): secret is string => typeof secret === 'string' && secret.length > 0);
  if (present.length === 0) return verifier.verify({ ...input, secret: undefined });
  for (const [index, secret] of present.entries()) {
    try {
      return verifier.verify({ ...input, secret });
    } catch (error) {
      const last = index === present.length - 1;
      if (last || !(error instanceof WebhookRejectedError) || error.reason !== 'bad_signature') throw error;
    }
  }
  throw new Error('unreachable');
}

function reject(res: Response, status: number, description: string): void {
  res.status(status).json(wso2ErrorBody(status, status === 404 ? 'Not Found' : 'Bad Request', description));
}
