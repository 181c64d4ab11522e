import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/errors';
import type { ChannelKind, ChannelTarget } from './channel';
import type { NotificationEvent, NotificationEventType } from './events';

const CHANNELS = 'ML_NOTIFICATION_CHANNEL';
const DELIVERIES = 'ML_NOTIFICATION_DELIVERY';

/** Where a delivery stands: FAILED waits for its next attempt, DEAD was given up (an admin may retry it). */
export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED' | 'DEAD';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['PENDING', 'DELIVERED', 'FAILED', 'DEAD'];
/** The statuses the dispatcher sends. */
const DUE: readonly DeliveryStatus[] = ['PENDING', 'FAILED'];

/** `['*']`: every event type. */
export type ChannelEvents = readonly ['*'] | readonly NotificationEventType[];

export interface NotificationChannel {
  id: string;
  tenantDomain: string;
  kind: ChannelKind;
  name: string;
  target: string;
  /** The webhook signing secret; never shown over REST. */
  secret: string | null;
  events: ChannelEvents;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export type NewChannel = Omit<NotificationChannel, 'id' | 'createdAt' | 'updatedAt'>;
export type ChannelChanges = Omit<NewChannel, 'tenantDomain'>;

export interface NotificationDelivery {
  id: string;
  channelId: string;
  eventId: string;
  eventType: string;
  tenantDomain: string;
  event: NotificationEvent;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** A delivery a dispatcher holds the lease on, with the channel to send it through. */
export interface ClaimedDelivery extends NotificationDelivery {
  leaseToken: string;
  channel: ChannelTarget;
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  eventType?: string;
  limit: number;
  offset: number;
}

/** Another channel of the tenant has this name (names are unique per tenant). */
export class ChannelNameTakenError extends Error {
  constructor(readonly channelName: string) {
    super(`A notification channel named "${channelName}" already exists`);
    this.name = 'ChannelNameTakenError';
  }
}

/** Every query over ML_NOTIFICATION_CHANNEL and ML_NOTIFICATION_DELIVERY (the outbox). */
export class NotificationsRepository {
  constructor(private readonly db: Knex) {}

  async createChannel(channel: NewChannel, now: Date): Promise<NotificationChannel> {
    const id = randomUUID();
    try {
      await this.db(CHANNELS).insert({ ID: id, TENANT_DOMAIN: channel.tenantDomain, ...channelColumns(channel), CREATED_AT: now.getTime(), UPDATED_AT: now.getTime() });
    } catch (error) {
      if (isUniqueViolation(error)) throw new ChannelNameTakenError(channel.name);
      throw error;
    }
    return (await this.channel(channel.tenantDomain, id))!;
  }

  /** The tenant's channels, by name. */
  async channels(tenantDomain: string): Promise<NotificationChannel[]> {
    const rows = (await this.db(CHANNELS).where({ TENANT_DOMAIN: tenantDomain }).orderBy('NAME')) as Row[];
    return rows.map(toChannel);
  }

  async channel(tenantDomain: string, id: string): Promise<NotificationChannel | undefined> {
    const row = (await this.db(CHANNELS).where({ TENANT_DOMAIN: tenantDomain, ID: id }).first()) as Row | undefined;
    return row ? toChannel(row) : undefined;
  }

  /** Replaces a channel's settings; undefined when the tenant has no such channel. */
  async updateChannel(tenantDomain: string, id: string, changes: ChannelChanges, now: Date): Promise<NotificationChannel | undefined> {
    try {
      const updated = await this.db(CHANNELS).where({ TENANT_DOMAIN: tenantDomain, ID: id }).update({ ...channelColumns(changes), UPDATED_AT: now.getTime() });
      if (updated === 0) return undefined;
    } catch (error) {
      if (isUniqueViolation(error)) throw new ChannelNameTakenError(changes.name);
      throw error;
    }
    return this.channel(tenantDomain, id);
  }

  /** Deletes a channel and its deliveries (nothing is sent to a channel that is gone); false when there is none. */
  async deleteChannel(tenantDomain: string, id: string): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const deleted = await trx(CHANNELS).where({ TENANT_DOMAIN: tenantDomain, ID: id }).delete();
      if (deleted > 0) await trx(DELIVERIES).where({ CHANNEL_ID: id }).delete();
      return deleted > 0;
    });
  }

  /** The tenant's enabled channels that get events of `type`. */
  async channelsFor(tenantDomain: string, type: NotificationEventType): Promise<NotificationChannel[]> {
    const rows = (await this.db(CHANNELS).where({ TENANT_DOMAIN: tenantDomain, ENABLED: true })) as Row[];
    return rows.map(toChannel).filter((channel) => channel.events[0] === '*' || (channel.events as readonly string[]).includes(type));
  }

  /**
   * Records one PENDING delivery of `event` per channel, due at once. A (channel, event) pair
   * already recorded is left as it is (the same fact is delivered once per channel). Each row is
   * its own statement, not one transaction: on PostgreSQL a refused insert would abort the rest.
   */
  async recordDeliveries(event: NotificationEvent, channelIds: readonly string[], now: Date): Promise<number> {
    let recorded = 0;
    for (const channelId of channelIds) {
      try {
        await this.db(DELIVERIES).insert({
          ID: randomUUID(),
          CHANNEL_ID: channelId,
          EVENT_ID: event.id,
          EVENT_TYPE: event.type,
          TENANT_DOMAIN: event.tenantDomain,
          PAYLOAD: JSON.stringify(event),
          STATUS: 'PENDING',
          ATTEMPTS: 0,
          NEXT_ATTEMPT_AT: now.getTime(),
          CREATED_AT: now.getTime(),
        });
        recorded += 1;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
    }
    return recorded;
  }

  /**
   * Takes the lease on up to `limit` due deliveries (PENDING or FAILED, their next attempt due,
   * no live lease, their channel enabled), oldest due first. The lease is one conditional UPDATE
   * per batch under a fresh token: two dispatchers that pick the same rows race on that UPDATE,
   * and the database gives each row to one of them (the loser's WHERE no longer matches). A lease
   * left by a process that died runs out after `leaseMs`, and the delivery is taken again.
   */
  async claimDue(now: Date, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const at = now.getTime();
    const leaseFree = (q: Knex.QueryBuilder) => q.whereNull('LEASE_UNTIL').orWhere('LEASE_UNTIL', '<=', at);
    const candidates = (await this.db(DELIVERIES)
      .select('ID')
      .whereIn('STATUS', DUE)
      .andWhere('NEXT_ATTEMPT_AT', '<=', at)
      .andWhere(leaseFree)
      .whereIn('CHANNEL_ID', this.db(CHANNELS).select('ID').where({ ENABLED: true }))
      .orderBy([{ column: 'NEXT_ATTEMPT_AT' }, { column: 'ID' }])
      .limit(limit)) as Array<{ ID: string }>;
    if (candidates.length === 0) return [];
    const token = randomUUID();
    await this.db(DELIVERIES)
      .whereIn(
        'ID',
        candidates.map((c) => c.ID),
      )
      .whereIn('STATUS', DUE)
      .andWhere(leaseFree)
      .update({ LEASE_TOKEN: token, LEASE_UNTIL: at + leaseMs });
    const rows = (await this.db(`${DELIVERIES} as d`)
      .join(`${CHANNELS} as c`, 'c.ID', 'd.CHANNEL_ID')
      .where('d.LEASE_TOKEN', token)
      .select('d.*', 'c.KIND as C_KIND', 'c.NAME as C_NAME', 'c.TARGET as C_TARGET', 'c.SECRET as C_SECRET')
      .orderBy([{ column: 'd.NEXT_ATTEMPT_AT' }, { column: 'd.ID' }])) as Row[];
    return rows.map((row) => ({
      ...toDelivery(row),
      leaseToken: token,
      channel: { id: String(row.CHANNEL_ID), kind: String(row.C_KIND) as ChannelKind, name: String(row.C_NAME), target: String(row.C_TARGET), secret: nullableString(row.C_SECRET) },
    }));
  }

  /** Ends a lease with success. False when the lease was lost (it ran out and another dispatcher took the delivery). */
  async markDelivered(delivery: ClaimedDelivery, now: Date): Promise<boolean> {
    const updated = await this.db(DELIVERIES)
      .where({ ID: delivery.id, LEASE_TOKEN: delivery.leaseToken })
      .update({ STATUS: 'DELIVERED', ATTEMPTS: delivery.attempts + 1, DELIVERED_AT: now.getTime(), LAST_ERROR: null, LEASE_TOKEN: null, LEASE_UNTIL: null });
    return updated > 0;
  }

  /**
   * Deletes up to `limit` DELIVERED deliveries delivered before `before`; answers how many. The
   * delivered time is never before the time the delivery was due, so the (STATUS, NEXT_ATTEMPT_AT)
   * index narrows the search.
   */
  async pruneDelivered(before: Date, limit: number): Promise<number> {
    const cutoff = before.getTime();
    const rows = (await this.db(DELIVERIES)
      .where({ STATUS: 'DELIVERED' })
      .andWhere('NEXT_ATTEMPT_AT', '<', cutoff)
      .andWhere('DELIVERED_AT', '<', cutoff)
      .orderBy('NEXT_ATTEMPT_AT')
      .limit(limit)
      .select('ID')) as Array<{ ID: string }>;
    const ids = rows.map((row) => row.ID);
    if (ids.length === 0) return 0;
    return this.db(DELIVERIES).whereIn('ID', ids).andWhere({ STATUS: 'DELIVERED' }).delete();
  }

  /** Ends a lease with a failed attempt: FAILED (due again at `nextAttemptAt`) or DEAD. */
  async markFailed(delivery: ClaimedDelivery, outcome: { status: 'FAILED' | 'DEAD'; nextAttemptAt: Date; error: string }): Promise<boolean> {
    const updated = await this.db(DELIVERIES)
      .where({ ID: delivery.id, LEASE_TOKEN: delivery.leaseToken })
      .update({
        STATUS: outcome.status,
        ATTEMPTS: delivery.attempts + 1,
        NEXT_ATTEMPT_AT: outcome.nextAttemptAt.getTime(),
        LAST_ERROR: outcome.error.slice(0, 1000),
        LEASE_TOKEN: null,
        LEASE_UNTIL: null,
      });
    return updated > 0;
  }

  /** The tenant's deliveries, newest first, and how many match in all. */
  async deliveries(tenantDomain: string, filter: DeliveryFilter): Promise<{ total: number; list: NotificationDelivery[] }> {
    const base = () => {
      const q = this.db(DELIVERIES).where({ TENANT_DOMAIN: tenantDomain });
      if (filter.status) q.andWhere({ STATUS: filter.status });
      if (filter.eventType) q.andWhere({ EVENT_TYPE: filter.eventType });
      return q;
    };
    // Upper case: PostgreSQL's identifiers come back upper-cased (src/db/identifier-case.ts).
    const [counted] = (await base().count({ TOTAL: '*' })) as Array<{ TOTAL: unknown }>;
    const rows = (await base()
      .orderBy([{ column: 'CREATED_AT', order: 'desc' }, { column: 'ID', order: 'desc' }])
      .limit(filter.limit)
      .offset(filter.offset)) as Row[];
    return { total: Number(counted?.TOTAL ?? 0), list: rows.map(toDelivery) };
  }

  async delivery(tenantDomain: string, id: string): Promise<NotificationDelivery | undefined> {
    const row = (await this.db(DELIVERIES).where({ TENANT_DOMAIN: tenantDomain, ID: id }).first()) as Row | undefined;
    return row ? toDelivery(row) : undefined;
  }

  /**
   * Puts a FAILED or DEAD delivery back to PENDING, due now, with its attempts counted from zero
   * (its last error kept until the next attempt). Answers what it found when it could not.
   */
  async retry(tenantDomain: string, id: string, now: Date): Promise<{ outcome: 'retried'; delivery: NotificationDelivery } | { outcome: 'notFound' } | { outcome: 'notRetryable'; status: DeliveryStatus }> {
    const updated = await this.db(DELIVERIES)
      .where({ TENANT_DOMAIN: tenantDomain, ID: id })
      .whereIn('STATUS', ['FAILED', 'DEAD'])
      .update({ STATUS: 'PENDING', ATTEMPTS: 0, NEXT_ATTEMPT_AT: now.getTime(), LEASE_TOKEN: null, LEASE_UNTIL: null });
    const found = await this.delivery(tenantDomain, id);
    if (!found) return { outcome: 'notFound' };
    if (updated === 0) return { outcome: 'notRetryable', status: found.status };
    return { outcome: 'retried', delivery: found };
  }
}

type Row = Record<string, unknown>;

function channelColumns(channel: ChannelChanges): Row {
  return {
    KIND: channel.kind,
    NAME: channel.name,
    TARGET: channel.target,
    SECRET: channel.secret,
    EVENTS: JSON.stringify(channel.events),
    ENABLED: channel.enabled,
  };
}

function toChannel(row: Row): NotificationChannel {
  return {
    id: String(row.ID),
    tenantDomain: String(row.TENANT_DOMAIN),
    kind: String(row.KIND) as ChannelKind,
    name: String(row.NAME),
    target: String(row.TARGET),
    secret: nullableString(row.SECRET),
    events: JSON.parse(String(row.EVENTS)) as ChannelEvents,
    // PostgreSQL answers a boolean, MySQL and SQLite 1 or 0.
    enabled: row.ENABLED === true || Number(row.ENABLED) === 1,
    createdAt: new Date(Number(row.CREATED_AT)),
    updatedAt: new Date(Number(row.UPDATED_AT)),
  };
}

function toDelivery(row: Row): NotificationDelivery {
  const stored = JSON.parse(String(row.PAYLOAD)) as NotificationEvent & { occurredAt: string };
  return {
    id: String(row.ID),
    channelId: String(row.CHANNEL_ID),
    eventId: String(row.EVENT_ID),
    eventType: String(row.EVENT_TYPE),
    tenantDomain: String(row.TENANT_DOMAIN),
    event: { ...stored, occurredAt: new Date(stored.occurredAt) },
    status: String(row.STATUS) as DeliveryStatus,
    attempts: Number(row.ATTEMPTS),
    nextAttemptAt: new Date(Number(row.NEXT_ATTEMPT_AT)),
    lastError: nullableString(row.LAST_ERROR),
    createdAt: new Date(Number(row.CREATED_AT)),
    deliveredAt: row.DELIVERED_AT === null || row.DELIVERED_AT === undefined ? null : new Date(Number(row.DELIVERED_AT)),
  };
}

function nullableString(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}
