import type { SubscriptionPolicy, SubscriptionRef, TenantRef } from '../domain/model';
import type { EngineSubscriptionRecord, Monetization } from '../monetization/monetization';

/** Why a stored event is not billed. */
export type NotBillableReason =
  | 'UNSUCCESSFUL_CALL'
  | 'UNKNOWN_SUBSCRIPTION'
  | 'SUBSCRIPTION_MISMATCH'
  | 'TENANT_MISMATCH'
  | 'NOT_MONETIZED'
  | 'NOT_DYNAMIC_PLAN'
  | 'BEFORE_SUBSCRIPTION';

/** What the gateway tables say about one (API, application) pair. */
export interface SubscriptionBilling {
  subscriptionUuid: string | null;
  /** The API's tenant (AM_API.ORGANIZATION). */
  tenantDomain: string | null;
  /**
   * When the subscription began (AM_SUBSCRIPTION.CREATED_TIME), epoch ms; null when unknown (no
   * subscription, or a row written without the time). Calls before it are not billed.
   */
  startedAt: number | null;
  /** Null when the pair is billed per request; otherwise why it is not. */
  notBillable: Exclude<NotBillableReason, 'UNSUCCESSFUL_CALL' | 'SUBSCRIPTION_MISMATCH' | 'TENANT_MISMATCH' | 'BEFORE_SUBSCRIPTION'> | null;
}

/**
 * What usage needs of the API-Manager core's subscriptions, answered by their owner
 * (src/apim/core-records.ts): usage reads no AM_* table itself.
 */
export interface GatewaySubscriptions {
  /** The oldest subscription of an application to an API, by their UUIDs, with its API's tenant. */
  subscriptionOfPair(apiUuid: string, applicationUuid: string): Promise<{ uuid: string; tier: string; createdTime: unknown; tenantDomain: string } | undefined>;
  policyByName(tenant: TenantRef, name: string): Promise<SubscriptionPolicy | undefined>;
  /**
   * `subscriptionOfPair` for many pairs in a few queries, answered in the pairs' order. Optional:
   * without it (or `policiesByNames`) the lookup reads pair by pair.
   */
  subscriptionsOfPairs?(pairs: readonly (readonly [apiUuid: string, applicationUuid: string])[]): Promise<Array<PairSubscription | undefined>>;
  /** `policyByName` for many names of one tenant in a few queries; names without a policy are left out. */
  policiesByNames?(tenant: TenantRef, names: readonly string[]): Promise<Map<string, SubscriptionPolicy>>;
  subscriptionRefs(uuids: readonly string[], tenantIdOf: (domain: string) => number | undefined): Promise<Map<string, SubscriptionRef>>;
}

/** The oldest subscription of an (API, application) pair, with its API's tenant. */
export interface PairSubscription {
  uuid: string;
  tier: string;
  createdTime: unknown;
  tenantDomain: string;
}

/**
 * The engine's `billedSubscriptionsOf`, or, for an engine without it, its `billedSubscriptionOf`
 * once per subscription (PARALLEL_READS at a time): the billed ones by UUID.
 */
export async function billedSubscriptionsOf(
  engine: Pick<Monetization, 'billedSubscriptionOf' | 'billedSubscriptionsOf'>,
  subscriptionUuids: readonly string[],
): Promise<Map<string, EngineSubscriptionRecord>> {
  if (subscriptionUuids.length === 0) return new Map();
  if (engine.billedSubscriptionsOf) return engine.billedSubscriptionsOf(subscriptionUuids);
  const billed = new Map<string, EngineSubscriptionRecord>();
  const uuids = [...new Set(subscriptionUuids)];
  let next = 0;
  const worker = async () => {
    while (next < uuids.length) {
      const uuid = uuids[next++]!;
      const record = await engine.billedSubscriptionOf(uuid);
      if (record !== null) billed.set(uuid, record);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, uuids.length) }, worker));
  return billed;
}

/** An (API, application) pair as `billingOfPairs` takes and answers it. */
export function pairKey(apiUuid: string, applicationUuid: string): string {
  return `${apiUuid}\u0000${applicationUuid}`;
}

/** Reads under way at once when read one by one: enough to overlap round trips, few enough to leave the pool to others. */
const PARALLEL_READS = 4;

/** The part of `ttlMs` left when an answer in use is read again in the background. */
const REFRESH_WHEN_LEFT = 0.25;

interface Cached {
  value: Promise<SubscriptionBilling>;
  /** `value` once it has resolved: a batch takes it as it is, with no await per pair. */
  answer?: SubscriptionBilling;
  until: number;
  /** The background read of the pair under way, if any. */
  next?: Promise<SubscriptionBilling>;
  refreshing: boolean;
}

interface PairRead {
  apiUuid: string;
  applicationUuid: string;
}

/**
 * Decides whether calls of an application to an API are billed per request: the application
 * subscribes to the API (asked of the core), the engine bills the subscription (asked of the
 * engine: `billedSubscriptionOf`), and its tier is a COMMERCIAL DYNAMICRATE policy. The pairs a
 * batch misses are read together, in a few queries whatever their number, when the core and the
 * engine answer in bulk (`subscriptionsOfPairs`, `policiesByNames`, `billedSubscriptionsOf`);
 * otherwise one by one, PARALLEL_READS at a time. Answers are
 * cached for `ttlMs` (ingestion asks once per pair, not once per event); a pair being read is
 * read once, however many batches ask for it meanwhile. An answer still in use in the last
 * quarter of its `ttlMs` is read again in the background, so a steady stream of batches does not
 * wait for the reads each time the answers expire; no answer older than `ttlMs` is ever given
 * (when the background read is late, the batch waits for it as for any read).
 */
export class SubscriptionLookup {
  /** Answers by API, then application: found per event without building a key (`cachedBilling`). */
  private readonly cache = new Map<string, Map<string, Cached>>();
  private cachedPairs = 0;
  /** Pairs found in their last quarter, to be read again in the background (`refreshCached`). */
  private refreshDue: PairRead[] = [];

  constructor(
    private readonly gateway: GatewaySubscriptions,
    private readonly engine: Pick<Monetization, 'billedSubscriptionOf' | 'billedSubscriptionsOf'>,
    private readonly tenantIdOf: (domain: string) => number | undefined,
    private readonly ttlMs = 5_000,
    /** The lookup's clock (epoch ms): a batch reads it once for all its `cachedBilling` calls. */
    readonly now: () => number = Date.now,
  ) {}

  async billingOf(apiUuid: string, applicationUuid: string): Promise<SubscriptionBilling> {
    return (await this.billingOfPairs([[apiUuid, applicationUuid]])).get(pairKey(apiUuid, applicationUuid))!;
  }

  /**
   * The pair's answer when it is cached, read and fresh at `now` (`this.now()` read once per
   * batch), else undefined: the batch then asks `billingOfKeyedPairs` for it. Ingestion asks per
   * event, so a batch of cached pairs builds no key and no map of its pairs. An answer in the last
   * quarter of its time is read again in the background, as `billingOfKeyedPairs` does (the reads
   * start at the batch's next `billingOfKeyedPairs` or `refreshCached`).
   */
  cachedBilling(apiUuid: string, applicationUuid: string, now: number): SubscriptionBilling | undefined {
    const cached = this.entryOf(apiUuid, applicationUuid);
    if (cached === undefined || cached.answer === undefined || cached.until <= now) return undefined;
    this.refreshIfDue(cached, apiUuid, applicationUuid, now);
    return cached.answer;
  }

  /** Queues a fresh answer in the last quarter of its time for a background read, once. */
  private refreshIfDue(cached: Cached, apiUuid: string, applicationUuid: string, now: number): void {
    if (cached.refreshing || cached.until - now > this.ttlMs * REFRESH_WHEN_LEFT) return;
    cached.refreshing = true;
    this.refreshDue.push({ apiUuid, applicationUuid });
  }

  /** Starts the background reads found due. */
  refreshCached(now: number): void {
    if (this.refreshDue.length === 0) return;
    const due = this.refreshDue;
    this.refreshDue = [];
    void this.refresh(due, now);
  }

  private entryOf(apiUuid: string, applicationUuid: string): Cached | undefined {
    return this.cache.get(apiUuid)?.get(applicationUuid);
  }

  private setEntry(apiUuid: string, applicationUuid: string, entry: Cached): void {
    let ofApi = this.cache.get(apiUuid);
    if (ofApi === undefined) this.cache.set(apiUuid, (ofApi = new Map()));
    if (!ofApi.has(applicationUuid)) this.cachedPairs += 1;
    ofApi.set(applicationUuid, entry);
  }

  /** Forgets the pair's entry if it is still `entry`. */
  private deleteEntry(apiUuid: string, applicationUuid: string, entry: Cached): void {
    const ofApi = this.cache.get(apiUuid);
    if (ofApi?.get(applicationUuid) !== entry) return;
    ofApi.delete(applicationUuid);
    this.cachedPairs -= 1;
    if (ofApi.size === 0) this.cache.delete(apiUuid);
  }

  private forgetAll(): void {
    this.cache.clear();
    this.cachedPairs = 0;
  }

  /**
   * The answers for a batch's pairs, by `pairKey`: the distinct pairs not cached read together
   * (see the class), and each tenant's policy read once per call however many pairs are on it.
   */
  billingOfPairs(pairs: Iterable<readonly [apiUuid: string, applicationUuid: string]>): Promise<Map<string, SubscriptionBilling>> {
    const keyed = new Map<string, readonly [apiUuid: string, applicationUuid: string]>();
    for (const pair of pairs) keyed.set(pairKey(pair[0], pair[1]), pair);
    return this.billingOfKeyedPairs(keyed);
  }

  /**
   * `billingOfPairs` of pairs already keyed by `pairKey` (ingestion keys its batch's pairs
   * anyway). A cached answer is taken as it is; only reads under way are awaited.
   */
  async billingOfKeyedPairs(pairs: ReadonlyMap<string, readonly [apiUuid: string, applicationUuid: string]>): Promise<Map<string, SubscriptionBilling>> {
    const now = this.now();
    const answers = new Map<string, SubscriptionBilling>();
    const pending: Array<readonly [key: string, value: Promise<SubscriptionBilling>]> = [];
    const toRead: Array<PairRead & { resolve: (value: Promise<SubscriptionBilling>) => void }> = [];
    for (const [key, [apiUuid, applicationUuid]] of pairs) {
      const cached = this.entryOf(apiUuid, applicationUuid);
      if (cached && cached.until > now) {
        if (cached.answer !== undefined) answers.set(key, cached.answer);
        else pending.push([key, cached.value]);
        this.refreshIfDue(cached, apiUuid, applicationUuid, now);
        continue;
      }
      // Expired while its background read is under way: that read is fresher than any other.
      if (cached?.next !== undefined) {
        pending.push([key, cached.next]);
        continue;
      }
      let resolve!: (value: Promise<SubscriptionBilling>) => void;
      const value = new Promise<SubscriptionBilling>((r) => (resolve = r));
      pending.push([key, value]);
      toRead.push({ apiUuid, applicationUuid, resolve });
      if (this.ttlMs > 0) {
        if (this.cachedPairs > 100_000) this.forgetAll();
        const entry: Cached = { value, until: now + this.ttlMs, refreshing: false };
        this.setEntry(apiUuid, applicationUuid, entry);
        value.then(
          (answer) => {
            entry.answer = answer;
          },
          // A failed read is not remembered: the next batch reads the pair again.
          () => {
            this.deleteEntry(apiUuid, applicationUuid, entry);
          },
        );
      }
    }
    this.refreshCached(now);
    if (toRead.length > 0) await this.readAll(toRead, (item, value) => item.resolve(value));
    for (const [key, value] of pending) answers.set(key, await value);
    return answers;
  }

  /**
   * Reads the pairs again and caches the answers from `startedAt` (no later than the reads
   * begin, so an answer never outlives `ttlMs`). A failed read leaves the older answer to expire.
   */
  private async refresh(items: readonly PairRead[], startedAt: number): Promise<void> {
    await this.readAll(items, (item, value) => {
      const cached = this.entryOf(item.apiUuid, item.applicationUuid);
      if (cached) cached.next = value;
      value.then(
        (answer) => {
          const current = this.entryOf(item.apiUuid, item.applicationUuid);
          if (current === undefined || current.until < startedAt + this.ttlMs) {
            this.setEntry(item.apiUuid, item.applicationUuid, { value: Promise.resolve(answer), answer, until: startedAt + this.ttlMs, refreshing: false });
          }
        },
        () => {
          const current = this.entryOf(item.apiUuid, item.applicationUuid);
          if (current?.next === value) {
            current.next = undefined;
            current.refreshing = false;
          }
        },
      );
    });
  }

  /** Reads the pairs, in bulk when the core can; never rejects (`use` gets each read). */
  private async readAll<T extends PairRead>(items: readonly T[], use: (item: T, value: Promise<SubscriptionBilling>) => void): Promise<void> {
    if (this.gateway.subscriptionsOfPairs === undefined || this.gateway.policiesByNames === undefined) return this.readOneByOne(items, use);
    const answers = this.readTogether(items, this.gateway.subscriptionsOfPairs.bind(this.gateway), this.gateway.policiesByNames.bind(this.gateway));
    items.forEach((item, i) => use(item, answers.then((all) => all[i]!)));
    await answers.catch(() => undefined);
  }

  /**
   * The pairs' answers in their order, in a few queries whatever their number: their
   * subscriptions, which of those the engine bills, and the policies of those (per tenant).
   */
  private async readTogether(
    items: readonly PairRead[],
    subscriptionsOfPairs: NonNullable<GatewaySubscriptions['subscriptionsOfPairs']>,
    policiesByNames: NonNullable<GatewaySubscriptions['policiesByNames']>,
  ): Promise<SubscriptionBilling[]> {
    const subscriptions = await subscriptionsOfPairs(items.map((item) => [item.apiUuid, item.applicationUuid] as const));
    const billed = await billedSubscriptionsOf(this.engine, [...new Set(subscriptions.flatMap((s) => (s ? [s.uuid] : [])))]);
    const tiersOfTenant = new Map<string, Set<string>>();
    for (const s of subscriptions) {
      if (!s || !billed.has(s.uuid) || this.tenantIdOf(s.tenantDomain) === undefined) continue;
      const tiers = tiersOfTenant.get(s.tenantDomain) ?? new Set<string>();
      tiersOfTenant.set(s.tenantDomain, tiers.add(s.tier));
    }
    const policies = new Map<string, Map<string, SubscriptionPolicy>>();
    await Promise.all(
      [...tiersOfTenant].map(async ([domain, tiers]) => {
        policies.set(domain, await policiesByNames({ domain, id: this.tenantIdOf(domain)! }, [...tiers]));
      }),
    );
    return subscriptions.map((subscription) => {
      if (!subscription) return { subscriptionUuid: null, tenantDomain: null, startedAt: null, notBillable: 'UNKNOWN_SUBSCRIPTION' };
      const { tenantDomain } = subscription;
      const base = { subscriptionUuid: subscription.uuid, tenantDomain, startedAt: utcTimestampMillis(subscription.createdTime) };
      if (!billed.has(subscription.uuid)) return { ...base, notBillable: 'NOT_MONETIZED' };
      const policy = policies.get(tenantDomain)?.get(subscription.tier);
      return { ...base, notBillable: isDynamic(policy) ? null : 'NOT_DYNAMIC_PLAN' };
    });
  }

  /** Reads the pairs one by one, up to PARALLEL_READS at a time, each tenant's policy once; never rejects. */
  private async readOneByOne<T extends PairRead>(items: readonly T[], use: (item: T, value: Promise<SubscriptionBilling>) => void): Promise<void> {
    const policies = new Map<string, Promise<SubscriptionPolicy | undefined>>();
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const item = items[next++]!;
        const value = this.read(item.apiUuid, item.applicationUuid, policies);
        use(item, value);
        await value.catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, items.length) }, worker));
  }

  private async read(apiUuid: string, applicationUuid: string, policies: Map<string, Promise<SubscriptionPolicy | undefined>>): Promise<SubscriptionBilling> {
    const subscription = await this.gateway.subscriptionOfPair(apiUuid, applicationUuid);
    if (!subscription) return { subscriptionUuid: null, tenantDomain: null, startedAt: null, notBillable: 'UNKNOWN_SUBSCRIPTION' };
    const { tenantDomain } = subscription;
    const base = { subscriptionUuid: subscription.uuid, tenantDomain, startedAt: utcTimestampMillis(subscription.createdTime) };
    if ((await this.engine.billedSubscriptionOf(subscription.uuid)) === null) return { ...base, notBillable: 'NOT_MONETIZED' };
    const tenantId = this.tenantIdOf(tenantDomain);
    const policyKey = JSON.stringify([tenantDomain, subscription.tier]);
    let policyRead = policies.get(policyKey);
    if (policyRead === undefined && tenantId !== undefined) {
      policyRead = this.gateway.policyByName({ domain: tenantDomain, id: tenantId }, subscription.tier);
      policies.set(policyKey, policyRead);
    }
    const policy = policyRead === undefined ? undefined : await policyRead;
    return { ...base, notBillable: isDynamic(policy) ? null : 'NOT_DYNAMIC_PLAN' };
  }

  /** The subscriptions as the billing engine takes them, by AM_SUBSCRIPTION.UUID; missing ones are left out. */
  subscriptionRefs(uuids: readonly string[]): Promise<Map<string, SubscriptionRef>> {
    return this.gateway.subscriptionRefs(uuids, this.tenantIdOf);
  }
}

/** Whether calls on the policy are billed per request. */
function isDynamic(policy: SubscriptionPolicy | undefined): boolean {
  return policy?.billingPlan === 'COMMERCIAL' && policy.pricing?.plan === 'DYNAMICRATE';
}

/**
 * A gateway timestamp (zone-less, holding UTC: docs/database.md "Timestamps") as epoch ms, or
 * null. pg and mysql2 build a Date from the stored fields in the process's local zone, so the
 * fields are read back as they were stored; SQLite returns the stored text (or epoch ms, when a
 * Date was written through knex).
 */
export function utcTimestampMillis(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) {
    const ms = Date.UTC(value.getFullYear(), value.getMonth(), value.getDate(), value.getHours(), value.getMinutes(), value.getSeconds(), value.getMilliseconds());
    return Number.isNaN(ms) ? null : ms;
  }
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  const text = String(value).trim().replace(' ', 'T');
  const ms = Date.parse(/(Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text}Z`);
  return Number.isNaN(ms) ? null : ms;
}
