import type { Knex } from 'knex';
import { insertReturningId } from '../db/insert-returning-id';
import { chunks } from './apis.repository';
import { readTimestamp } from './time';

type Db = Knex | Knex.Transaction;

/** One AM_SUBSCRIPTION row with the keys of what it joins: its API, application and subscriber. */
export interface SubscriptionRow {
  id: number;
  uuid: string;
  tier: string;
  status: string;
  apiUuid: string;
  /** The API's tenant domain. */
  apiOrganization: string;
  applicationUuid: string;
  subscriberId: number;
  subscriberUserId: string;
  subscriberTenantId: number;
  subscriberEmail: string | null;
}

const SELECT = [
  'AM_SUBSCRIPTION.SUBSCRIPTION_ID',
  'AM_SUBSCRIPTION.UUID',
  'AM_SUBSCRIPTION.TIER_ID',
  'AM_SUBSCRIPTION.SUB_STATUS',
  'AM_API.API_UUID',
  'AM_API.ORGANIZATION',
  'AM_APPLICATION.UUID as APP_UUID',
  'AM_SUBSCRIBER.SUBSCRIBER_ID',
  'AM_SUBSCRIBER.USER_ID',
  'AM_SUBSCRIBER.TENANT_ID',
  'AM_SUBSCRIBER.EMAIL_ADDRESS',
];

/** AM_SUBSCRIPTION. Callers decide visibility (owner or tenant) from the joined keys. */
export class SubscriptionsRepository {
  constructor(private readonly db: Knex) {}

  async insert(input: { uuid: string; apiId: number; applicationId: number; tier: string; status: string; createdBy: string; now: string }): Promise<number> {
    return insertReturningId(
      this.db,
      'AM_SUBSCRIPTION',
      {
        TIER_ID: input.tier,
        API_ID: input.apiId,
        APPLICATION_ID: input.applicationId,
        SUB_STATUS: input.status,
        SUBS_CREATE_STATE: 'SUBSCRIBE',
        UUID: input.uuid,
        CREATED_BY: input.createdBy,
        CREATED_TIME: input.now,
      },
      'SUBSCRIPTION_ID',
    );
  }

  async findByUuid(uuid: string): Promise<SubscriptionRow | undefined> {
    const row = await this.joined().where('AM_SUBSCRIPTION.UUID', uuid).first(SELECT);
    return row ? fromRow(row) : undefined;
  }

  async exists(apiId: number, applicationId: number): Promise<boolean> {
    return (await this.db('AM_SUBSCRIPTION').where({ API_ID: apiId, APPLICATION_ID: applicationId }).first('SUBSCRIPTION_ID')) !== undefined;
  }

  /**
   * The oldest subscription row of an application to an API, with what tells whether it is an
   * unfinished attempt of the caller's (its status, tier and creator).
   */
  async firstFor(apiId: number, applicationId: number): Promise<{ id: number; uuid: string; status: string; tier: string; createdBy: string | null } | undefined> {
    const id = await this.firstIdFor(apiId, applicationId);
    if (id === undefined) return undefined;
    const row = await this.db('AM_SUBSCRIPTION').where({ SUBSCRIPTION_ID: id }).first('UUID', 'SUB_STATUS', 'TIER_ID', 'CREATED_BY');
    if (!row) return undefined;
    return {
      id,
      uuid: String(row.UUID),
      status: String(row.SUB_STATUS ?? 'UNBLOCKED'),
      tier: String(row.TIER_ID ?? ''),
      createdBy: row.CREATED_BY === null || row.CREATED_BY === undefined ? null : String(row.CREATED_BY),
    };
  }

  /** ON_HOLD subscriptions created before a time, oldest first (candidates for `meterline reconcile`). */
  async listOnHoldCreatedBefore(before: string): Promise<Array<SubscriptionRow & { createdTime: string | null }>> {
    const rows = await this.joined()
      .where('AM_SUBSCRIPTION.SUB_STATUS', 'ON_HOLD')
      .andWhere('AM_SUBSCRIPTION.CREATED_TIME', '<', before)
      .orderBy('AM_SUBSCRIPTION.SUBSCRIPTION_ID')
      .select([...SELECT, 'AM_SUBSCRIPTION.CREATED_TIME']);
    return rows.map((row: Record<string, unknown>) => ({ ...fromRow(row), createdTime: readTimestamp(row.CREATED_TIME) }));
  }

  /** The oldest subscription row of an application to an API (AM_SUBSCRIPTION has no unique key for the pair). */
  async firstIdFor(apiId: number, applicationId: number): Promise<number | undefined> {
    const row = await this.db('AM_SUBSCRIPTION').where({ API_ID: apiId, APPLICATION_ID: applicationId }).min({ FIRST: 'SUBSCRIPTION_ID' }).first();
    return row?.FIRST === null || row?.FIRST === undefined ? undefined : Number(row.FIRST);
  }

  /** Subscriptions of one subscriber, optionally narrowed to an application and/or an API. */
  async listOfSubscriber(subscriberId: number, filter: { applicationId?: number; apiId?: number }): Promise<SubscriptionRow[]> {
    const q = this.joined().where('AM_APPLICATION.SUBSCRIBER_ID', subscriberId);
    if (filter.applicationId !== undefined) q.andWhere('AM_SUBSCRIPTION.APPLICATION_ID', filter.applicationId);
    if (filter.apiId !== undefined) q.andWhere('AM_SUBSCRIPTION.API_ID', filter.apiId);
    return (await q.orderBy('AM_SUBSCRIPTION.SUBSCRIPTION_ID').select(SELECT)).map(fromRow);
  }

  /** Subscriptions to the tenant's APIs (publisher view), optionally of one API. */
  async listOfTenantApis(tenantDomain: string, apiId?: number): Promise<SubscriptionRow[]> {
    const q = this.joined().where('AM_API.ORGANIZATION', tenantDomain);
    if (apiId !== undefined) q.andWhere('AM_SUBSCRIPTION.API_ID', apiId);
    return (await q.orderBy('AM_SUBSCRIPTION.SUBSCRIPTION_ID').select(SELECT)).map(fromRow);
  }

  async listOfApplication(applicationId: number): Promise<SubscriptionRow[]> {
    return (await this.joined().where('AM_SUBSCRIPTION.APPLICATION_ID', applicationId).orderBy('AM_SUBSCRIPTION.SUBSCRIPTION_ID').select(SELECT)).map(fromRow);
  }

  /** A subscription's own columns by UUID (no joins), read through `db` (a caller's transaction). */
  async keysOf(uuid: string, db: Db = this.db): Promise<SubscriptionKeys | undefined> {
    const row = await db('AM_SUBSCRIPTION').where({ UUID: uuid }).first(KEY_COLUMNS);
    return row ? toKeys(row) : undefined;
  }

  /** Subscriptions' own columns by UUID; missing ones are left out. */
  async keysOfMany(uuids: readonly string[]): Promise<Map<string, SubscriptionKeys>> {
    const keys = new Map<string, SubscriptionKeys>();
    for (const part of chunks([...new Set(uuids)])) {
      for (const row of await this.db('AM_SUBSCRIPTION').whereIn('UUID', part).select(KEY_COLUMNS)) keys.set(String(row.UUID), toKeys(row));
    }
    return keys;
  }

  /** The oldest subscription of an application to an API, its own columns. */
  async keysOfPair(apiId: number, applicationId: number): Promise<SubscriptionKeys | undefined> {
    const id = await this.firstIdFor(apiId, applicationId);
    if (id === undefined) return undefined;
    const row = await this.db('AM_SUBSCRIPTION').where({ SUBSCRIPTION_ID: id }).first(KEY_COLUMNS);
    return row ? toKeys(row) : undefined;
  }

  /** The UUIDs of every subscription to these APIs. */
  async uuidsOfApis(apiIds: readonly number[]): Promise<Set<string>> {
    const uuids = new Set<string>();
    for (const part of chunks([...new Set(apiIds)])) {
      for (const row of await this.db('AM_SUBSCRIPTION').whereIn('API_ID', part).select('UUID')) uuids.add(String(row.UUID));
    }
    return uuids;
  }

  /**
   * Sets SUB_STATUS by UUID in the caller's transaction (billing's access decisions, which must
   * commit with its own records).
   */
  async setStatusByUuid(db: Db, uuid: string, status: string): Promise<void> {
    await db('AM_SUBSCRIPTION').where({ UUID: uuid }).update({ SUB_STATUS: status });
  }

  async setStatus(id: number, status: string, now: string): Promise<void> {
    await this.db('AM_SUBSCRIPTION').where({ SUBSCRIPTION_ID: id }).update({ SUB_STATUS: status, UPDATED_TIME: now });
  }

  async delete(id: number): Promise<void> {
    await this.db('AM_SUBSCRIPTION').where({ SUBSCRIPTION_ID: id }).delete();
  }

  private joined() {
    return this.db('AM_SUBSCRIPTION')
      .join('AM_API', 'AM_API.API_ID', 'AM_SUBSCRIPTION.API_ID')
      .join('AM_APPLICATION', 'AM_APPLICATION.APPLICATION_ID', 'AM_SUBSCRIPTION.APPLICATION_ID')
      .join('AM_SUBSCRIBER', 'AM_SUBSCRIBER.SUBSCRIBER_ID', 'AM_APPLICATION.SUBSCRIBER_ID');
  }
}

/** One AM_SUBSCRIPTION row's own columns. */
export interface SubscriptionKeys {
  uuid: string;
  apiId: number;
  applicationId: number;
  tier: string;
  status: string;
  /** CREATED_TIME as stored (see `utcTimestampMillis` for reading it as epoch ms). */
  createdTime: unknown;
}

const KEY_COLUMNS = ['UUID', 'API_ID', 'APPLICATION_ID', 'TIER_ID', 'SUB_STATUS', 'CREATED_TIME'] as const;

function toKeys(row: Record<string, unknown>): SubscriptionKeys {
  return {
    uuid: String(row.UUID),
    apiId: Number(row.API_ID),
    applicationId: Number(row.APPLICATION_ID),
    tier: String(row.TIER_ID ?? ''),
    status: String(row.SUB_STATUS ?? 'UNBLOCKED'),
    createdTime: row.CREATED_TIME,
  };
}

function fromRow(row: Record<string, unknown>): SubscriptionRow {
  return {
    id: Number(row.SUBSCRIPTION_ID),
    uuid: String(row.UUID),
    tier: String(row.TIER_ID ?? ''),
    status: String(row.SUB_STATUS ?? 'UNBLOCKED'),
    apiUuid: String(row.API_UUID),
    apiOrganization: String(row.ORGANIZATION),
    applicationUuid: String(row.APP_UUID),
    subscriberId: Number(row.SUBSCRIBER_ID),
    subscriberUserId: String(row.USER_ID),
    subscriberTenantId: Number(row.TENANT_ID),
    subscriberEmail: row.EMAIL_ADDRESS === null || row.EMAIL_ADDRESS === undefined ? null : String(row.EMAIL_ADDRESS),
  };
}
