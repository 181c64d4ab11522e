/**
 * The one error base of the gateway layer (services, repositories, authentication). Each code
 * has one HTTP status in `src/http/errors.ts`; billing-engine failures keep their own
 * `MonetizationError` codes and are mapped by the same table.
 *
 * Messages are shown to the caller as they are: they never carry secrets, tokens or SQL.
 */
export type GatewayErrorCode =
  /** The request is malformed or a field is invalid; `field` names it. */
  | 'INVALID_INPUT'
  /** WSO2 PARAMETER_NOT_PROVIDED: a value the operation needs is missing or empty. */
  | 'PARAMETER_NOT_PROVIDED'
  /** WSO2 INVALID_API_STATE_MONETIZATION: monetization is configured only on PUBLISHED APIs. */
  | 'INVALID_API_STATE_MONETIZATION'
  /** The body is not JSON. */
  | 'UNSUPPORTED_MEDIA_TYPE'
  /** No valid bearer token (missing, malformed, expired, wrong issuer/audience/key). */
  | 'UNAUTHENTICATED'
  /** A valid token without a scope the operation accepts, or acting outside its rights. */
  | 'FORBIDDEN'
  /** Not found, or not visible to the caller's tenant or user (we never say which). */
  | 'NOT_FOUND'
  /** The resource exists already, or is in use. */
  | 'CONFLICT';

export class GatewayError extends Error {
  override readonly name = 'GatewayError';

  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    /** `field`: the request field at fault, as a dotted path (e.g. `monetization.properties.fixedPrice`). */
    readonly context: { field?: string; problems?: Array<{ field: string; message: string }> } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The same request never succeeds on retry: every gateway error is final. */
  get retryable(): boolean {
    return false;
  }

  static invalid(field: string, message: string): GatewayError {
    return new GatewayError('INVALID_INPUT', `${field}: ${message}`, { field, problems: [{ field, message }] });
  }

  static notFound(what: string): GatewayError {
    return new GatewayError('NOT_FOUND', `${what} was not found`);
  }
}
