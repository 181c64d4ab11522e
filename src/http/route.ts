import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { OwnInvoicesAdmin } from './routes/extensions/own-invoices-port';
import type { SpendLimitsPort } from './routes/extensions/spend-limits-port';
import { z } from 'zod';
import { GatewayError } from '../apim/errors';
import type { Apim } from '../apim/apim';
import type { UsageService } from '../usage/usage-service';
import { fieldProblems, type FieldProblem } from '../validation/issues';
import { authenticateBearer, requireAnyScope } from './auth/bearer';
import type { Principal, TokenVerifier } from './auth/tokens';

/** The three REST APIs, under WSO2's base paths. */
export const API_BASE_PATHS = {
  admin: '/api/am/admin/v4',
  publisher: '/api/am/publisher/v4',
  devportal: '/api/am/devportal/v3',
} as const;
export type ApiName = keyof typeof API_BASE_PATHS;

export interface RouteContext<P, Q, B> {
  principal: Principal;
  params: P;
  query: Q;
  body: B;
  apim: Apim;
  /** Usage capture and publishing, when this process runs it (the usage errors the engine reported). */
  usage?: UsageService;
  /** Meterline's own invoices (the admin extension routes); absent: the routes answer as for an engine that invoices itself. */
  ownInvoices?: OwnInvoicesAdmin;
  /** Spend limits (src/spend), for the spend-limit extension routes; absent: they answer 404. */
  spendLimits?: SpendLimitsPort;
  /** The absolute path of this API's base, for Location headers. */
  basePath: string;
}

export interface RouteResult {
  status: number;
  /** JSON body; undefined sends an empty body. */
  body?: unknown;
  location?: string;
}

/**
 * One REST operation: where it lives, which scopes it accepts (any one of them, as WSO2's
 * OAuth2 security sections mean), how its input is validated, and what it does. Each endpoint
 * file exports one of these; `registerRoutes` wires them all the same way.
 */
export interface RouteDefinition<P = unknown, Q = unknown, B = unknown> {
  api: ApiName;
  method: 'get' | 'post' | 'put' | 'delete';
  /** WSO2's path template, e.g. `/apis/{apiId}/monetize`. */
  path: string;
  /** WSO2's operationId where the spec has one. */
  operationId: string;
  summary: string;
  /** The scopes of the operation's security section in WSO2's spec. */
  scopes: readonly string[];
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Response statuses this operation produces besides the error ones. */
  responses: Readonly<Record<number, string>>;
  handle(context: RouteContext<P, Q, B>): Promise<RouteResult>;
}

/** Erases the parameter types so definitions of different shapes fit in one list. */
export type AnyRoute = RouteDefinition<any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function defineRoute<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  definition: RouteDefinition<P, Q, B>,
): RouteDefinition<P, Q, B> {
  return definition;
}

export const EMPTY_QUERY = z.strictObject({});

export function expressPath(template: string): string {
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/**
 * Mounts the routes of one API on a router: bearer authentication, then the scope check, then
 * validation of path, query and body, then the handler. Every failure goes to the error handler.
 */
export function registerRoutes(routes: readonly AnyRoute[], deps: { verifier: TokenVerifier | undefined; apim: Apim; usage?: UsageService; ownInvoices?: OwnInvoicesAdmin; spendLimits?: SpendLimitsPort }): Router {
  const router = express.Router();
  for (const route of routes) {
    const basePath = API_BASE_PATHS[route.api];
    router[route.method](`${basePath}${expressPath(route.path)}`, async (req: Request, res: Response) => {
      const principal = authenticateBearer(req, deps.verifier);
      requireAnyScope(principal, route.scopes);
      const params = parse(route.params ?? z.object({}).loose(), req.params, 'path');
      const query = parse(route.query ?? EMPTY_QUERY, { ...(req.query as Record<string, unknown>) }, 'query');
      let body: unknown = undefined;
      if (route.body) {
        if (!req.is('application/json')) throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'The request body must be application/json');
        body = parse(route.body, req.body, 'body');
      }
      const result = await route.handle({ principal, params, query, body, apim: deps.apim, ...(deps.usage ? { usage: deps.usage } : {}), ...(deps.ownInvoices ? { ownInvoices: deps.ownInvoices } : {}), ...(deps.spendLimits ? { spendLimits: deps.spendLimits } : {}), basePath });
      if (result.location) res.location(`${basePath}${result.location}`);
      res.set('Cache-Control', 'no-store');
      if (result.body === undefined) res.status(result.status).end();
      else res.status(result.status).json(result.body);
    });
  }
  router.use((error: unknown, req: Request, _res: Response, next: NextFunction) => {
    const parameter = error instanceof URIError ? undecodableParameter(routes, req.path) : undefined;
    next(parameter ? GatewayError.invalid(parameter, 'is not valid percent-encoding') : error);
  });
  return router;
}

/**
 * The path parameter express's router could not percent-decode (`/apis/%E0%A4%A`): it fails while
 * matching, before any handler (so before authentication), with a URIError that does not say
 * which parameter. The router tries routes in registration order, whatever their method, and
 * stops at the first whose pattern matches and whose value there does not decode: the same
 * search here, on the raw path, names it.
 */
export function undecodableParameter(routes: readonly AnyRoute[], rawPath: string): string | undefined {
  for (const route of routes) {
    // `/apis/{apiId}/monetize` → ['/apis/', 'apiId', '/monetize']: odd places are parameter names.
    const parts = `${API_BASE_PATHS[route.api]}${route.path}`.split(/\{([A-Za-z0-9_]+)\}/);
    const names = parts.filter((_part, i) => i % 2 === 1);
    const pattern = parts.map((part, i) => (i % 2 === 1 ? '([^/]+)' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
    // Case-insensitive and with an optional trailing slash, as express matches by default.
    const match = new RegExp(`^${pattern}/?$`, 'i').exec(rawPath);
    const index = match ? match.slice(1).findIndex((value) => !decodes(value)) : -1;
    if (index >= 0) return names[index];
  }
  return undefined;
}

function decodes(value: string): boolean {
  try {
    decodeURIComponent(value);
    return true;
  } catch {
    return false;
  }
}

/** Validates one part of the request; every problem is reported, each naming its field. */
function parse<T>(schema: z.ZodType<T>, input: unknown, part: 'path' | 'query' | 'body'): T {
  const result = schema.safeParse(input ?? (part === 'body' ? undefined : {}));
  if (result.success) return result.data;
  throw invalidInput(fieldProblems(result.error.issues, { whole: part }));
}

/** The 400 for a request that failed validation: every problem in `error[]`, the first in the description. */
export function invalidInput(problems: readonly FieldProblem[]): GatewayError {
  const first = problems[0]!;
  return new GatewayError('INVALID_INPUT', `${first.field}: ${first.message}`, { field: first.field, problems: [...problems] });
}
