import Stripe from 'stripe';
import { MonetizationError } from '../../src/monetization/monetization';

/**
 * Maps a failed Stripe call to a MonetizationError by error class (never by message text).
 * The engine's one retry layer (retry.ts) has already re-sent what may succeed later (no answer,
 * 409, 429, 5xx) with the same idempotency key; what reaches here is final for this call, and
 * ENGINE_UNAVAILABLE tells the caller it may succeed later (the usage publisher's next job).
 */
export function toMonetizationError(error: unknown, action: string, context: Record<string, unknown> = {}): unknown {
  if (!(error instanceof Stripe.errors.StripeError)) return error;
  const details = { ...context, stripeRequestId: error.requestId, stripeCode: error.code };
  if (error instanceof Stripe.errors.StripeAuthenticationError || error instanceof Stripe.errors.StripePermissionError) {
    const which = context.account ? `the platform key cannot act on connected account ${String(context.account)}` : 'the platform key was rejected';
    return new MonetizationError('ENGINE_AUTHENTICATION_FAILED', `Stripe refused to ${action}: ${which}`, details, { cause: error });
  }
  if (
    error instanceof Stripe.errors.StripeRateLimitError ||
    error instanceof Stripe.errors.StripeConnectionError ||
    error instanceof Stripe.errors.StripeAPIError
  ) {
    return new MonetizationError('ENGINE_UNAVAILABLE', `Stripe is unavailable, could not ${action}; try again`, details, { cause: error });
  }
  if (error instanceof Stripe.errors.StripeIdempotencyError) {
    // Same key, different parameters: a bug in how we derive keys, not a user mistake.
    throw new Error(`idempotency key reused with different parameters while trying to ${action}`, { cause: error });
  }
  const param = error.param ? ` (${error.param})` : '';
  return new MonetizationError('ENGINE_REJECTED', `Stripe rejected the request to ${action}${param}: ${error.message}`, details, {
    cause: error,
  });
}

/** Runs one Stripe call and translates its failure. */
export async function callStripe<T>(action: string, context: Record<string, unknown>, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toMonetizationError(error, action, context);
  }
}

export function isResourceMissing(error: unknown): boolean {
  const cause = error instanceof MonetizationError ? error.cause : error;
  return cause instanceof Stripe.errors.StripeInvalidRequestError && cause.code === 'resource_missing';
}

/** As {@link callStripe}, but an object Stripe does not have (resource_missing) is `undefined`. */
export async function findInStripe<T>(action: string, context: Record<string, unknown>, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await callStripe(action, context, call);
  } catch (error) {
    if (isResourceMissing(error)) return undefined;
    throw error;
  }
}

/**
 * Stripe already holds a meter event with this identifier (it remembers identifiers for a rolling
 * 24 h: https://docs.stripe.com/api/billing/meter-event/create), so the usage was recorded before.
 * Stripe answers 400 `invalid_request_error` "An event already exists with identifier <id>." with
 * no `code` (as reported from production: https://github.com/langfuse/langfuse/pull/16292), so
 * this one answer is told by its text, and only when it names the identifier that was sent.
 */
export function isDuplicateMeterEventIdentifier(error: unknown, identifier: string): boolean {
  const cause = error instanceof MonetizationError ? error.cause : error;
  if (!(cause instanceof Stripe.errors.StripeInvalidRequestError)) return false;
  if (cause.code === 'resource_already_exists') return true;
  return cause.statusCode === 400 && cause.message.trim() === `An event already exists with identifier ${identifier}.`;
}
