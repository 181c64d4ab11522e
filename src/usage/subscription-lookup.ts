import type { SubscriptionPolicy, SubscriptionRef, TenantRef } from '../domain/model';
import type { Monetization } from '../monetization/monetization';

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
  subscriptionRefs(uuids: readonly string[], tenantIdOf: (domain: string) => number | undefined): Promise<Map<string, SubscriptionRef>>;
}

/**
 * Decides whether calls of an application to an API are billed per request: the application
 * subscribes to the API (asked of the core), the engine bills the subscription (asked of the
 * engine: `billedSubscriptionOf`), and its tier is a COMMERCIAL DYNAMICRATE policy. Answers are
 * cached for `ttlMs` (ingestion asks once per pair, not once per event).
 */
export class SubscriptionLookup {
  private readonly cache = new Map<string, { value: SubscriptionBilling; until: number }>();

  constructor(
    private readonly gateway: GatewaySubscriptions,
    private readonly engine: Pick<Monetization, 'billedSubscriptionOf'>,
    private readonly tenantIdOf: (domain: string) => number | undefined,
    private readonly ttlMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  async billingOf(apiUuid: string, applicationUuid: string): Promise<SubscriptionBilling> {
    const key = `${apiUuid}\u0000${applicationUuid}`;
    const cached = this.cache.get(key);
    const now = this.now();
    if (cached && cached.until > now) return cached.value;
    const value = await this.read(apiUuid, applicationUuid);
    if (this.ttlMs > 0) {
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(key, { value, until: now + this.ttlMs });
    }
    return value;
  }

  private async read(apiUuid: string, applicationUuid: string): Promise<SubscriptionBilling> {
    const subscription = await this.gateway.subscriptionOfPair(apiUuid, applicationUuid);
    if (!subscription) return { subscriptionUuid: null, tenantDomain: null, startedAt: null, notBillable: 'UNKNOWN_SUBSCRIPTION' };
    const { tenantDomain } = subscription;
    const base = { subscriptionUuid: subscription.uuid, tenantDomain, startedAt: utcTimestampMillis(subscription.createdTime) };
    if ((await this.engine.billedSubscriptionOf(subscription.uuid)) === null) return { ...base, notBillable: 'NOT_MONETIZED' };
    const tenantId = this.tenantIdOf(tenantDomain);
    const policy = tenantId === undefined ? undefined : await this.gateway.policyByName({ domain: tenantDomain, id: tenantId }, subscription.tier);
    const dynamic = policy?.billingPlan === 'COMMERCIAL' && policy.pricing?.plan === 'DYNAMICRATE';
    return { ...base, notBillable: dynamic ? null : 'NOT_DYNAMIC_PLAN' };
  }

  /** The subscriptions as the billing engine takes them, by AM_SUBSCRIPTION.UUID; missing ones are left out. */
  subscriptionRefs(uuids: readonly string[]): Promise<Map<string, SubscriptionRef>> {
    return this.gateway.subscriptionRefs(uuids, this.tenantIdOf);
  }
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
