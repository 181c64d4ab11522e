import type { Knex } from 'knex';
import type { BillingPlanKind, PolicyPricing, SubscriptionRef } from '../domain/model';

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
 * Reads the gateway and monetization tables to decide whether calls of an application to an API
 * are billed per request: the application subscribes to the API, the subscription is billed by
 * the engine (AM_MONETIZATION_SUBSCRIPTIONS), and its tier is a COMMERCIAL DYNAMICRATE policy.
 * Answers are cached for `ttlMs` (ingestion asks once per pair, not once per event).
 */
export class SubscriptionLookup {
  private readonly cache = new Map<string, { value: SubscriptionBilling; until: number }>();

  constructor(
    private readonly db: Knex,
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
    const row = await this.db('AM_SUBSCRIPTION as s')
      .join('AM_API as a', 'a.API_ID', 's.API_ID')
      .join('AM_APPLICATION as app', 'app.APPLICATION_ID', 's.APPLICATION_ID')
      .leftJoin('AM_MONETIZATION_SUBSCRIPTIONS as ms', function billed() {
        this.on('ms.SUBSCRIBED_API_ID', '=', 's.API_ID').andOn('ms.SUBSCRIBED_APPLICATION_ID', '=', 's.APPLICATION_ID');
      })
      .where({ 'a.API_UUID': apiUuid, 'app.UUID': applicationUuid })
      .first('s.UUID as SUB_UUID', 's.TIER_ID', 's.CREATED_TIME', 'a.ORGANIZATION', 'ms.ID as BILLED_ID');
    if (!row) return { subscriptionUuid: null, tenantDomain: null, startedAt: null, notBillable: 'UNKNOWN_SUBSCRIPTION' };
    const tenantDomain = String(row.ORGANIZATION);
    const base = { subscriptionUuid: String(row.SUB_UUID), tenantDomain, startedAt: utcTimestampMillis(row.CREATED_TIME) };
    if (row.BILLED_ID === null || row.BILLED_ID === undefined) return { ...base, notBillable: 'NOT_MONETIZED' };
    const tenantId = this.tenantIdOf(tenantDomain);
    const policy =
      tenantId === undefined
        ? undefined
        : await this.db('AM_POLICY_SUBSCRIPTION').where({ NAME: row.TIER_ID, TENANT_ID: tenantId }).first('BILLING_PLAN', 'MONETIZATION_PLAN');
    const dynamic = policy?.BILLING_PLAN === 'COMMERCIAL' && policy?.MONETIZATION_PLAN === 'DYNAMICRATE';
    return { ...base, notBillable: dynamic ? null : 'NOT_DYNAMIC_PLAN' };
  }

  /** The subscriptions as the billing engine takes them, by AM_SUBSCRIPTION.UUID; missing ones are left out. */
  async subscriptionRefs(uuids: readonly string[]): Promise<Map<string, SubscriptionRef>> {
    const refs = new Map<string, SubscriptionRef>();
    this.policies.clear();
    for (let i = 0; i < uuids.length; i += 500) {
      const rows = await this.db('AM_SUBSCRIPTION as s')
        .join('AM_API as a', 'a.API_ID', 's.API_ID')
        .join('AM_APPLICATION as app', 'app.APPLICATION_ID', 's.APPLICATION_ID')
        .join('AM_SUBSCRIBER as sub', 'sub.SUBSCRIBER_ID', 'app.SUBSCRIBER_ID')
        .whereIn('s.UUID', uuids.slice(i, i + 500))
        .select(
          's.UUID as SUB_UUID',
          's.TIER_ID',
          'a.API_UUID',
          'a.API_NAME',
          'a.API_VERSION',
          'a.API_PROVIDER',
          'a.ORGANIZATION',
          'app.UUID as APP_UUID',
          'app.NAME as APP_NAME',
          'sub.USER_ID',
          'sub.EMAIL_ADDRESS',
        );
      for (const row of rows) {
        const domain = String(row.ORGANIZATION);
        const tenant = { domain, id: this.tenantIdOf(domain) ?? 0 };
        const policy = await this.policy(String(row.TIER_ID), tenant.id);
        refs.set(String(row.SUB_UUID), {
          uuid: String(row.SUB_UUID),
          api: { uuid: String(row.API_UUID), name: String(row.API_NAME), version: String(row.API_VERSION), provider: String(row.API_PROVIDER), tenant },
          application: { uuid: String(row.APP_UUID), name: String(row.APP_NAME) },
          subscriber: { userId: String(row.USER_ID), email: row.EMAIL_ADDRESS === null ? null : String(row.EMAIL_ADDRESS) },
          policy: { uuid: policy.uuid, name: String(row.TIER_ID), tenant, billingPlan: policy.billingPlan, pricing: policy.pricing },
        });
      }
    }
    return refs;
  }

  private readonly policies = new Map<string, { uuid: string; billingPlan: BillingPlanKind; pricing: PolicyPricing | null }>();

  private async policy(name: string, tenantId: number) {
    const key = `${tenantId}\u0000${name}`;
    const known = this.policies.get(key);
    if (known) return known;
    const row = await this.db('AM_POLICY_SUBSCRIPTION')
      .where({ NAME: name, TENANT_ID: tenantId })
      .first('UUID', 'BILLING_PLAN', 'MONETIZATION_PLAN', 'PRICE_PER_REQUEST', 'FIXED_RATE', 'BILLING_CYCLE', 'CURRENCY');
    const billingPlan: BillingPlanKind = row?.BILLING_PLAN === 'COMMERCIAL' ? 'COMMERCIAL' : 'FREE';
    let pricing: PolicyPricing | null = null;
    if (row && billingPlan === 'COMMERCIAL') {
      const common = { currency: String(row.CURRENCY ?? ''), billingCycle: (row.BILLING_CYCLE ?? 'month') as 'month' };
      pricing =
        row.MONETIZATION_PLAN === 'DYNAMICRATE'
          ? { plan: 'DYNAMICRATE', ...common, pricePerRequest: String(row.PRICE_PER_REQUEST ?? '0') }
          : { plan: 'FIXEDRATE', ...common, fixedPrice: String(row.FIXED_RATE ?? '0') };
    }
    const policy = { uuid: row ? String(row.UUID) : '', billingPlan, pricing };
    if (this.policies.size > 10_000) this.policies.clear();
    this.policies.set(key, policy);
    return policy;
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
