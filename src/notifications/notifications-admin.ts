import type { ChannelKind } from './channel';
import type { NotificationEventType } from './events';
import { ChannelNameTakenError, type ChannelEvents, type DeliveryFilter, type DeliveryStatus, type NotificationChannel, type NotificationDelivery, type NotificationsRepository } from './notifications.repository';

export { ChannelNameTakenError };
export type { ChannelEvents, DeliveryStatus };

/** A channel as an admin sees it: everything but the secret, and whether there is one. */
export interface ChannelView {
  id: string;
  kind: ChannelKind;
  name: string;
  target: string;
  hasSecret: boolean;
  events: ChannelEvents;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type DeliveryView = NotificationDelivery;

/** A channel's settings from an admin; `secret` undefined on a change keeps the one stored. */
export interface ChannelSettings {
  kind: ChannelKind;
  name: string;
  target: string;
  secret?: string | null;
  events: readonly ['*'] | readonly NotificationEventType[];
  enabled: boolean;
}

/** A webhook channel must sign, and only a webhook channel has a secret. */
export class ChannelSecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelSecretError';
  }
}

/**
 * What the admin REST routes do with a tenant's channels and deliveries (the routes validate the
 * input; this keeps the rules that need what is stored: a webhook keeps its secret when a change
 * leaves it out, and never shows it).
 */
export class NotificationsAdmin {
  constructor(
    private readonly repository: NotificationsRepository,
    private readonly clock: () => Date,
  ) {}

  async channels(tenantDomain: string): Promise<ChannelView[]> {
    return (await this.repository.channels(tenantDomain)).map(toView);
  }

  async channel(tenantDomain: string, id: string): Promise<ChannelView | undefined> {
    const found = await this.repository.channel(tenantDomain, id);
    return found ? toView(found) : undefined;
  }

  /** @throws ChannelNameTakenError, ChannelSecretError */
  async create(tenantDomain: string, settings: ChannelSettings): Promise<ChannelView> {
    const secret = checkedSecret(settings.kind, settings.secret ?? null);
    return toView(await this.repository.createChannel({ tenantDomain, ...settings, secret }, this.clock()));
  }

  /** Undefined when the tenant has no such channel. @throws ChannelNameTakenError, ChannelSecretError */
  async update(tenantDomain: string, id: string, settings: ChannelSettings): Promise<ChannelView | undefined> {
    const existing = await this.repository.channel(tenantDomain, id);
    if (!existing) return undefined;
    const kept = settings.secret === undefined && settings.kind === existing.kind ? existing.secret : (settings.secret ?? null);
    const secret = checkedSecret(settings.kind, kept);
    const updated = await this.repository.updateChannel(tenantDomain, id, { ...settings, secret }, this.clock());
    return updated ? toView(updated) : undefined;
  }

  delete(tenantDomain: string, id: string): Promise<boolean> {
    return this.repository.deleteChannel(tenantDomain, id);
  }

  deliveries(tenantDomain: string, filter: DeliveryFilter): Promise<{ total: number; list: DeliveryView[] }> {
    return this.repository.deliveries(tenantDomain, filter);
  }

  retry(tenantDomain: string, id: string): ReturnType<NotificationsRepository['retry']> {
    return this.repository.retry(tenantDomain, id, this.clock());
  }
}

function checkedSecret(kind: ChannelKind, secret: string | null): string | null {
  if (kind === 'webhook' && secret === null) throw new ChannelSecretError('a webhook channel needs a signing secret (whsec_ and the base64 of 24 to 64 random bytes)');
  if (kind !== 'webhook' && secret !== null) throw new ChannelSecretError(`a ${kind} channel does not sign: leave the secret out`);
  return secret;
}

function toView(channel: NotificationChannel): ChannelView {
  const { secret, tenantDomain: _tenant, ...rest } = channel;
  return { ...rest, hasSecret: secret !== null };
}
