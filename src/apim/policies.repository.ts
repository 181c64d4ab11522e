import type { Knex } from 'knex';
import { dialectOf, storedName } from '../db/dialect';
import type { BillingCycle, PolicyPricing, TenantRef, UsageRate } from '../domain/model';
import type { PolicyInput, PolicyRecord, QuotaLimit } from './model';
import { tiersFromJson, tiersToJson } from './policy-prices';

type Db = Knex | Knex.Transaction;

const COLUMNS = [
  'UUID', 'NAME', 'DISPLAY_NAME', 'DESCRIPTION', 'QUOTA_TYPE', 'QUOTA', 'QUOTA_UNIT', 'UNIT_TIME', 'TIME_UNIT',
  'BILLING_PLAN', 'MONETIZATION_PLAN', 'FIXED_RATE', 'BILLING_CYCLE', 'PRICE_PER_REQUEST', 'CURRENCY',
] as const;

/** WSO2's QUOTA_TYPE values for each ThrottleLimit kind. */
const QUOTA_TYPES = { REQUESTCOUNTLIMIT: 'requestCount', BANDWIDTHLIMIT: 'bandwidthVolume', EVENTCOUNTLIMIT: 'eventCount' } as const;

/** Meterline's pricing beyond WSO2's columns (migration 20261201000800_policy_pricing). */
const PRICING_TABLE = 'ML_POLICY_PRICING';
const PRICING_COLUMNS = ['POLICY_UUID', 'SETUP_FEE', 'USAGE_MODEL', 'TIERS', 'PACKAGE_SIZE', 'PACKAGE_PRICE'] as const;

/**
 * AM_POLICY_SUBSCRIPTION, always within one tenant (TENANT_ID), and beside it ML_POLICY_PRICING:
 * the setup fee and usage model of a policy that has them (docs/pricing.md), one row per policy,
 * written with the policy in the caller's transaction. A policy without that row (every policy of
 * an attached WSO2 database) charges what WSO2's columns say. Prices stay the exact decimal
 * strings the caller gave; the currency is stored upper case, as WSO2's admin portal writes it.
 */
export class PoliciesRepository {
  constructor(private readonly db: Knex) {}

  private isDeployedColumn: Promise<boolean> | undefined;

  /**
   * WSO2's IS_DEPLOYED (not in Meterline's own schema), asked once per process. WSO2 sets it once
   * the policy is deployed to its gateways; Meterline's API answers `isDeployed: true` for every
   * policy it holds, so it writes true, and a WSO2 gateway sharing the database sees it deployed.
   */
  private hasIsDeployed(db: Db): Promise<boolean> {
    const dialect = dialectOf(this.db);
    // Asked through `db`: inside the caller's transaction on SQLite's single connection.
    this.isDeployedColumn ??= db.schema.hasColumn(storedName(dialect, 'AM_POLICY_SUBSCRIPTION'), storedName(dialect, 'IS_DEPLOYED'));
    return this.isDeployedColumn;
  }

  async insert(tenant: TenantRef, uuid: string, input: PolicyInput, db: Db = this.db): Promise<void> {
    const deployed = (await this.hasIsDeployed(db)) ? { IS_DEPLOYED: true } : {};
    await db('AM_POLICY_SUBSCRIPTION').insert({ UUID: uuid, TENANT_ID: tenant.id, ...toColumns(input), ...deployed });
    // A new policy has no pricing row to replace: only one with the new keys writes the table.
    const columns = pricingColumns(input.pricing);
    if (columns) await db(PRICING_TABLE).insert({ POLICY_UUID: uuid, ...columns });
  }

  async update(tenant: TenantRef, uuid: string, input: PolicyInput, db: Db = this.db): Promise<void> {
    await db('AM_POLICY_SUBSCRIPTION').where({ TENANT_ID: tenant.id, UUID: uuid }).update(toColumns(input));
    // The service found the policy first; MySQL counts changed rows, not matched ones, so no check here.
    await this.writePricing(uuid, input.pricing, db);
  }

  async delete(tenant: TenantRef, uuid: string, db: Db = this.db): Promise<void> {
    // The foreign key cascades too; deleting first keeps it right where foreign keys are off.
    const policy = db('AM_POLICY_SUBSCRIPTION').where({ TENANT_ID: tenant.id, UUID: uuid }).select('UUID');
    await db(PRICING_TABLE).whereIn('POLICY_UUID', policy).delete();
    await db('AM_POLICY_SUBSCRIPTION').where({ TENANT_ID: tenant.id, UUID: uuid }).delete();
  }

  async findByUuid(tenant: TenantRef, uuid: string): Promise<PolicyRecord | undefined> {
    const row = await this.db('AM_POLICY_SUBSCRIPTION').where({ TENANT_ID: tenant.id, UUID: uuid }).first(COLUMNS);
    return row ? (await this.withPricing([row], tenant, this.db))[0] : undefined;
  }

  async findByName(tenant: TenantRef, name: string, db: Db = this.db): Promise<PolicyRecord | undefined> {
    const row = await db('AM_POLICY_SUBSCRIPTION').where({ TENANT_ID: tenant.id, NAME: name }).first(COLUMNS);
    return row ? (await this.withPricing([row], tenant, db))[0] : undefined;
  }

  async findByNames(tenant: TenantRef, names: readonly string[]): Promise<PolicyRecord[]> {
    if (names.length === 0) return [];
    const rows = await this.db('AM_POLICY_SUBSCRIPTION').where({ TENANT_ID: tenant.id }).whereIn('NAME', [...names]).select(COLUMNS);
    return this.withPricing(rows, tenant, this.db);
  }

  async list(tenant: TenantRef): Promise<PolicyRecord[]> {
    const rows = await this.db('AM_POLICY_SUBSCRIPTION').where({ TENANT_ID: tenant.id }).orderBy('NAME').select(COLUMNS);
    return this.withPricing(rows, tenant, this.db);
  }

  /** Replaces the policy's ML_POLICY_PRICING row: none when its pricing has nothing beyond WSO2's columns. */
  private async writePricing(uuid: string, pricing: PolicyPricing | null, db: Db): Promise<void> {
    await db(PRICING_TABLE).where({ POLICY_UUID: uuid }).delete();
    const columns = pricingColumns(pricing);
    if (columns) await db(PRICING_TABLE).insert({ POLICY_UUID: uuid, ...columns });
  }

  /** Policy rows as records, with their ML_POLICY_PRICING rows (one query for all, in chunks). */
  private async withPricing(rows: Array<Record<string, unknown>>, tenant: TenantRef, db: Db): Promise<PolicyRecord[]> {
    const commercial = rows.filter((row) => row.BILLING_PLAN === 'COMMERCIAL').map((row) => String(row.UUID));
    const extras = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < commercial.length; i += 500) {
      const found = await db(PRICING_TABLE).whereIn('POLICY_UUID', commercial.slice(i, i + 500)).select(PRICING_COLUMNS);
      for (const extra of found) extras.set(String(extra.POLICY_UUID), extra);
    }
    return rows.map((row) => fromRow(row, tenant, extras.get(String(row.UUID))));
  }
}

/** The ML_POLICY_PRICING columns of a pricing, or null when it has nothing WSO2's columns lack. */
function pricingColumns(pricing: PolicyPricing | null): Record<string, unknown> | null {
  if (!pricing) return null;
  const rate = pricing.plan === 'DYNAMICRATE' ? pricing.usageRate : undefined;
  if (pricing.setupFee === undefined && !rate) return null;
  return {
    SETUP_FEE: pricing.setupFee ?? null,
    USAGE_MODEL: rate?.model ?? null,
    TIERS: rate && (rate.model === 'graduated' || rate.model === 'volume') ? tiersToJson(rate.tiers) : null,
    PACKAGE_SIZE: rate?.model === 'package' ? rate.packageSize : null,
    PACKAGE_PRICE: rate?.model === 'package' ? rate.packagePrice : null,
  };
}

function toColumns(input: PolicyInput): Record<string, unknown> {
  const { limit, pricing } = input;
  return {
    NAME: input.name,
    DISPLAY_NAME: input.displayName ?? input.name,
    DESCRIPTION: input.description,
    QUOTA_TYPE: QUOTA_TYPES[limit.type],
    QUOTA: limit.type === 'REQUESTCOUNTLIMIT' ? limit.requestCount : limit.type === 'BANDWIDTHLIMIT' ? limit.dataAmount : limit.eventCount,
    QUOTA_UNIT: limit.type === 'BANDWIDTHLIMIT' ? limit.dataUnit : null,
    UNIT_TIME: limit.unitTime,
    TIME_UNIT: limit.timeUnit,
    BILLING_PLAN: input.billingPlan,
    MONETIZATION_PLAN: pricing?.plan ?? null,
    // FIXEDRATE: the price; DYNAMICRATE: the optional base fee per cycle.
    FIXED_RATE: pricing?.fixedPrice ?? null,
    PRICE_PER_REQUEST: pricing?.plan === 'DYNAMICRATE' ? pricing.pricePerRequest : null,
    BILLING_CYCLE: pricing?.billingCycle ?? null,
    CURRENCY: pricing ? pricing.currency.toUpperCase() : null,
  };
}

function fromRow(row: Record<string, unknown>, tenant: TenantRef, extra?: Record<string, unknown>): PolicyRecord {
  const text = (value: unknown) => (value === null || value === undefined ? null : String(value));
  return {
    uuid: String(row.UUID),
    name: String(row.NAME),
    displayName: text(row.DISPLAY_NAME),
    description: text(row.DESCRIPTION),
    tenant,
    limit: limitFrom(row),
    billingPlan: row.BILLING_PLAN === 'COMMERCIAL' ? 'COMMERCIAL' : 'FREE',
    pricing: row.BILLING_PLAN === 'COMMERCIAL' ? withExtras(pricingFrom(row), extra) : null,
  };
}

function limitFrom(row: Record<string, unknown>): QuotaLimit {
  const timeUnit = String(row.TIME_UNIT);
  const unitTime = Number(row.UNIT_TIME);
  const quota = Number(row.QUOTA);
  if (row.QUOTA_TYPE === QUOTA_TYPES.BANDWIDTHLIMIT) {
    return { type: 'BANDWIDTHLIMIT', timeUnit, unitTime, dataAmount: quota, dataUnit: String(row.QUOTA_UNIT ?? 'KB') };
  }
  if (row.QUOTA_TYPE === QUOTA_TYPES.EVENTCOUNTLIMIT) return { type: 'EVENTCOUNTLIMIT', timeUnit, unitTime, eventCount: quota };
  return { type: 'REQUESTCOUNTLIMIT', timeUnit, unitTime, requestCount: quota };
}

/** A COMMERCIAL row back as typed pricing; a row WSO2 left incomplete reads as unpriced. */
function pricingFrom(row: Record<string, unknown>): PolicyPricing | null {
  const currency = row.CURRENCY ? String(row.CURRENCY).toLowerCase() : undefined;
  const billingCycle = (row.BILLING_CYCLE ? String(row.BILLING_CYCLE).toLowerCase() : 'month') as BillingCycle;
  if (!currency) return null;
  if (row.MONETIZATION_PLAN === 'DYNAMICRATE' && row.PRICE_PER_REQUEST) {
    const base = row.FIXED_RATE ? { fixedPrice: String(row.FIXED_RATE) } : {};
    return { plan: 'DYNAMICRATE', currency, billingCycle, pricePerRequest: String(row.PRICE_PER_REQUEST), ...base };
  }
  if (row.MONETIZATION_PLAN === 'FIXEDRATE' && row.FIXED_RATE) {
    return { plan: 'FIXEDRATE', currency, billingCycle, fixedPrice: String(row.FIXED_RATE) };
  }
  return null;
}

/** WSO2's pricing with Meterline's additions from its ML_POLICY_PRICING row, when it has one. */
function withExtras(pricing: PolicyPricing | null, extra: Record<string, unknown> | undefined): PolicyPricing | null {
  if (!pricing || !extra) return pricing;
  const setupFee = extra.SETUP_FEE ? { setupFee: String(extra.SETUP_FEE) } : {};
  if (pricing.plan === 'FIXEDRATE') return { ...pricing, ...setupFee };
  const usageRate = usageRateFrom(extra, pricing.pricePerRequest);
  return { ...pricing, ...setupFee, ...(usageRate ? { usageRate } : {}) };
}

function usageRateFrom(extra: Record<string, unknown>, pricePerRequest: string): UsageRate | undefined {
  const model = extra.USAGE_MODEL;
  if (model === 'per_unit') return { model, unitPrice: pricePerRequest };
  if ((model === 'graduated' || model === 'volume') && extra.TIERS) return { model, tiers: tiersFromJson(String(extra.TIERS)) };
  if (model === 'package' && extra.PACKAGE_SIZE && extra.PACKAGE_PRICE) {
    return { model, packageSize: Number(extra.PACKAGE_SIZE), packagePrice: String(extra.PACKAGE_PRICE) };
  }
  return undefined;
}
