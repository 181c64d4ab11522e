/**
 * Stripe's error shape and the errors this server raises.
 *
 * Handlers throw `StripeApiError`; the pipeline turns it into
 * `{ error: { type, code, param, message, ... } }` with `status`. The SDK picks
 * its error class from the status (and `type` for idempotency errors), so the
 * status is what makes `StripeInvalidRequestError`, `StripeCardError`, etc.
 */
/** `temporary_session_expired`: API v2's type for an expired meter event session (resources/meter-event-stream.ts). */
export type StripeErrorType = 'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error' | 'temporary_session_expired';

export interface StripeErrorBody {
  type: StripeErrorType;
  message: string;
  code?: string;
  param?: string;
  decline_code?: string;
  doc_url?: string;
  request_log_url?: string;
}

export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: StripeErrorBody,
  ) {
    super(body.message);
    this.name = 'StripeApiError';
  }

  toJSON(): { error: StripeErrorBody } {
    return { error: this.body };
  }
}

function docUrl(code: string): string {
  return `https://stripe.com/docs/error-codes/${code.replace(/_/g, '-')}`;
}

function invalidRequest(status: number, message: string, code?: string, param?: string): StripeApiError {
  const body: StripeErrorBody = { type: 'invalid_request_error', message };
  if (code) {
    body.code = code;
    body.doc_url = docUrl(code);
  }
  if (param) body.param = param;
  return new StripeApiError(status, body);
}

/** 404 for an id that does not exist in the account. `noun` as Stripe words it ("product", "billing meter"). */
export function resourceMissing(noun: string, id: string, param = 'id'): StripeApiError {
  return invalidRequest(404, `No such ${noun}: '${id}'`, 'resource_missing', param);
}

export function parameterMissing(param: string): StripeApiError {
  return invalidRequest(400, `Missing required param: ${param}.`, 'parameter_missing', param);
}

export function parameterUnknown(param: string): StripeApiError {
  return invalidRequest(
    400,
    `Received unknown parameter: ${param}`,
    'parameter_unknown',
    param,
  );
}

/** A present but malformed value; `code` is one of Stripe's `parameter_invalid_*` codes when one fits. */
export function parameterInvalid(param: string, message: string, code?: string): StripeApiError {
  return invalidRequest(400, message, code, param);
}

export function parametersExclusive(params: string[]): StripeApiError {
  return invalidRequest(
    400,
    `You may only specify one of these parameters: ${params.join(', ')}.`,
    'parameters_exclusive',
    params[0],
  );
}

/** A request that is well formed but not allowed in the object's current state. */
export function invalidState(message: string, code?: string, param?: string): StripeApiError {
  return invalidRequest(400, message, code, param);
}

export function authenticationFailed(message: string): StripeApiError {
  return new StripeApiError(401, { type: 'invalid_request_error', message });
}

export function accountInaccessible(key: string, account: string): StripeApiError {
  return invalidRequest(
    403,
    `The provided key '${redactKey(key)}' does not have access to account '${account}' (or that account does not exist). Application access may have been revoked.`,
    'account_invalid',
  );
}

export function unrecognizedUrl(method: string, path: string): StripeApiError {
  return new StripeApiError(404, {
    type: 'invalid_request_error',
    message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
  });
}

export function idempotencyMismatch(key: string): StripeApiError {
  return new StripeApiError(400, {
    type: 'idempotency_error',
    message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
  });
}

export function rateLimited(): StripeApiError {
  return invalidRequest(
    429,
    'Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.',
    'rate_limit',
  );
}

export function injectedApiError(): StripeApiError {
  return new StripeApiError(500, {
    type: 'api_error',
    message: 'An unknown error occurred (injected by the Meterline Stripe test server).',
  });
}

export function cardDeclined(declineCode = 'generic_decline'): StripeApiError {
  return new StripeApiError(402, {
    type: 'card_error',
    code: 'card_declined',
    decline_code: declineCode,
    message: 'Your card was declined.',
    doc_url: docUrl('card_declined'),
  });
}

/** For Stripe features this test server deliberately does not model. */
export function unsupported(param: string, what: string): StripeApiError {
  return invalidRequest(400, `${what} is not supported by the Meterline Stripe test server.`, undefined, param);
}

export function redactKey(key: string): string {
  return key.length > 12 ? `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}` : key;
}
