import type { IncomingMessage, ServerResponse } from 'node:http';
import Stripe from 'stripe';
import { newId } from './core/ids';
import type { FaultInjector } from './faults/faults';
import type { RateLimiter } from './faults/rate-limit';
import { secretKeyFrom } from './http/auth';
import { STREAM_PATH, streamAccount } from './resources/meter-event-stream';
import {
  StripeApiError,
  accountInaccessible,
  idempotencyMismatch,
  injectedApiError,
  rateLimited,
  unrecognizedUrl,
} from './http/errors';
import { decodeForm, FormDecodeError, type FormObject } from './http/form';
import type { Method, RequestContext } from './http/route';
import type { Router } from './http/router';
import type { LoggedRequest, RequestLog } from './request-log';
import type { AccountState } from './state/account-state';
import type { World } from './state/world';

export interface PipelineDeps {
  world: World;
  router: Router;
  faults: FaultInjector;
  rateLimiter: RateLimiter;
  log: RequestLog;
}

interface Outcome {
  status: number;
  body: string;
  replayed?: boolean;
  /** Saved under the request's idempotency key (so a repeat with that key replays it). */
  stored?: boolean;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function errorOutcome(error: StripeApiError, requestId: string): Outcome {
  const body = { error: { ...error.body, request_log_url: `https://dashboard.stripe.com/test/logs/${requestId}` } };
  return { status: error.status, body: JSON.stringify(body, null, 2) };
}

/**
 * Idempotent results are kept once the endpoint began executing, whatever they were: successes,
 * card declines, 400s the endpoint raised, and 500s ("Subsequent requests with the same key
 * return the same result, including 500 errors", https://docs.stripe.com/api/idempotent_requests,
 * https://docs.stripe.com/error-low-level#idempotency). Not kept: validation failures before the
 * endpoint ran (parameter errors) and conflicts, which a repeat may get past.
 */
function worthKeeping(outcome: Outcome, error: StripeApiError | undefined): boolean {
  if (!error) return outcome.status < 400;
  if (error.status === 402 || error.status >= 500) return true;
  return error.status === 400 && !(error.body.code ?? '').startsWith('parameter') && error.body.type !== 'idempotency_error';
}

/**
 * `Stripe-Should-Retry` on a 5xx. Stripe's documents do not say what it carries on a saved 500;
 * stripe-node (RequestSender._shouldRetry) expects it to be `false` "in most cases when a 500 is
 * returned, since our idempotency framework would typically replay it anyway". So: `false` when
 * the 500 is saved under the key (first answer and replays: re-sending the same key can only
 * replay it), `true` when nothing was saved (a repeat runs again).
 */
function shouldRetryHeader(outcome: Outcome): string | undefined {
  if (outcome.status < 500) return undefined;
  return outcome.stored || outcome.replayed ? 'false' : 'true';
}

/**
 * Endpoints in the /v2 namespace take JSON request bodies, /v1 ones form encoding
 * (https://docs.stripe.com/api-v2-overview; stripe-node sends v2 bodies as application/json).
 * Query strings stay form-encoded either way.
 */
function decodeJsonBody(rawBody: string): FormObject {
  if (rawBody.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody);
  } catch {
    throw new StripeApiError(400, { type: 'invalid_request_error', message: 'Invalid JSON in the request body.' });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new StripeApiError(400, { type: 'invalid_request_error', message: 'The request body must be a JSON object.' });
  // Handlers validate with their own schemas (JSON values are not only strings, as form values are).
  return parsed as FormObject;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One Stripe API request, in Stripe's order: authenticate, select the account,
 * route, inject faults, rate-limit, replay or reject idempotent repeats (keys are
 * forgotten 24 h after first use, on the server's clock), validate and run the
 * endpoint, remember the idempotent result (5xx included), log.
 */
export async function handleApiRequest(req: IncomingMessage, res: ServerResponse, rawBody: string, deps: PipelineDeps): Promise<void> {
  const { world, router } = deps;
  const requestId = newId('req', 14);
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = (req.method ?? 'GET').toUpperCase();
  const path = url.pathname;
  const idempotencyKey = method === 'POST' ? (header(req, 'Idempotency-Key') ?? null) : null;
  // `Stripe-Context` supersedes `Stripe-Account` (https://docs.stripe.com/context); a connected
  // account directly under the key's platform is named the same way in both.
  const stripeAccountHeader = header(req, 'Stripe-Context') ?? header(req, 'Stripe-Account') ?? null;
  const entry: LoggedRequest = {
    requestId,
    method,
    path,
    route: null,
    account: null,
    stripeAccountHeader,
    idempotencyKey,
    params: {},
    status: null,
    replayed: false,
    timestamp: Date.now(),
    clockTime: world.clock.now(),
  };

  let leaveMeterEvent: (() => void) | null | undefined;
  const send = (outcome: Outcome) => {
    leaveMeterEvent?.();
    entry.status = outcome.status;
    entry.replayed = outcome.replayed ?? false;
    deps.log.add(entry);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'Request-Id': requestId,
      'Stripe-Version': header(req, 'Stripe-Version') ?? Stripe.API_VERSION,
    };
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    if (outcome.replayed) headers['Idempotent-Replayed'] = 'true';
    const shouldRetry = shouldRetryHeader(outcome);
    if (shouldRetry) headers['Stripe-Should-Retry'] = shouldRetry;
    res.writeHead(outcome.status, headers);
    res.end(outcome.body);
  };

  let params: FormObject;
  let platform: AccountState;
  let account: AccountState;
  try {
    params = method === 'POST' && path.startsWith('/v2/') ? decodeJsonBody(rawBody) : decodeForm(method === 'POST' ? rawBody : url.search.slice(1));
    entry.params = params;
    if (method === 'POST' && path === STREAM_PATH) {
      // The meter event stream authenticates with a meter event session's token, bound to the session's account.
      ({ account, platform } = streamAccount(world, header(req, 'Authorization')));
    } else {
      const key = secretKeyFrom(header(req, 'Authorization'));
      platform = world.registry.platformForKey(key);
      const selected = stripeAccountHeader ? world.registry.resolve(platform, stripeAccountHeader) : platform;
      if (!selected) throw accountInaccessible(key, stripeAccountHeader ?? '');
      account = selected;
    }
    entry.account = account.id;
  } catch (error) {
    if (error instanceof FormDecodeError) {
      return send(errorOutcome(new StripeApiError(400, { type: 'invalid_request_error', message: error.message }), requestId));
    }
    if (error instanceof StripeApiError) return send(errorOutcome(error, requestId));
    throw error;
  }

  const match = method === 'GET' || method === 'POST' || method === 'DELETE' ? router.match(method as Method, path) : undefined;
  if (!match) return send(errorOutcome(unrecognizedUrl(method, path), requestId));
  entry.route = match.route.pattern;

  const facts = { method, path, account: account.id };
  // One concurrent meter event call per customer and meter, in flight until answered (faults/rate-limit.ts).
  leaveMeterEvent = deps.rateLimiter.meterEvents.enter(`${method} ${match.route.pattern}`, account.id, params);
  if (leaveMeterEvent === null) return send(errorOutcome(rateLimited(), requestId));
  res.once('close', () => leaveMeterEvent?.());
  const savedResult = () => (idempotencyKey ? account.idempotentResult(idempotencyKey, world.clock.now()) : undefined);
  const fault = deps.faults.decide(facts, savedResult() !== undefined);
  if (fault?.kind === 'drop') {
    deps.log.add(entry);
    req.socket.destroy();
    return;
  }
  if (fault?.kind === 'delay') await sleep(fault.delayMs);
  if (fault?.kind === 'hold') await fault.released;
  // From here on the request is handled; a lost response hides the answer, not the effect.
  const deliver = (outcome: Outcome): void => {
    if (fault?.kind !== 'lose_response') return send(outcome);
    deps.log.add(entry);
    req.socket.destroy();
  };
  // A 5xx before the endpoint began (like the rate limiter, ahead of the idempotency layer): not saved.
  if (fault?.kind === 'error' && !fault.stored) return send(errorOutcome(injectedApiError(), requestId));
  if (!deps.rateLimiter.admit(facts, `${method} ${match.route.pattern}`)) return deliver(errorOutcome(rateLimited(), requestId));

  const fingerprint = `${method} ${path} ${JSON.stringify(params)}`;
  const previous = savedResult();
  if (idempotencyKey && previous) {
    if (previous.fingerprint !== fingerprint) return deliver(errorOutcome(idempotencyMismatch(idempotencyKey), requestId));
    return deliver({ status: previous.status, body: previous.body, replayed: true });
  }

  const ctx: RequestContext = {
    method: method as Method,
    path,
    pathParams: match.pathParams,
    params,
    account,
    platform,
    world,
    requestId,
    idempotencyKey,
    ...(header(req, 'Stripe-Version') ? { apiVersion: header(req, 'Stripe-Version')! } : {}),
  };
  let outcome: Outcome;
  let failure: StripeApiError | undefined;
  try {
    // A stored `error` fault: the endpoint began and failed (with no effect), as a Stripe 500.
    if (fault?.kind === 'error') throw injectedApiError();
    const body = world.events.within({ id: requestId, idempotency_key: idempotencyKey }, () => match.route.handle(ctx));
    outcome = { status: 200, body: JSON.stringify(body, null, 2) };
  } catch (error) {
    if (!(error instanceof StripeApiError)) {
      process.stderr.write(`stripe-server: internal error on ${method} ${path}: ${error instanceof Error ? error.stack : String(error)}\n`);
      failure = new StripeApiError(500, { type: 'api_error', message: `Internal error in the Stripe test server: ${String(error)}` });
    } else {
      failure = error;
    }
    outcome = errorOutcome(failure, requestId);
  }
  if (idempotencyKey && worthKeeping(outcome, failure)) {
    account.idempotency.set(idempotencyKey, { fingerprint, status: outcome.status, body: outcome.body, createdAt: world.clock.now() });
    outcome.stored = true;
  }
  deliver(outcome);
}
