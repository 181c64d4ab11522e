import type { Knex } from 'knex';
import { insertReturningId } from '../db/insert-returning-id';
import { chunks, type ApisRepository } from './apis.repository';
import type { ApplicationsRepository } from './applications.repository';
import type { SubscribersRepository } from './subscribers.repository';
import { readTimestamp } from '../domain/time';

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

/** WSO2's SUB_STATUS values of a subscription blocked by the API's publisher (blockSubscription). */
export const PUBLISHER_BLOCK_STATES = ['BLOCKED', 'PROD_ONLY_BLOCKED'] as const;
/** AM_SUBSCRIPTION.UPDATED_BY of a status billing decided: any other writer of a block is the publisher (or WSO2). */
export const BILLING_ACTOR = 'meterline:billing';

const SELECT = ['SUBSCRIPTION_ID', 'UUID', 'TIER_ID', 'SUB_STATUS', 'API_ID', 'APPLICATION_ID'] as const;

/** The owners of what a subscription row refers to, asked for its keys (no joins across owners). */
export interface SubscriptionReferences {
  apis: Pick<ApisRepository, 'refsByIds' | 'refsOfTenant'>;
  applications: Pick<ApplicationsRepository, 'refsOf' | 'idsOfSubscriber'>;
  subscribers: Pick<SubscribersRepository, 'byIds'>;
}

/**
 * AM_SUBSCRIPTION, the one module that reads and writes it. Rows come with the keys of their API,
 * application and subscriber, asked of those tables' owners. Callers decide visibility (owner or
 * tenant) from those keys.
 */
export class SubscriptionsRepository {
  constructor(
    private readonly db: Knex,
    private readonly references: SubscriptionReferences,
  ) {}

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
    const row = await this.db('AM_SUBSCRIPTION').where({ UUID: uuid }).first(SELECT);
    return row ? (await this.withReferences([row]))[0] : undefined;
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
    const rows = await this.db('AM_SUBSCRIPTION')
      .where('SUB_STATUS', 'ON_HOLD')
      .andWhere('CREATED_TIME', '<', before)
      .orderBy('SUBSCRIPTION_ID')
      .select([...SELECT, 'CREATED_TIME']);
    const createdTimes = new Map(rows.map((row: Record<string, unknown>) => [Number(row.SUBSCRIPTION_ID), readTimestamp(row.CREATED_TIME)]));
    return (await this.withReferences(rows)).map((row) => ({ ...row, createdTime: createdTimes.get(row.id) ?? null }));
  }

  /** The oldest subscription row of an application to an API (AM_SUBSCRIPTION has no unique key for the pair). */
  async firstIdFor(apiId: number, applicationId: number): Promise<number | undefined> {
    const row = await this.db('AM_SUBSCRIPTION').where({ API_ID: apiId, APPLICATION_ID: applicationId }).min({ FIRST: 'SUBSCRIPTION_ID' }).first();
    return row?.FIRST === null || row?.FIRST === undefined ? undefined : Number(row.FIRST);
  }

  /** Subscriptions of one subscriber, optionally narrowed to an application and/or an API. */
  async listOfSubscriber(subscriberId: number, filter: { applicationId?: number; apiId?: number }): Promise<SubscriptionRow[]> {
    const owned = await this.references.applications.idsOfSubscriber(subscriberId);
    const applicationIds = filter.applicationId === undefined ? owned : owned.filter((id) => id === filter.applicationId);
    return this.listWhere('APPLICATION_ID', applicationIds, (q) => (filter.apiId === undefined ? q : q.andWhere('API_ID', filter.apiId)));
  }

  /** Subscriptions to the tenant's APIs (publisher view), optionally of one API. */
  async listOfTenantApis(tenantDomain: string, apiId?: number): Promise<SubscriptionRow[]> {
    const ofTenant = (await this.references.apis.refsOfTenant(tenantDomain)).map((api) => api.id);
    return this.listWhere('API_ID', apiId === undefined ? ofTenant : ofTenant.filter((id) => id === apiId));
  }

  async listOfApplication(applicationId: number): Promise<SubscriptionRow[]> {
    return this.listWhere('APPLICATION_ID', [applicationId]);
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

  /**
   * The oldest subscription (lowest SUBSCRIPTION_ID, as `keysOfPair`) of each (API, application)
   * pair, by `${apiId}:${applicationId}`; pairs without one are left out. One query per 400 pairs
   * (at most 800 parameters: under SQLite's 999, SQL Server's 2,100 and Oracle's 1,000 per IN
   * list): their APIs' ids IN (...) and their applications' ids IN (...), the rows of other pairs
   * dropped here (an OR of 400 pairs takes SQLite 30 times longer to plan than this to run).
   */
  async keysOfPairs(pairs: readonly { apiId: number; applicationId: number }[]): Promise<Map<string, SubscriptionKeys>> {
    const keyOf = (apiId: unknown, applicationId: unknown) => `${Number(apiId)}:${Number(applicationId)}`;
    const wanted = new Map(pairs.map((p) => [keyOf(p.apiId, p.applicationId), p]));
    // By API, so that each part names few APIs.
    const distinct = [...wanted.values()].sort((a, b) => a.apiId - b.apiId || a.applicationId - b.applicationId);
    const oldest = new Map<string, { id: number; keys: SubscriptionKeys }>();
    for (const part of chunks(distinct, 400)) {
      const rows = (await this.db('AM_SUBSCRIPTION')
        .whereIn('API_ID', [...new Set(part.map((p) => p.apiId))])
        .whereIn('APPLICATION_ID', [...new Set(part.map((p) => p.applicationId))])
        .select('SUBSCRIPTION_ID', ...KEY_COLUMNS)) as Array<Record<string, unknown>>;
      for (const row of rows) {
        const key = keyOf(row.API_ID, row.APPLICATION_ID);
        if (!wanted.has(key)) continue;
        const id = Number(row.SUBSCRIPTION_ID);
        const seen = oldest.get(key);
        if (seen === undefined || id < seen.id) oldest.set(key, { id, keys: toKeys(row) });
      }
    }
    return new Map([...oldest].map(([key, { keys }]) => [key, keys]));
  }

  /** Subscription counts per application id. */
  async countsByApplication(applicationIds: readonly number[]): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const part of chunks([...new Set(applicationIds)])) {
      const rows = (await this.db('AM_SUBSCRIPTION').whereIn('APPLICATION_ID', part).groupBy('APPLICATION_ID').select('APPLICATION_ID').count({ N: '*' })) as Array<Record<string, unknown>>;
      for (const row of rows) counts.set(Number(row.APPLICATION_ID), Number(row.N));
    }
    return counts;
  }

  /** Whether any subscription to these APIs is on the tier. */
  async anyOnTier(apiIds: readonly number[], tier: string): Promise<boolean> {
    for (const part of chunks([...new Set(apiIds)])) {
      if (await this.db('AM_SUBSCRIPTION').whereIn('API_ID', part).andWhere({ TIER_ID: tier }).first('SUBSCRIPTION_ID')) return true;
    }
    return false;
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
    // A block by the API's publisher (or WSO2's) stands until the publisher lifts it: billing's
    // decision is written only over its own statuses, and marks them as its own.
    await db('AM_SUBSCRIPTION')
      .where({ UUID: uuid })
      .where((q) => q.whereNull('SUB_STATUS').orWhereNotIn('SUB_STATUS', [...PUBLISHER_BLOCK_STATES]).orWhere('UPDATED_BY', BILLING_ACTOR))
      .update({ SUB_STATUS: status, UPDATED_BY: BILLING_ACTOR });
  }

  /**
   * A publisher's block (BLOCKED, PROD_ONLY_BLOCKED) or unblock (UNBLOCKED), recorded with who did
   * it, so billing's later decisions leave the block in place (see `setStatusByUuid`).
   */
  async setBlockState(uuid: string, status: 'BLOCKED' | 'PROD_ONLY_BLOCKED' | 'UNBLOCKED', by: string, now: string): Promise<void> {
    await this.db('AM_SUBSCRIPTION').where({ UUID: uuid }).update({ SUB_STATUS: status, UPDATED_BY: by, UPDATED_TIME: now });
  }

  /** The access the engine and billing decided at subscribe, marked as billing's (see `setStatusByUuid`). */
  async setStatus(id: number, status: string, now: string): Promise<void> {
    await this.db('AM_SUBSCRIPTION').where({ SUBSCRIPTION_ID: id }).update({ SUB_STATUS: status, UPDATED_BY: BILLING_ACTOR, UPDATED_TIME: now });
  }

  /** A new business plan (tier) and the access the billing decided for it. */
  async setTier(id: number, tier: string, status: string, now: string): Promise<void> {
    await this.db('AM_SUBSCRIPTION').where({ SUBSCRIPTION_ID: id }).update({ TIER_ID: tier, SUB_STATUS: status, UPDATED_BY: BILLING_ACTOR, UPDATED_TIME: now });
  }

  async delete(id: number): Promise<void> {
    await this.db('AM_SUBSCRIPTION').where({ SUBSCRIPTION_ID: id }).delete();
  }

  /** Rows whose `column` is one of `values`, oldest first, with their references. */
  private async listWhere(column: 'API_ID' | 'APPLICATION_ID', values: readonly number[], narrow: (q: Knex.QueryBuilder) => Knex.QueryBuilder = (q) => q): Promise<SubscriptionRow[]> {
    const rows: Array<Record<string, unknown>> = [];
    for (const part of chunks([...new Set(values)])) rows.push(...(await narrow(this.db('AM_SUBSCRIPTION').whereIn(column, part)).select(SELECT)));
    rows.sort((x, y) => Number(x.SUBSCRIPTION_ID) - Number(y.SUBSCRIPTION_ID));
    return this.withReferences(rows);
  }

  /** The rows with the keys of their API, application and subscriber; a row missing one is left out (as a join would). */
  private async withReferences(rows: Array<Record<string, unknown>>): Promise<SubscriptionRow[]> {
    const apis = await this.references.apis.refsByIds(rows.map((row) => Number(row.API_ID)));
    const applications = await this.references.applications.refsOf(rows.map((row) => Number(row.APPLICATION_ID)));
    const subscribers = await this.references.subscribers.byIds([...applications.values()].map((a) => a.subscriberId));
    return rows.flatMap((row) => {
      const api = apis.get(Number(row.API_ID));
      const application = applications.get(Number(row.APPLICATION_ID));
      const subscriber = application ? subscribers.get(application.subscriberId) : undefined;
      if (!api || !application || !subscriber) return [];
      return [
        {
          id: Number(row.SUBSCRIPTION_ID),
          uuid: String(row.UUID),
          tier: String(row.TIER_ID ?? ''),
          status: String(row.SUB_STATUS ?? 'UNBLOCKED'),
          apiUuid: api.uuid,
          apiOrganization: api.tenantDomain,
          applicationUuid: application.uuid,
          subscriberId: application.subscriberId,
          subscriberUserId: subscriber.userId,
          subscriberTenantId: subscriber.tenantId,
          subscriberEmail: subscriber.email,
        },
      ];
    });
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

