import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { wso2ErrorBody } from '../http/wso2-error-body';
import type { AccessDecision } from '../billing/access-policy';

/** Answers whether a subscription may call now; undefined for a subscription Meterline does not know. */
export interface AccessChecker {
  check(subscriptionId: string): Promise<(AccessDecision & { subscriptionId: string }) | undefined>;
}

export interface AccessGuardOptions {
  checker: AccessChecker;
  /** The subscription a request is made under (from the gateway's own key validation); undefined lets it through unchecked. */
  identify(req: Request): string | undefined;
  /** How long an answer is reused, so the request path rarely waits (default 5 s; 0 asks every time). */
  cacheMs?: number;
  /** When the checker itself fails: refuse (default, 503) or let the call through. */
  onCheckerFailure?: 'refuse' | 'allow';
  clock?: () => number;
}

/**
 * Express middleware for a Node.js gateway: refuses with 403 and the reason (`ON_HOLD` until
 * the first invoice is paid, `BLOCKED` after a failed payment's grace period) the calls of a
 * subscription that may not call. Mount it before the usage recorder and the API's routes.
 */
export function accessGuard(options: AccessGuardOptions): RequestHandler {
  const cacheMs = options.cacheMs ?? 5_000;
  const now = options.clock ?? Date.now;
  const cache = new Map<string, { until: number; answer: Awaited<ReturnType<AccessChecker['check']>> }>();
  return async (req: Request, res: Response, next: NextFunction) => {
    const subscriptionId = options.identify(req);
    if (subscriptionId === undefined) return next();
    let answer: Awaited<ReturnType<AccessChecker['check']>>;
    const cached = cache.get(subscriptionId);
    if (cached && cached.until > now()) {
      answer = cached.answer;
    } else {
      try {
        answer = await options.checker.check(subscriptionId);
      } catch {
        if (options.onCheckerFailure === 'allow') return next();
        return void res.status(503).json(wso2ErrorBody(503, 'Service Unavailable', 'the subscription could not be checked; try again'));
      }
      if (cacheMs > 0) cache.set(subscriptionId, { until: now() + cacheMs, answer });
    }
    if (!answer) return void res.status(403).json(wso2ErrorBody(403, 'Forbidden', `subscription ${subscriptionId} is not known`));
    if (!answer.allowed) {
      return void res.status(403).json({ ...wso2ErrorBody(403, 'Forbidden', answer.reason ?? `the subscription is ${answer.status}`), subscriptionStatus: answer.status });
    }
    next();
  };
}

/** Asks a Meterline server over HTTP (`GET /api/am/usage/v1/subscriptions/{id}/access`). */
export function remoteAccessChecker(baseUrl: string, bearerToken: () => string): AccessChecker {
  return {
    async check(subscriptionId) {
      const response = await fetch(`${baseUrl}/api/am/usage/v1/subscriptions/${encodeURIComponent(subscriptionId)}/access`, {
        headers: { authorization: `Bearer ${bearerToken()}` },
      });
      if (response.status === 404) return undefined;
      if (!response.ok) throw new Error(`access check answered ${response.status}`);
      return (await response.json()) as AccessDecision & { subscriptionId: string };
    },
  };
}

/** Asks the in-process access service (a gateway embedded in the same process as Meterline). */
export function localAccessChecker(access: { check(id: string, now: Date): Promise<(AccessDecision & { subscriptionId: string }) | undefined> }, clock: () => Date = () => new Date()): AccessChecker {
  return { check: (subscriptionId) => access.check(subscriptionId, clock()) };
}
