import type { ErrorRequestHandler, Response } from 'express';
import { storedValueProblem, type StoredValueProblem } from '../db/errors';
import { GatewayError, type GatewayErrorCode } from '../apim/errors';
import type { Logger } from '../logger';
import { MonetizationError, type MonetizationErrorCode } from '../monetization/monetization';
import { wso2ErrorBody, type Wso2ErrorBody } from './wso2-error-body';

/**
 * Errors → HTTP, in one place. The body is WSO2's `Error` object (src/http/wso2-error-body.ts),
 * whose `code` is WSO2's error code where WSO2 has a specific one (e.g. 904300 for a monetization
 * request on an API that is not PUBLISHED) and the HTTP status otherwise. Responses and logs never carry stack traces,
 * tokens or keys; an unexpected error is answered with a bare 500.
 */
interface ErrorMapping {
  status: number;
  /** WSO2's numeric error code (the `code` field). */
  code: number;
  /** WSO2's short title (the `message` field). */
  title: string;
}

const GATEWAY_ERRORS: Record<GatewayErrorCode, ErrorMapping> = {
  INVALID_INPUT: { status: 400, code: 400, title: 'Bad Request' },
  PARAMETER_NOT_PROVIDED: { status: 400, code: 900700, title: 'Parameter value missing' },
  INVALID_API_STATE_MONETIZATION: { status: 400, code: 904300, title: 'Invalid API state' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, code: 415, title: 'Unsupported Media Type' },
  UNAUTHENTICATED: { status: 401, code: 900901, title: 'Invalid Credentials' },
  FORBIDDEN: { status: 403, code: 900910, title: 'Forbidden' },
  NOT_FOUND: { status: 404, code: 404, title: 'Not Found' },
  CONFLICT: { status: 409, code: 409, title: 'Conflict' },
};

const MONETIZATION_ERRORS: Record<MonetizationErrorCode, ErrorMapping> = {
  BILLING_NOT_CONFIGURED: { status: 400, code: 400, title: 'Billing is not configured' },
  INVALID_MONETIZATION_PROPERTIES: { status: 400, code: 400, title: 'Invalid monetization properties' },
  INVALID_POLICY_PRICING: { status: 400, code: 400, title: 'Invalid policy pricing' },
  // WSO2 answers a usage or revenue request for something that is not billed with 404.
  NOT_MONETIZED: { status: 404, code: 404, title: 'Not monetized' },
  NOT_FOUND: { status: 404, code: 404, title: 'Not Found' },
  CONFLICT: { status: 409, code: 409, title: 'Conflict' },
  ENGINE_REJECTED: { status: 502, code: 502, title: 'Billing engine rejected the request' },
  ENGINE_AUTHENTICATION_FAILED: { status: 502, code: 502, title: 'Billing engine refused the credentials' },
  ENGINE_UNAVAILABLE: { status: 503, code: 503, title: 'Billing engine unavailable' },
  USAGE_NOT_YET_COUNTED: { status: 503, code: 503, title: 'Usage still being counted' },
};

/** Retry-After of a retryable engine error whose engine names no time. */
const DEFAULT_RETRY_AFTER_SECONDS = 30;

const STORED_VALUE_PROBLEMS: Record<StoredValueProblem, string> = {
  VALUE_TOO_LONG: 'A value in the request (or the caller\'s user name) is longer than Meterline can store',
  UNSTORABLE_CHARACTER: 'A value in the request (or the caller\'s user name) contains a character Meterline cannot store',
};

export type { Wso2ErrorBody };

export interface MappedError {
  status: number;
  body: Wso2ErrorBody;
  headers: Record<string, string>;
}

export function mapError(error: unknown): MappedError | undefined {
  if (error instanceof GatewayError) {
    const mapping = GATEWAY_ERRORS[error.code];
    const problems = error.context.problems ?? (error.context.field ? [{ field: error.context.field, message: error.message }] : []);
    const headers: Record<string, string> =
      error.code === 'UNAUTHENTICATED' ? { 'WWW-Authenticate': 'Bearer realm="meterline", error="invalid_token"' } : {};
    if (error.code === 'FORBIDDEN') headers['WWW-Authenticate'] = 'Bearer realm="meterline", error="insufficient_scope"';
    return {
      status: mapping.status,
      headers,
      body: body(mapping, error.message, problems.map((p) => ({ code: p.field, message: p.message }))),
    };
  }
  if (error instanceof MonetizationError) {
    const mapping = MONETIZATION_ERRORS[error.code];
    const retryAfter = Math.max(1, Math.ceil(error.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS));
    const headers: Record<string, string> = error.retryable ? { 'Retry-After': String(retryAfter) } : {};
    const field = typeof error.context.field === 'string' ? error.context.field : undefined;
    return { status: mapping.status, headers, body: body(mapping, error.message, field ? [{ code: field, message: error.message }] : []) };
  }
  // express's router could not percent-decode a path parameter while matching routes (before
  // any handler ran, so with or without a token). The REST routes name the parameter
  // (src/http/route.ts); this answers for any other router.
  if (isPathDecodingError(error)) {
    const description = 'path: is not valid percent-encoding';
    return { status: 400, headers: {}, body: body(GATEWAY_ERRORS.INVALID_INPUT, description, [{ code: 'path', message: 'is not valid percent-encoding' }]) };
  }
  // The database refused a value the edge validation let through (see src/db/errors.ts).
  const problem = storedValueProblem(error);
  if (problem) return { status: 400, headers: {}, body: body(GATEWAY_ERRORS.INVALID_INPUT, STORED_VALUE_PROBLEMS[problem], []) };
  // body-parser's own errors (malformed JSON, body too large) carry a 4xx status and a type.
  if (isBodyParserError(error)) {
    const title = error.status === 413 ? 'Payload Too Large' : 'Bad Request';
    const description = error.status === 413 ? 'The request body is too large' : 'The request body is not valid JSON';
    return { status: error.status, headers: {}, body: body({ status: error.status, code: error.status, title }, description, []) };
  }
  return undefined;
}

export function sendError(res: Response, mapped: MappedError): void {
  res.status(mapped.status).set(mapped.headers).json(mapped.body);
}

/** The last handler of the app: every error ends here, mapped or answered as a bare 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const mapped = mapError(error);
    if (mapped) {
      if (mapped.status >= 500) {
        logger.warn({ code: (error as { code?: unknown }).code, status: mapped.status, path: req.path }, mapped.body.description);
      }
      // A route whose edge validation misses a limit of the database: worth fixing there. The
      // driver's error says which column; the logger's serializer keeps its codes, not the values.
      const problem = storedValueProblem(error);
      if (problem) logger.warn({ problem, err: error, method: req.method, path: req.path }, 'the database refused a value the route accepted');
      sendError(res, mapped);
      return;
    }
    // Through the logger's error serializer: codes and a message without SQL, bound values or
    // stack; no request data beyond the method and path.
    logger.error({ err: error, method: req.method, path: req.path }, 'unexpected error');
    if (res.headersSent) return;
    sendError(res, {
      status: 500,
      headers: {},
      body: body({ status: 500, code: 500, title: 'Internal Server Error' }, 'The server could not complete the request', []),
    });
  };
}

/** 503 while the service starts: its database has not answered yet, or migrations are running. */
export function notReadyError(description: string): MappedError {
  return { status: 503, headers: { 'Retry-After': '5' }, body: body({ status: 503, code: 503, title: 'Service Unavailable' }, description, []) };
}

export function notFoundBody(description: string): Wso2ErrorBody {
  return body(GATEWAY_ERRORS.NOT_FOUND, description, []);
}

function body(mapping: ErrorMapping, description: string, error: Wso2ErrorBody['error']): Wso2ErrorBody {
  return wso2ErrorBody(mapping.code, mapping.title, description, error);
}

/** The router's URIError from decodeURIComponent on a path parameter; it sets status 400. */
function isPathDecodingError(error: unknown): boolean {
  return error instanceof URIError && (error as { status?: unknown }).status === 400;
}

function isBodyParserError(error: unknown): error is { status: number; type: string } {
  if (typeof error !== 'object' || error === null) return false;
  const { status, type } = error as { status?: unknown; type?: unknown };
  return typeof status === 'number' && status >= 400 && status < 500 && typeof type === 'string';
}
