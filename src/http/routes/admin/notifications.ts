import { z } from 'zod';
import { GatewayError } from '../../../apim/errors';
import { CHANNEL_KINDS } from '../../../notifications/channel';
import { SUBSCRIBER_RECIPIENT } from '../../../notifications/channels/email';
import { NOTIFICATION_EVENT_TYPES } from '../../../notifications/events';
import { ChannelNameTakenError, ChannelSecretError, type ChannelSettings, type ChannelView, type DeliveryView, type NotificationsAdmin } from '../../../notifications/notifications-admin';
import { webhookSecretKey } from '../../../notifications/webhook-sender';
import { defineRoute, invalidInput, type AnyRoute } from '../../route';
import { pageQuery, resourceId, storedText } from '../common';

/** Tenant admins: notification channels are the tenant's, as its subscription policies are. */
const SCOPES = ['apim:admin'] as const;
const BASE = '/notifications';
const DELIVERY_STATUSES = ['PENDING', 'DELIVERED', 'FAILED', 'DEAD'] as const;

const eventList = z
  .array(z.enum(['*', ...NOTIFICATION_EVENT_TYPES]))
  .min(1)
  .max(NOTIFICATION_EVENT_TYPES.length)
  .refine((events) => !events.includes('*') || events.length === 1, { message: '"*" (every event) stands alone' })
  .refine((events) => new Set(events).size === events.length, { message: 'lists an event type twice' });

const EMAIL = /^[^\s@,;<>]+@[^\s@,;<>]+\.[^\s@,;<>]+$/;

/**
 * A channel's settings: a webhook, Teams or Slack channel's target is an http(s) URL; an e-mail
 * channel's a comma-separated list of addresses, where `subscriber` stands for the event's subscriber. `secret` only for a webhook (`whsec_` and the
 * base64 of 24 to 64 bytes, Standard Webhooks); on a change, left out it keeps the stored one.
 */
const channelBody = z
  .strictObject({
    name: storedText(255).min(1),
    kind: z.enum(CHANNEL_KINDS as unknown as ['webhook', 'teams', 'slack', 'email']),
    target: storedText(2048).min(1),
    secret: storedText(255).nullable().optional(),
    events: eventList,
    enabled: z.boolean().default(true),
  })
  .superRefine((body, ctx) => {
    if (body.kind === 'email') {
      const addresses = body.target.split(',').map((a) => a.trim());
      if (addresses.some((a) => a !== SUBSCRIBER_RECIPIENT && !EMAIL.test(a))) ctx.addIssue({ code: 'custom', path: ['target'], message: `must be e-mail addresses (or ${SUBSCRIBER_RECIPIENT}: the event's subscriber) separated by commas` });
    } else if (!isHttpUrl(body.target)) {
      ctx.addIssue({ code: 'custom', path: ['target'], message: 'must be an http(s) URL' });
    }
    if (typeof body.secret === 'string' && !webhookSecretKey(body.secret)) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'must be whsec_ followed by the base64 of 24 to 64 random bytes' });
    }
  });

/** The validated body; the refinement keeps "*" alone, which the schema's type cannot say. */
function settingsOf(body: z.infer<typeof channelBody>): ChannelSettings {
  return { ...body, events: body.events as ChannelSettings['events'] };
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

function channelDto(channel: ChannelView) {
  return {
    id: channel.id,
    name: channel.name,
    kind: channel.kind,
    target: channel.target,
    hasSecret: channel.hasSecret,
    events: channel.events,
    enabled: channel.enabled,
    createdTime: channel.createdAt.toISOString(),
    updatedTime: channel.updatedAt.toISOString(),
  };
}

function deliveryDto(delivery: DeliveryView) {
  return {
    id: delivery.id,
    channelId: delivery.channelId,
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    status: delivery.status,
    attempts: delivery.attempts,
    nextAttemptTime: delivery.status === 'PENDING' || delivery.status === 'FAILED' ? delivery.nextAttemptAt.toISOString() : null,
    lastError: delivery.lastError,
    createdTime: delivery.createdAt.toISOString(),
    deliveredTime: delivery.deliveredAt?.toISOString() ?? null,
    event: { ...delivery.event, occurredAt: delivery.event.occurredAt.toISOString() },
  };
}

/** The store's refusals as the caller's mistakes: a taken name is a conflict, a secret rule names the field. */
async function asGatewayErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ChannelNameTakenError) throw new GatewayError('CONFLICT', error.message, { field: 'name' });
    if (error instanceof ChannelSecretError) throw invalidInput([{ field: 'secret', message: error.message }]);
    throw error;
  }
}

const notFound = (what: string) => new GatewayError('NOT_FOUND', `No ${what} with this id in the tenant`);

/**
 * The notification admin routes (Meterline's own, docs/notifications.md) under
 * `/api/am/admin/v4/notifications`: the caller's tenant's channels (the secret is never shown:
 * `hasSecret` says whether there is one) and its deliveries, and the retry of a FAILED or DEAD
 * delivery. 400 names the field; 404 for another tenant's channel or delivery; 409 for a taken
 * name or a delivery that is not FAILED or DEAD.
 */
export function notificationRoutes(admin: NotificationsAdmin): AnyRoute[] {
  const channelParams = z.strictObject({ channelId: resourceId });
  return [
    defineRoute({
      api: 'admin',
      method: 'get',
      path: `${BASE}/channels`,
      operationId: 'meterline.listNotificationChannels',
      summary: "List the tenant's notification channels",
      scopes: SCOPES,
      responses: { 200: 'Meterline.NotificationChannelList' },
      async handle({ principal }) {
        const list = (await admin.channels(principal.tenant.domain)).map(channelDto);
        return { status: 200, body: { count: list.length, list } };
      },
    }),
    defineRoute({
      api: 'admin',
      method: 'post',
      path: `${BASE}/channels`,
      operationId: 'meterline.createNotificationChannel',
      summary: 'Add a notification channel',
      scopes: SCOPES,
      body: channelBody,
      responses: { 201: 'Meterline.NotificationChannel' },
      async handle({ principal, body }) {
        const created = await asGatewayErrors(() => admin.create(principal.tenant.domain, settingsOf(body)));
        return { status: 201, body: channelDto(created), location: `${BASE}/channels/${created.id}` };
      },
    }),
    defineRoute({
      api: 'admin',
      method: 'get',
      path: `${BASE}/channels/{channelId}`,
      operationId: 'meterline.getNotificationChannel',
      summary: 'Get a notification channel',
      scopes: SCOPES,
      params: channelParams,
      responses: { 200: 'Meterline.NotificationChannel' },
      async handle({ principal, params }) {
        const found = await admin.channel(principal.tenant.domain, params.channelId);
        if (!found) throw notFound('notification channel');
        return { status: 200, body: channelDto(found) };
      },
    }),
    defineRoute({
      api: 'admin',
      method: 'put',
      path: `${BASE}/channels/{channelId}`,
      operationId: 'meterline.updateNotificationChannel',
      summary: "Replace a notification channel's settings (a webhook's secret left out is kept)",
      scopes: SCOPES,
      params: channelParams,
      body: channelBody,
      responses: { 200: 'Meterline.NotificationChannel' },
      async handle({ principal, params, body }) {
        const updated = await asGatewayErrors(() => admin.update(principal.tenant.domain, params.channelId, settingsOf(body)));
        if (!updated) throw notFound('notification channel');
        return { status: 200, body: channelDto(updated) };
      },
    }),
    defineRoute({
      api: 'admin',
      method: 'delete',
      path: `${BASE}/channels/{channelId}`,
      operationId: 'meterline.deleteNotificationChannel',
      summary: 'Delete a notification channel and its deliveries',
      scopes: SCOPES,
      params: channelParams,
      responses: { 200: '' },
      async handle({ principal, params }) {
        if (!(await admin.delete(principal.tenant.domain, params.channelId))) throw notFound('notification channel');
        return { status: 200 };
      },
    }),
    defineRoute({
      api: 'admin',
      method: 'get',
      path: `${BASE}/deliveries`,
      operationId: 'meterline.listNotificationDeliveries',
      summary: "List the tenant's notification deliveries, newest first",
      scopes: SCOPES,
      query: z.strictObject({ status: z.enum(DELIVERY_STATUSES).optional(), eventType: z.enum(NOTIFICATION_EVENT_TYPES).optional(), ...pageQuery }),
      responses: { 200: 'Meterline.NotificationDeliveryList' },
      async handle({ principal, query }) {
        const { total, list } = await admin.deliveries(principal.tenant.domain, query);
        return { status: 200, body: { count: list.length, list: list.map(deliveryDto), pagination: { offset: query.offset, limit: query.limit, total } } };
      },
    }),
    defineRoute({
      api: 'admin',
      method: 'post',
      path: `${BASE}/deliveries/{deliveryId}/retry`,
      operationId: 'meterline.retryNotificationDelivery',
      summary: 'Send a FAILED or DEAD delivery again now',
      scopes: SCOPES,
      params: z.strictObject({ deliveryId: resourceId }),
      responses: { 200: 'Meterline.NotificationDelivery' },
      async handle({ principal, params }) {
        const result = await admin.retry(principal.tenant.domain, params.deliveryId);
        if (result.outcome === 'notFound') throw notFound('notification delivery');
        if (result.outcome === 'notRetryable') throw new GatewayError('CONFLICT', `The delivery is ${result.status}; only a FAILED or DEAD delivery can be retried`);
        return { status: 200, body: deliveryDto(result.delivery) };
      },
    }),
  ] as AnyRoute[];
}
