import type { Knex } from 'knex';
import type { SubscriptionPolicy, SubscriptionRef, TenantRef } from '../domain/model';
import type { CoreApi, CoreApiMonetization, CoreRecords, CoreSubscription } from '../monetization/monetization';
import { ApiMonetizationStateRepository } from './api-monetization.repository';
import { ApisRepository, chunks } from './apis.repository';
import { ApplicationsRepository } from './applications.repository';
import { PoliciesRepository } from './policies.repository';
import { SubscribersRepository } from './subscribers.repository';
import { SubscriptionsRepository } from './subscriptions.repository';

type Db = Knex | Knex.Transaction;

export interface CoreRecordOwners {
  apis: ApisRepository;
  applications: ApplicationsRepository;
  subscribers: SubscribersRepository;
  subscriptions: SubscriptionsRepository;
  policies: PoliciesRepository;
  apiMonetization: ApiMonetizationStateRepository;
}

/** The oldest subscription of an (API, application) pair, with its API's tenant (see `subscriptionOfPair`). */
export interface PairSubscription {
  uuid: string;
  tier: string;
  createdTime: unknown;
  tenantDomain: string;
}

/** The core's records over one database, for callers that hold no repositories (tests, benches). */
export function apimCoreRecords(db: Knex): ApimCoreRecords {
  const apis = new ApisRepository(db);
  const applications = new ApplicationsRepository(db);
  const subscribers = new SubscribersRepository(db);
  return new ApimCoreRecords({
    apis,
    applications,
    subscribers,
    subscriptions: new SubscriptionsRepository(db, { apis, applications, subscribers }),
    policies: new PoliciesRepository(db),
    apiMonetization: new ApiMonetizationStateRepository(db),
  });
}

/**
 * What other parts may know of the API-Manager core's tables, answered by each table's owner (the
 * repositories of src/apim): the engine port (`CoreRecords`), the gateway status billing decides
 * (`statusOf`, `setStatusOf`) and the subscriptions usage bills (`subscriptionOfPair`,
 * `subscriptionRefs`). No other part reads or writes AM_* or ML_API_* tables.
 */
export class ApimCoreRecords implements CoreRecords {
  constructor(private readonly owners: CoreRecordOwners) {}

  // --- the engine port ----------------------------------------------------------------------

  apiByUuid(apiUuid: string): Promise<CoreApi | undefined> {
    return this.owners.apis.refByUuid(apiUuid);
  }

  async apiMonetization(apiId: number): Promise<CoreApiMonetization | undefined> {
    const state = await this.owners.apiMonetization.get(apiId);
    if (!state) return undefined;
    const api = (await this.owners.apis.refsByIds([apiId])).get(apiId);
    return api ? { api, ...state } : undefined;
  }

  async apiMonetizationsOfTenant(tenantDomain: string): Promise<CoreApiMonetization[]> {
    const apis = await this.owners.apis.refsOfTenant(tenantDomain);
    const states = await this.owners.apiMonetization.ofApis(apis.map((api) => api.id));
    return apis.flatMap((api) => {
      const state = states.get(api.id);
      return state ? [{ api, ...state }] : [];
    });
  }

  applicationIdOf(applicationUuid: string): Promise<number | undefined> {
    return this.owners.applications.idOf(applicationUuid);
  }

  async applicationUuidsOf(applicationIds: readonly number[]): Promise<Map<number, string>> {
    const refs = await this.owners.applications.refsOf(applicationIds);
    return new Map([...refs].map(([id, ref]) => [id, ref.uuid]));
  }

  subscriberIdOf(userId: string, tenantId: number): Promise<number | undefined> {
    return this.owners.subscribers.idOf(userId, tenantId);
  }

  async subscriberUserIdsOf(subscriberIds: readonly number[]): Promise<Map<number, string>> {
    const subscribers = await this.owners.subscribers.byIds(subscriberIds);
    return new Map([...subscribers].map(([id, subscriber]) => [id, subscriber.userId]));
  }

  async subscriptionByUuid(subscriptionUuid: string): Promise<CoreSubscription | undefined> {
    const keys = await this.owners.subscriptions.keysOf(subscriptionUuid);
    if (!keys) return undefined;
    const api = (await this.owners.apis.refsByIds([keys.apiId])).get(keys.apiId);
    return api ? { uuid: keys.uuid, apiId: keys.apiId, applicationId: keys.applicationId, tenantDomain: api.tenantDomain } : undefined;
  }

  /** Subscriptions by AM_SUBSCRIPTION.UUID (as stored), in a few queries; missing ones are left out. */
  async subscriptionsByUuids(subscriptionUuids: readonly string[]): Promise<Map<string, CoreSubscription>> {
    const keys = await this.owners.subscriptions.keysOfMany(subscriptionUuids);
    const apis = await this.owners.apis.refsByIds([...keys.values()].map((k) => k.apiId));
    const found = new Map<string, CoreSubscription>();
    for (const k of keys.values()) {
      const api = apis.get(k.apiId);
      if (api) found.set(k.uuid, { uuid: k.uuid, apiId: k.apiId, applicationId: k.applicationId, tenantDomain: api.tenantDomain });
    }
    return found;
  }

  async subscriptionUuidsOf(pairs: readonly { apiId: number; applicationId: number }[]): Promise<Map<string, string>> {
    const uuids = new Map<string, string>();
    for (const pair of pairs) {
      const key = `${pair.apiId}:${pair.applicationId}`;
      if (uuids.has(key)) continue;
      const keys = await this.owners.subscriptions.keysOfPair(pair.apiId, pair.applicationId);
      if (keys) uuids.set(key, keys.uuid);
    }
    return uuids;
  }

  async subscriptionUuidsOfTenant(tenantDomain: string): Promise<Set<string>> {
    const apis = await this.owners.apis.refsOfTenant(tenantDomain);
    return this.owners.subscriptions.uuidsOfApis(apis.map((api) => api.id));
  }

  // --- billing: the gateway status of a subscription ------------------------------------------

  /** AM_SUBSCRIPTION.SUB_STATUS and the API's tenant, read through `db` (billing's transaction). */
  async statusOf(subscriptionUuid: string, db?: Db): Promise<{ status: string; tenantDomain: string } | undefined> {
    const keys = await this.owners.subscriptions.keysOf(subscriptionUuid, db);
    if (!keys) return undefined;
    const api = (await this.owners.apis.refsByIds([keys.apiId], db)).get(keys.apiId);
    return api ? { status: keys.status, tenantDomain: api.tenantDomain } : undefined;
  }

  /** Sets AM_SUBSCRIPTION.SUB_STATUS in billing's transaction. */
  setStatusOf(db: Db, subscriptionUuid: string, status: string): Promise<void> {
    return this.owners.subscriptions.setStatusByUuid(db, subscriptionUuid, status);
  }

  // --- usage: which subscription a call is billed to ------------------------------------------

  /** The oldest subscription of an application to an API, by their UUIDs, with its API's tenant. */
  async subscriptionOfPair(apiUuid: string, applicationUuid: string): Promise<{ uuid: string; tier: string; createdTime: unknown; tenantDomain: string } | undefined> {
    const api = await this.owners.apis.refByUuid(apiUuid);
    const applicationId = api ? await this.owners.applications.idOf(applicationUuid) : undefined;
    if (!api || applicationId === undefined) return undefined;
    const keys = await this.owners.subscriptions.keysOfPair(api.id, applicationId);
    return keys ? { uuid: keys.uuid, tier: keys.tier, createdTime: keys.createdTime, tenantDomain: api.tenantDomain } : undefined;
  }

  /**
   * `subscriptionOfPair` for many pairs, answered in the pairs' order: the APIs, the applications
   * and the subscriptions each read in one query (per 400-500 keys). A pair whose API or
   * application is not found as written is asked again alone, so that its answer is exactly
   * `subscriptionOfPair`'s on a database that compares UUIDs ignoring case (MySQL's default
   * collation); only pairs no subscription answers pay for that.
   */
  async subscriptionsOfPairs(pairs: readonly (readonly [apiUuid: string, applicationUuid: string])[]): Promise<Array<PairSubscription | undefined>> {
    const apis = await this.owners.apis.refsByUuids(pairs.map(([api]) => api));
    const applicationIds = await this.owners.applications.idsOfUuids(pairs.filter(([api]) => apis.has(api)).map(([, application]) => application));
    const ids = pairs.map(([api, application]) => ({ api: apis.get(api), applicationId: applicationIds.get(application) }));
    const keys = await this.owners.subscriptions.keysOfPairs(ids.flatMap(({ api, applicationId }) => (api && applicationId !== undefined ? [{ apiId: api.id, applicationId }] : [])));
    const answers = ids.map(({ api, applicationId }) => {
      const k = api && applicationId !== undefined ? keys.get(`${api.id}:${applicationId}`) : undefined;
      return k && api ? { uuid: k.uuid, tier: k.tier, createdTime: k.createdTime, tenantDomain: api.tenantDomain } : undefined;
    });
    const unmatched = ids.flatMap(({ api, applicationId }, i) => (!api || applicationId === undefined ? [i] : []));
    // A few at a time: a batch of unknown pairs must not take the whole pool.
    let next = 0;
    const worker = async () => {
      while (next < unmatched.length) {
        const i = unmatched[next++]!;
        answers[i] = await this.subscriptionOfPair(pairs[i]![0], pairs[i]![1]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, unmatched.length) }, worker));
    return answers;
  }

  /**
   * A tenant's subscription policies by name (`policyByName` for many names), in one query per
   * 500 names; names without a policy are left out. A name not found as written is asked again
   * alone, for the same reason as in `subscriptionsOfPairs`.
   */
  async policiesByNames(tenant: TenantRef, names: readonly string[]): Promise<Map<string, SubscriptionPolicy>> {
    const found = new Map<string, SubscriptionPolicy>();
    const distinct = [...new Set(names)];
    for (const part of chunks(distinct)) {
      for (const policy of await this.owners.policies.findByNames(tenant, part)) {
        found.set(policy.name, { uuid: policy.uuid, name: policy.name, tenant, billingPlan: policy.billingPlan, pricing: policy.pricing });
      }
    }
    for (const name of distinct) {
      if (found.has(name)) continue;
      const policy = await this.policyByName(tenant, name);
      if (policy) found.set(name, policy);
    }
    return found;
  }

  /** A tenant's subscription policy by name, as an engine takes it; undefined when there is none. */
  async policyByName(tenant: TenantRef, name: string): Promise<SubscriptionPolicy | undefined> {
    const policy = await this.owners.policies.findByName(tenant, name);
    return policy ? { uuid: policy.uuid, name: policy.name, tenant, billingPlan: policy.billingPlan, pricing: policy.pricing } : undefined;
  }

  /** The subscriptions as the billing engine takes them, by AM_SUBSCRIPTION.UUID; missing ones are left out. */
  async subscriptionRefs(uuids: readonly string[], tenantIdOf: (domain: string) => number | undefined): Promise<Map<string, SubscriptionRef>> {
    const keys = await this.owners.subscriptions.keysOfMany(uuids);
    const apis = await this.owners.apis.refsByIds([...keys.values()].map((k) => k.apiId));
    const applications = await this.owners.applications.refsOf([...keys.values()].map((k) => k.applicationId));
    const subscribers = await this.owners.subscribers.byIds([...applications.values()].map((a) => a.subscriberId));
    const policies = new Map<string, SubscriptionPolicy | undefined>();
    const refs = new Map<string, SubscriptionRef>();
    for (const key of keys.values()) {
      const api = apis.get(key.apiId);
      const application = applications.get(key.applicationId);
      const subscriber = application ? subscribers.get(application.subscriberId) : undefined;
      if (!api || !application || !subscriber) continue;
      const tenant = { domain: api.tenantDomain, id: tenantIdOf(api.tenantDomain) ?? 0 };
      const policyKey = `${tenant.id}\u0000${key.tier}`;
      if (!policies.has(policyKey)) policies.set(policyKey, await this.policyByName(tenant, key.tier));
      const policy = policies.get(policyKey) ?? { uuid: '', name: key.tier, tenant, billingPlan: 'FREE' as const, pricing: null };
      refs.set(key.uuid, {
        uuid: key.uuid,
        api: { uuid: api.uuid, name: api.name, version: api.version, provider: api.provider, tenant },
        application: { uuid: application.uuid, name: application.name },
        subscriber,
        policy,
      });
    }
    return refs;
  }
}
