import type { Clock } from '../core/clock';
import { newId } from '../core/ids';
import type { AccountState } from '../state/account-state';
import type { AccountRegistry } from '../state/registry';
import type { WireEvent, WireWebhookEndpoint } from '../wire';
import type { WebhookDispatcher } from './dispatcher';
import type { FullThinEvent, ThinEvent } from './thin-events';
import { ACCOUNT_DEFAULT_API_VERSION, renderAtVersion } from './versions';

/** The API request that caused an event; null for events caused by the clock. */
export interface EventCause {
  id: string;
  idempotency_key: string | null;
}

/**
 * `['*']` "indicates that all events are enabled, except those that require explicit selection"
 * (https://docs.stripe.com/api/webhook_endpoints/object): thin events must be named.
 */
function listens(endpoint: WireWebhookEndpoint, type: string, explicitOnly = false): boolean {
  if (endpoint.status !== 'enabled') return false;
  return endpoint.enabled_events.includes(type) || (!explicitOnly && endpoint.enabled_events.includes('*'));
}

/**
 * Records events on the account and hands them to the dispatcher for every
 * endpoint that listens: the account's own (non-Connect) endpoints, and, for a
 * connected account, its platform's `connect=true` endpoints, with `account`
 * set on the event, as Stripe does. The account keeps the event at its default API version;
 * each endpoint receives it rendered at the endpoint's own `api_version` (versions.ts).
 */
export class EventPublisher {
  private cause: EventCause | null = null;
  /** Thin events by id, with the platform whose tree they belong to (for `GET /v2/core/events/:id`). */
  private readonly thin = new Map<string, { platformId: string; event: FullThinEvent }>();

  constructor(
    private readonly registry: AccountRegistry,
    private readonly dispatcher: WebhookDispatcher,
    private readonly clock: Clock,
  ) {}

  /** Runs `work` with events attributed to `cause` (the pipeline sets this per request). */
  within<T>(cause: EventCause | null, work: () => T): T {
    const previous = this.cause;
    this.cause = cause;
    try {
      return work();
    } finally {
      this.cause = previous;
    }
  }

  emit(account: AccountState, type: string, object: unknown, previousAttributes?: Record<string, unknown>): WireEvent {
    const targets = this.endpointsFor(account, type);
    const event: WireEvent = {
      id: newId('evt'),
      object: 'event',
      api_version: ACCOUNT_DEFAULT_API_VERSION,
      created: this.clock.now(),
      data: { object: JSON.parse(JSON.stringify(object)) as unknown },
      livemode: false,
      pending_webhooks: targets.length,
      request: this.cause ? { ...this.cause } : { id: null, idempotency_key: null },
      type,
    };
    if (previousAttributes) event.data.previous_attributes = previousAttributes;
    if (account.platformId) event.account = account.id;
    account.events.insert(event);
    for (const { endpoint, secret } of targets) {
      this.dispatcher.enqueue({ event: atVersion(event, endpoint.api_version ?? ACCOUNT_DEFAULT_API_VERSION), endpointId: endpoint.id, url: endpoint.url, secret });
    }
    return event;
  }

  /**
   * Emits a thin event (thin-events.ts) about `account`: kept for `GET /v2/core/events/:id` and
   * delivered, as the notification alone, to every endpoint listening for its type (a stand-in
   * for a thin-payload event destination: this server's API takes form bodies, and
   * `POST /v2/core/event_destinations` takes JSON; see README).
   */
  emitThin(account: AccountState, type: string, relatedObject: ThinEvent['related_object'], data: unknown): ThinEvent {
    const notification: ThinEvent = {
      id: newId('evt'),
      object: 'v2.core.event',
      type,
      livemode: false,
      created: new Date(this.clock.now() * 1000).toISOString(),
      ...(account.platformId ? { context: account.id } : {}),
      related_object: relatedObject,
      reason: this.cause?.id ? { type: 'request', request: { id: this.cause.id, idempotency_key: this.cause.idempotency_key } } : null,
    };
    this.thin.set(notification.id, { platformId: account.platformId ?? account.id, event: { ...notification, data } });
    for (const { endpoint, secret } of this.endpointsFor(account, type, true)) {
      this.dispatcher.enqueue({ event: notification, endpointId: endpoint.id, url: endpoint.url, secret });
    }
    return notification;
  }

  /** A thin event with its data, if it belongs to `platformId`'s account or its connected accounts. */
  thinEvent(id: string, platformId: string): FullThinEvent | undefined {
    const found = this.thin.get(id);
    return found && found.platformId === platformId ? found.event : undefined;
  }

  private endpointsFor(account: AccountState, type: string, explicitOnly = false): Array<{ endpoint: WireWebhookEndpoint; secret: string }> {
    const own = account.webhookEndpoints
      .all()
      .filter((e) => !account.connectEndpoints.has(e.id) && listens(e, type, explicitOnly))
      .map((endpoint) => ({ endpoint, secret: account.endpointSecrets.get(endpoint.id) ?? '' }));
    const platform = account.platformId ? this.registry.get(account.platformId) : undefined;
    const viaConnect = platform
      ? platform.webhookEndpoints
          .all()
          .filter((e) => platform.connectEndpoints.has(e.id) && listens(e, type, explicitOnly))
          .map((endpoint) => ({ endpoint, secret: platform.endpointSecrets.get(endpoint.id) ?? '' }))
      : [];
    return [...own, ...viaConnect];
  }
}

/** The event as an endpoint on `version` receives it (the account's own copy is not touched). */
function atVersion(event: WireEvent, version: string): WireEvent {
  if (version === event.api_version) return event;
  return { ...event, api_version: version, data: { ...event.data, object: renderAtVersion(event.data.object, version) } };
}
