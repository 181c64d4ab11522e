import express, { type Request, type Response, type Router } from 'express';
import { GatewayError } from '../../apim/errors';
import type { Apim } from '../../apim/apim';
import { MonetizationError, type PendingInvoice } from '../../monetization/monetization';
import type { Principal, TokenVerifier } from '../auth/tokens';
import { mapError } from '../errors';
import { PAGE_HEADERS } from './html';
import { renderInvoicePage, renderMessagePage, renderSignInPage, type IssuedInvoiceDetail } from './invoice-view';

/**
 * The lines of a subscription's invoices Meterline issued itself, by the engine's invoice id
 * (composed from the invoicing part: pages do not import it). Absent for engines that make their
 * own invoices.
 */
export type IssuedInvoiceLinesReader = (subscriptionUuid: string) => Promise<ReadonlyMap<string, IssuedInvoiceDetail>>;

/** The portal session cookie: the bearer token itself, out of reach of scripts and other sites. */
export const SESSION_COOKIE = 'meterline_devportal';
const PORTAL_SCOPES = ['apim:subscribe', 'apim:sub_manage'];
const SUBSCRIPTION_ID = /^[A-Za-z0-9-]{1,256}$/;

/**
 * The developer portal's invoice page, server-rendered:
 *   GET  /devportal/login                      the sign-in form (paste an access token)
 *   POST /devportal/login                      verifies the token, keeps it in an HttpOnly,
 *                                              SameSite=Strict cookie scoped to /devportal
 *                                              (Secure on HTTPS), expiring with the token
 *   GET  /devportal/subscriptions/{id}/invoice the pending invoice of one of the user's subscriptions
 *                                              and its issued ones
 *   POST /devportal/logout                     forgets the cookie
 * The token is verified on every request exactly as the REST API does; pages carry no scripts.
 * POSTs from another origin are refused (no login CSRF). With `issuedInvoiceLines`, each issued
 * invoice Meterline made itself shows its kind and lines.
 */
export function devportalPages(deps: { verifier: TokenVerifier | undefined; apim: Apim; issuedInvoiceLines?: IssuedInvoiceLinesReader }): Router {
  const router = express.Router();
  router.use('/devportal', express.urlencoded({ extended: false, limit: '16kb' }));

  router.get('/devportal/login', (req, res) => {
    send(res, 200, renderSignInPage(safeNext(req.query.next)));
  });

  router.post('/devportal/login', (req, res) => {
    if (!sameOrigin(req)) return send(res, 403, renderMessagePage('Forbidden', 'Sign-in requests must come from this site.'));
    const next = safeNext(req.body?.next);
    const token = typeof req.body?.token === 'string' ? req.body.token.trim() : '';
    const principal = verify(deps.verifier, token);
    if (!principal.ok) return send(res, 401, renderSignInPage(next, principal.reason));
    const seconds = Math.max(1, principal.expiresAt - Math.floor(Date.now() / 1000));
    res.cookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/devportal', maxAge: seconds * 1000 });
    res.redirect(303, next);
  });

  router.post('/devportal/logout', (req, res) => {
    if (!sameOrigin(req)) return send(res, 403, renderMessagePage('Forbidden', 'Sign-out requests must come from this site.'));
    res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: req.secure, path: '/devportal' });
    res.redirect(303, '/devportal/login');
  });

  router.get('/devportal/subscriptions/:subscriptionId/invoice', async (req: Request, res: Response) => {
    const subscriptionId = String(req.params.subscriptionId);
    if (!SUBSCRIPTION_ID.test(subscriptionId)) return send(res, 404, renderMessagePage('Not found', 'There is no such subscription.'));
    const principal = verify(deps.verifier, readCookie(req, SESSION_COOKIE) ?? '');
    if (!principal.ok) {
      res.set('Cache-Control', 'no-store');
      return res.redirect(303, `/devportal/login?next=${encodeURIComponent(req.originalUrl)}`);
    }
    try {
      const subscription = await deps.apim.subscriptions.getOwn(principal.principal, subscriptionId);
      const invoice = await pendingOrNone(deps.apim.subscriptions.pendingInvoiceOwn(principal.principal, subscriptionId));
      const history = await deps.apim.subscriptions.invoicesOwn(principal.principal, subscriptionId);
      // Read after getOwn: only the signed-in user's subscription, by its UUID.
      const lines = deps.issuedInvoiceLines ? await deps.issuedInvoiceLines(subscription.uuid) : undefined;
      send(res, 200, renderInvoicePage(subscription, invoice, history, lines));
    } catch (error) {
      if (error instanceof MonetizationError && error.code === 'NOT_MONETIZED') {
        return send(res, 404, renderMessagePage('No invoice', 'This subscription is not billed, so it has no invoice.'));
      }
      const mapped = mapError(error);
      if (!mapped) throw error;
      const title = mapped.status === 404 ? 'Not found' : mapped.body.message;
      send(res, mapped.status, renderMessagePage(title, mapped.status === 404 ? 'There is no such subscription.' : mapped.body.description));
    }
  });
  return router;
}

/**
 * The engine's pending invoice, or null when the engine keeps none (NOT_FOUND: an engine whose
 * invoices Meterline issues, MyFatoorah): the page then shows the issued invoices alone.
 */
async function pendingOrNone(pending: Promise<PendingInvoice>): Promise<PendingInvoice | null> {
  try {
    return await pending;
  } catch (error) {
    if (error instanceof MonetizationError && error.code === 'NOT_FOUND') return null;
    throw error;
  }
}

type Verified = { ok: true; principal: Principal; expiresAt: number } | { ok: false; reason: string };

function verify(verifier: TokenVerifier | undefined, token: string): Verified {
  if (!verifier) return { ok: false, reason: 'Sign-in is not configured on this server ([auth.jwt]).' };
  if (token === '') return { ok: false, reason: 'Paste an access token to sign in.' };
  try {
    const principal = verifier.verify(token);
    if (!PORTAL_SCOPES.some((scope) => principal.scopes.has(scope))) {
      return { ok: false, reason: `The token needs one of the scopes ${PORTAL_SCOPES.join(', ')}.` };
    }
    const exp = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).exp as number;
    return { ok: true, principal, expiresAt: exp };
  } catch (error) {
    if (error instanceof GatewayError) return { ok: false, reason: error.message };
    throw error;
  }
}

function send(res: Response, status: number, html: string): void {
  res.status(status).set(PAGE_HEADERS).send(html);
}

/** Only paths inside the portal: never an open redirect. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && /^\/devportal\/[A-Za-z0-9/_-]*$/.test(value) ? value : '/devportal/login';
}

/**
 * Browsers say where a request comes from in Sec-Fetch-Site (Origin is "null" here, because the
 * pages send no referrer). Non-browser clients send neither and are not a CSRF vector.
 */
function sameOrigin(req: Request): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = req.get('origin');
  // req.protocol and req.host follow X-Forwarded-Proto/-Host only from a trusted proxy ([server] trust_proxy).
  return origin === undefined || origin === `${req.protocol}://${req.host}`;
}

/** The cookie's value; one that is not valid percent-encoding is no session (never an error). */
function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key !== name) continue;
    try {
      return decodeURIComponent(rest.join('='));
    } catch {
      return undefined;
    }
  }
  return undefined;
}
