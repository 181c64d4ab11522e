import type { Clock } from '../core/clock';
import { newId } from '../core/ids';
import type { AccountState, EventDestinationState } from '../state/account-state';
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

/** A place events are delivered to: a v1 webhook endpoint or a v2 event destination. */
interface Target {
  id: string;
  url: string;
  secret: string;
  /** The API version snapshot events are rendered at. */
  apiVersion: string;
}

/** `['*']` on a v1 endpoint enables every snapshot event (https://docs.stripe.com/api/webhook_endpoints/object). */
function endpointListens(endpoint: WireWebhookEndpoint, type: string): boolean {
  return endpoint.status === 'enabled' && (endpoint.enabled_events.includes(type) || endpoint.enabled_events.includes('*'));
}

/** An event destination takes the payload kind it was made for; thin event types must be named. */
function destinationListens(destination: EventDestinationState, type: string, payload: 'thin' | 'snapshot'): boolean {
  const d = destination.object;
  if (d.status !== 'enabled' || d.event_payload !== payload) return false;
  return d.enabled_events.includes(type) || (payload === 'snapshot' && d.enabled_events.includes('*'));
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
    const targets = [...this.endpointsFor(account, type), ...this.destinationsFor(account, type, 'snapshot')];
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
    for (const target of targets) {
      this.dispatcher.enqueue({ event: atVersion(event, target.apiVersion), endpointId: target.id, url: target.url, secret: target.secret });
    }
    return event;
  }

  /**
   * Emits a thin event (thin-events.ts) about `account`: kept for `GET /v2/core/events/:id` and
   * delivered, as the notification alone, to every thin-payload event destination naming its type
   * (v1 webhook endpoints never receive thin events: https://docs.stripe.com/event-destinations).
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
    for (const target of this.destinationsFor(account, type, 'thin')) {
      this.dispatcher.enqueue({ event: notification, endpointId: target.id, url: target.url, secret: target.secret });
    }
    return notification;
  }

  /** A thin event with its data, if it belongs to `platformId`'s account or its connected accounts. */
  thinEvent(id: string, platformId: string): FullThinEvent | undefined {
    const found = this.thin.get(id);
    return found && found.platformId === platformId ? found.event : undefined;
  }

  /** The account's own (non-Connect) endpoints, and for a connected account its platform's `connect=true` ones. */
  private endpointsFor(account: AccountState, type: string): Target[] {
    const asTarget = (owner: AccountState) => (endpoint: WireWebhookEndpoint): Target => ({
      id: endpoint.id,
      url: endpoint.url,
      secret: owner.endpointSecrets.get(endpoint.id) ?? '',
      apiVersion: endpoint.api_version ?? ACCOUNT_DEFAULT_API_VERSION,
    });
    const own = account.webhookEndpoints
      .all()
      .filter((e) => !account.connectEndpoints.has(e.id) && endpointListens(e, type))
      .map(asTarget(account));
    const platform = account.platformId ? this.registry.get(account.platformId) : undefined;
    const viaConnect = platform
      ? platform.webhookEndpoints
          .all()
          .filter((e) => platform.connectEndpoints.has(e.id) && endpointListens(e, type))
          .map(asTarget(platform))
      : [];
    return [...own, ...viaConnect];
  }

  /**
   * Event destinations: the account's own with `events_from` `self`, and for a connected account
   * its platform's with `other_accounts` (https://docs.stripe.com/api/v2/core/event-destinations/object).
   */
  private destinationsFor(account: AccountState, type: string, payload: 'thin' | 'snapshot'): Target[] {
    const asTarget = (d: EventDestinationState): Target => ({
      id: d.object.id,
      url: d.object.url,
      secret: d.secret,
      apiVersion: d.object.snapshot_api_version ?? ACCOUNT_DEFAULT_API_VERSION,
    });
    const own = account.eventDestinations
      .all()
      .filter((d) => d.object.events_from.includes('self') && destinationListens(d, type, payload))
      .map(asTarget);
    const platform = account.platformId ? this.registry.get(account.platformId) : undefined;
    const fromPlatform = platform
      ? platform.eventDestinations
          .all()
          .filter((d) => d.object.events_from.includes('other_accounts') && destinationListens(d, type, payload))
          .map(asTarget)
      : [];
    return [...own, ...fromPlatform];
  }
}

/** The event as an endpoint on `version` receives it (the account's own copy is not touched). */
function atVersion(event: WireEvent, version: string): WireEvent {
  if (version === event.api_version) return event;
  return { ...event, api_version: version, data: { ...event.data, object: renderAtVersion(event.data.object, version) } };
}
