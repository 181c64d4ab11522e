import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { newId } from '../core/ids';
import { StripeApiError, parameterInvalid } from '../http/errors';
import { route, type RequestContext, type Route } from '../http/route';
import type { AccountState } from '../state/account-state';
import type { World } from '../state/world';
import type { WireMeterEvent } from '../wire';
import { asyncFailure, holdMeterError, IDENTIFIER_MEMORY_SECONDS } from './meter-events';

/**
 * Stripe's high-throughput meter event stream (API v2):
 * - `POST /v2/billing/meter_event_session` (secret key, and `Stripe-Context` / `Stripe-Account`
 *   for a connected account, https://docs.stripe.com/context) answers a session whose
 *   `authentication_token` is "only valid for 15 minutes"
 *   (https://docs.stripe.com/api/v2/billing-meter-stream);
 * - `POST /v2/billing/meter_event_stream`, authenticated with that token, takes "up to 100 events
 *   per request"; "Events are processed asynchronously, including validation"; an expired token
 *   is a 401 `billing_meter_event_session_expired`
 *   (https://docs.stripe.com/api/v2/billing/meter-event-stream/create), which stripe-node reads
 *   by its type `temporary_session_expired` (TemporarySessionExpiredError).
 * The stream's events land in the session's account. Rate limits: "In test mode and sandbox
 * mode, calls to the meter event and meter event stream endpoint count toward the basic limit"
 * (https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage-api), so a stream
 * call counts as one request of the account, whatever the number of events in it.
 */

export const SESSION_SECONDS = 15 * 60;
export const MAX_EVENTS_PER_REQUEST = 100;
const PAST_WINDOW_SECONDS = 35 * 86_400;
const FUTURE_WINDOW_SECONDS = 5 * 60;
const WHOLE_NUMBER = /^-?\d+$/;

interface Session {
  accountId: string;
  platformId: string;
  expiresAt: number;
}

/** Per world (a reset builds a new world, which drops them). */
const sessions = new WeakMap<World, Map<string, Session>>();

function sessionsOf(world: World): Map<string, Session> {
  const found = sessions.get(world) ?? new Map<string, Session>();
  sessions.set(world, found);
  return found;
}

/** The stream's path: the pipeline authenticates it by session token instead of secret key. */
export const STREAM_PATH = '/v2/billing/meter_event_stream';

/**
 * The account (and its platform) a stream request's bearer token stands for; a 401 for an
 * unknown token, or for one whose session expired on the server's clock.
 */
export function streamAccount(world: World, authorization: string | undefined): { account: AccountState; platform: AccountState } {
  const token = authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length).trim() : '';
  const session = sessionsOf(world).get(token);
  if (!session) throw new StripeApiError(401, { type: 'invalid_request_error', message: 'Invalid meter event session token.' });
  if (world.clock.now() >= session.expiresAt) {
    throw new StripeApiError(401, { type: 'temporary_session_expired', code: 'billing_meter_event_session_expired', message: 'The temporary session token has expired.' });
  }
  const account = world.registry.get(session.accountId);
  const platform = world.registry.get(session.platformId);
  if (!account || !platform) throw new StripeApiError(401, { type: 'invalid_request_error', message: 'Invalid meter event session token.' });
  return { account, platform };
}

function createSession(ctx: RequestContext) {
  if (Object.keys(ctx.params).length > 0) throw parameterInvalid(Object.keys(ctx.params)[0]!, 'This endpoint takes no parameters.');
  const now = ctx.world.clock.now();
  const token = `mes_tok_${randomBytes(18).toString('hex')}`;
  const session: Session = { accountId: ctx.account.id, platformId: ctx.platform.id, expiresAt: now + SESSION_SECONDS };
  sessionsOf(ctx.world).set(token, session);
  return {
    id: newId('mes', 24),
    object: 'v2.billing.meter_event_session',
    authentication_token: token,
    created: new Date(now * 1000).toISOString(),
    expires_at: new Date(session.expiresAt * 1000).toISOString(),
    livemode: false,
  };
}

const streamSchema = z.strictObject({
  events: z
    .array(
      z.strictObject({
        event_name: z.string().min(1),
        identifier: z.string().min(1).max(100).optional(),
        payload: z.record(z.string(), z.string()),
        timestamp: z.iso.datetime({ offset: true }).optional(),
      }),
    )
    .min(1)
    .max(MAX_EVENTS_PER_REQUEST),
});

/**
 * Accepts up to 100 events at once and answers `{}`; each event is then processed as the v1
 * endpoint would, except that what v1 refuses synchronously (a timestamp out of range, a missing
 * or fractional value) is dropped here and reported as a meter error, and an identifier seen in
 * the last 24 h is dropped silently: the stream's validation is asynchronous.
 */
function stream(ctx: RequestContext) {
  const parsed = streamSchema.safeParse(ctx.params);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw parameterInvalid(issue.path.join('.') || 'events', issue.message);
  }
  const now = ctx.world.clock.now();
  for (const input of parsed.data.events) {
    const identifier = input.identifier ?? newId('mev', 24);
    const seenAt = ctx.account.meterEventIdentifiers.get(identifier);
    if (seenAt !== undefined && now - seenAt < IDENTIFIER_MEMORY_SECONDS) continue;
    ctx.account.meterEventIdentifiers.set(identifier, now);
    const timestamp = input.timestamp === undefined ? now : Math.floor(Date.parse(input.timestamp) / 1000);
    const meter = ctx.account.meters.all().find((m) => m.event_name === input.event_name && m.status === 'active');
    if (meter) {
      const value = input.payload[meter.value_settings.event_payload_key];
      const invalid =
        timestamp < now - PAST_WINDOW_SECONDS
          ? 'timestamp_too_far_in_past'
          : timestamp > now + FUTURE_WINDOW_SECONDS
            ? 'timestamp_in_future'
            : input.payload[meter.customer_mapping.event_payload_key] === undefined
              ? 'meter_event_no_customer_defined'
              : value !== undefined && !WHOLE_NUMBER.test(value)
                ? 'meter_event_invalid_value'
                : null;
      if (invalid) {
        holdMeterError(ctx, meter, { code: invalid, message: `The meter event ${identifier} is invalid (${invalid}).`, identifier });
        continue;
      }
    }
    const failure = asyncFailure(ctx, input.event_name, input.payload, identifier);
    if (failure) {
      holdMeterError(ctx, failure.meter, failure.error);
      continue;
    }
    const event: WireMeterEvent = { object: 'billing.meter_event', created: now, event_name: input.event_name, identifier, livemode: false, payload: input.payload, timestamp };
    ctx.account.meterEvents.push(event);
  }
  return {};
}

export const meterEventStreamRoutes: Route[] = [route('POST', '/v2/billing/meter_event_session', createSession), route('POST', STREAM_PATH, stream)];
