import type { BillingCycle } from '../../src/domain/model';
import type { EngineDelivery, EngineDeliveryStatus, EngineStore } from '../../src/monetization/monetization';
import { isUniqueViolation } from '../../src/db/errors';

const PLAN = 'ML_INTEGRATION_PLAN';
const API_TIER = 'ML_INTEGRATION_API_TIER';
const SUBSCRIPTION = 'ML_INTEGRATION_SUBSCRIPTION';
const DELIVERY = 'ML_INTEGRATION_DELIVERY';
const INVOICE = 'ML_INTEGRATION_INVOICE';

export interface SubscriptionRow {
  subscriptionUuid: string;
  tenantDomain: string;
  apiUuid: string;
  applicationUuid: string;
  planCode: string;
  accountCode: string;
  externalSubscriptionId: string;
  currency: string;
  billingCycle: BillingCycle;
  anchorAt: Date;
  cancelledAt: Date | null;
}

/** A delivery as stored: the log's view plus the body sent and what a usage report reports. */
export interface DeliveryRow extends EngineDelivery {
  body: string;
  /** The Meterline subscription a usage report or a deletion concerns. */
  subscriptionUuid: string | null;
}

export interface NewDelivery {
  id: string;
  tenantDomain: string;
  operation: string;
  messageId: string;
  mode: 'sync' | 'async';
  body: string;
  createdAt: Date;
  subscriptionUuid?: string;
  usage?: { quantity: number; windowStart: Date };
}

type Row = Record<string, unknown>;

const ms = (value: unknown): number => Number(value);
const dateOrNull = (value: unknown): Date | null => (value === null || value === undefined ? null : new Date(ms(value)));

function toSubscription(row: Row): SubscriptionRow {
  return {
    subscriptionUuid: String(row.SUBSCRIPTION_UUID),
    tenantDomain: String(row.TENANT_DOMAIN),
    apiUuid: String(row.API_UUID),
    applicationUuid: String(row.APPLICATION_UUID),
    planCode: String(row.PLAN_CODE),
    accountCode: String(row.ACCOUNT_CODE),
    externalSubscriptionId: String(row.EXTERNAL_SUBSCRIPTION_ID),
    currency: String(row.CURRENCY),
    billingCycle: String(row.BILLING_CYCLE) as BillingCycle,
    anchorAt: new Date(ms(row.ANCHOR_AT)),
    cancelledAt: dateOrNull(row.CANCELLED_AT),
  };
}

function toDelivery(row: Row): DeliveryRow {
  return {
    id: String(row.ID),
    tenantDomain: String(row.TENANT_DOMAIN),
    operation: String(row.OPERATION),
    messageId: String(row.MESSAGE_ID),
    mode: String(row.MODE) as 'sync' | 'async',
    status: String(row.STATUS) as EngineDeliveryStatus,
    attempts: Number(row.ATTEMPTS),
    nextAttemptAt: dateOrNull(row.NEXT_ATTEMPT_AT),
    lastError: row.LAST_ERROR === null || row.LAST_ERROR === undefined ? null : String(row.LAST_ERROR),
    createdAt: new Date(ms(row.CREATED_AT)),
    deliveredAt: dateOrNull(row.DELIVERED_AT),
    body: String(row.BODY),
    subscriptionUuid: row.SUBSCRIPTION_UUID === null || row.SUBSCRIPTION_UUID === undefined ? null : String(row.SUBSCRIPTION_UUID),
  };
}

/** The HTTP integration engine's own tables (its migration), and nothing else. */
export class HttpIntegrationRepository {
  constructor(private readonly db: EngineStore) {}

  async setPlanCode(input: { policyUuid: string; tenantDomain: string; policyName: string; planCode: string; at: Date }): Promise<void> {
    const values = { TENANT_DOMAIN: input.tenantDomain, POLICY_NAME: input.policyName, PLAN_CODE: input.planCode, UPDATED_AT: input.at.getTime() };
    await this.db.transaction(async (trx) => {
      const changed = await trx(PLAN).where({ POLICY_UUID: input.policyUuid }).update(values);
      if (changed === 0) await trx(PLAN).insert({ POLICY_UUID: input.policyUuid, ...values });
    });
  }

  async planCode(policyUuid: string): Promise<string | undefined> {
    const row = (await this.db(PLAN).where({ POLICY_UUID: policyUuid }).first()) as Row | undefined;
    return row ? String(row.PLAN_CODE) : undefined;
  }

  async forgetPlan(policyUuid: string): Promise<void> {
    await this.db(PLAN).where({ POLICY_UUID: policyUuid }).delete();
  }

  /** The API's monetized tiers (tier → plan code), replacing what was recorded. */
  async setApiTiers(apiUuid: string, tiers: Record<string, string>): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx(API_TIER).where({ API_UUID: apiUuid }).delete();
      const rows = Object.entries(tiers).map(([tier, planCode]) => ({ API_UUID: apiUuid, TIER_NAME: tier, PLAN_CODE: planCode }));
      if (rows.length > 0) await trx(API_TIER).insert(rows);
    });
  }

  async apiTiers(apiUuid: string): Promise<Record<string, string>> {
    const rows = (await this.db(API_TIER).where({ API_UUID: apiUuid }).orderBy('TIER_NAME')) as Row[];
    return Object.fromEntries(rows.map((r) => [String(r.TIER_NAME), String(r.PLAN_CODE)]));
  }

  async subscription(subscriptionUuid: string): Promise<SubscriptionRow | undefined> {
    const row = (await this.db(SUBSCRIPTION).where({ SUBSCRIPTION_UUID: subscriptionUuid }).first()) as Row | undefined;
    return row ? toSubscription(row) : undefined;
  }

  async subscriptions(subscriptionUuids: readonly string[]): Promise<SubscriptionRow[]> {
    const found: SubscriptionRow[] = [];
    for (let i = 0; i < subscriptionUuids.length; i += 500) {
      const rows = (await this.db(SUBSCRIPTION).whereIn('SUBSCRIPTION_UUID', subscriptionUuids.slice(i, i + 500))) as Row[];
      found.push(...rows.map(toSubscription));
    }
    return found;
  }

  async liveSubscriptionsOfTenant(tenantDomain: string): Promise<SubscriptionRow[]> {
    const rows = (await this.db(SUBSCRIPTION).where({ TENANT_DOMAIN: tenantDomain }).whereNull('CANCELLED_AT').orderBy('SUBSCRIPTION_UUID')) as Row[];
    return rows.map(toSubscription);
  }

  /** Records a billed subscription, or (a retry, or billed again after a cancel) replaces the record with what the integration answered now. */
  async recordSubscription(row: SubscriptionRow): Promise<void> {
    const values = {
      TENANT_DOMAIN: row.tenantDomain,
      API_UUID: row.apiUuid,
      APPLICATION_UUID: row.applicationUuid,
      PLAN_CODE: row.planCode,
      ACCOUNT_CODE: row.accountCode,
      EXTERNAL_SUBSCRIPTION_ID: row.externalSubscriptionId,
      CURRENCY: row.currency,
      BILLING_CYCLE: row.billingCycle,
      ANCHOR_AT: row.anchorAt.getTime(),
      CANCELLED_AT: null,
    };
    try {
      await this.db(SUBSCRIPTION).insert({ SUBSCRIPTION_UUID: row.subscriptionUuid, ...values });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      // A retry keeps the first anchor; only a revived (cancelled) one is anchored again.
      const existing = await this.subscription(row.subscriptionUuid);
      const anchor = existing && existing.cancelledAt === null ? existing.anchorAt.getTime() : values.ANCHOR_AT;
      await this.db(SUBSCRIPTION).where({ SUBSCRIPTION_UUID: row.subscriptionUuid }).update({ ...values, ANCHOR_AT: anchor });
    }
  }

  async cancelSubscription(subscriptionUuid: string, at: Date): Promise<boolean> {
    const changed = await this.db(SUBSCRIPTION).where({ SUBSCRIPTION_UUID: subscriptionUuid }).whereNull('CANCELLED_AT').update({ CANCELLED_AT: at.getTime() });
    return changed > 0;
  }

  /** Inserts a delivery; when one with its message id exists, answers that one instead (nothing inserted). */
  async insertDelivery(delivery: NewDelivery, status: EngineDeliveryStatus, nextAttemptAt: Date | null): Promise<{ row: DeliveryRow; inserted: boolean }> {
    try {
      await this.db(DELIVERY).insert({
        ID: delivery.id,
        TENANT_DOMAIN: delivery.tenantDomain,
        OPERATION: delivery.operation,
        MESSAGE_ID: delivery.messageId,
        MODE: delivery.mode,
        BODY: delivery.body,
        STATUS: status,
        ATTEMPTS: 0,
        NEXT_ATTEMPT_AT: nextAttemptAt?.getTime() ?? null,
        LAST_ERROR: null,
        CREATED_AT: delivery.createdAt.getTime(),
        DELIVERED_AT: null,
        SUBSCRIPTION_UUID: delivery.subscriptionUuid ?? null,
        QUANTITY: delivery.usage?.quantity ?? null,
        WINDOW_START: delivery.usage?.windowStart.getTime() ?? null,
      });
      return { row: (await this.delivery(delivery.id))!, inserted: true };
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const existing = await this.deliveryByMessage(delivery.tenantDomain, delivery.messageId);
      if (!existing) throw error;
      return { row: existing, inserted: false };
    }
  }

  async delivery(id: string): Promise<DeliveryRow | undefined> {
    const row = (await this.db(DELIVERY).where({ ID: id }).first()) as Row | undefined;
    return row ? toDelivery(row) : undefined;
  }

  async deliveryByMessage(tenantDomain: string, messageId: string): Promise<DeliveryRow | undefined> {
    const row = (await this.db(DELIVERY).where({ TENANT_DOMAIN: tenantDomain, MESSAGE_ID: messageId }).first()) as Row | undefined;
    return row ? toDelivery(row) : undefined;
  }

  /** The outcome of one attempt. */
  async recordAttempt(id: string, outcome: { status: EngineDeliveryStatus; attempts: number; nextAttemptAt: Date | null; lastError: string | null; deliveredAt: Date | null }): Promise<void> {
    await this.db(DELIVERY)
      .where({ ID: id })
      .update({
        STATUS: outcome.status,
        ATTEMPTS: outcome.attempts,
        NEXT_ATTEMPT_AT: outcome.nextAttemptAt?.getTime() ?? null,
        LAST_ERROR: outcome.lastError === null ? null : outcome.lastError.slice(0, 1000),
        DELIVERED_AT: outcome.deliveredAt?.getTime() ?? null,
      });
  }

  /** Async deliveries due at `now` (PENDING or FAILED, their next attempt reached), oldest first. */
  async due(now: Date, limit: number): Promise<DeliveryRow[]> {
    const rows = (await this.db(DELIVERY)
      .where({ MODE: 'async' })
      .whereIn('STATUS', ['PENDING', 'FAILED'])
      .where('NEXT_ATTEMPT_AT', '<=', now.getTime())
      .orderBy('NEXT_ATTEMPT_AT')
      .orderBy('ID')
      .limit(limit)) as Row[];
    return rows.map(toDelivery);
  }

  /**
   * Claims a due delivery for one attempt: moves its next attempt to `leaseUntil` only if nobody
   * changed it since it was read, so two processes never send the same attempt at once.
   */
  async claim(row: DeliveryRow, leaseUntil: Date): Promise<boolean> {
    const changed = await this.db(DELIVERY)
      .where({ ID: row.id, STATUS: row.status, ATTEMPTS: row.attempts, NEXT_ATTEMPT_AT: row.nextAttemptAt?.getTime() ?? null })
      .update({ NEXT_ATTEMPT_AT: leaseUntil.getTime() });
    return changed > 0;
  }

  async list(tenantDomain: string, filter: { status?: EngineDeliveryStatus; limit: number; offset: number }): Promise<{ total: number; list: DeliveryRow[] }> {
    const where = (q: ReturnType<EngineStore>) => {
      q.where({ TENANT_DOMAIN: tenantDomain });
      if (filter.status) q.where({ STATUS: filter.status });
      return q;
    };
    const counted = (await where(this.db(DELIVERY)).count({ TOTAL: '*' })) as Array<{ TOTAL: number | string }>;
    const rows = (await where(this.db(DELIVERY)).orderBy('CREATED_AT', 'desc').orderBy('ID', 'desc').limit(filter.limit).offset(filter.offset)) as Row[];
    return { total: Number(counted[0]?.TOTAL ?? 0), list: rows.map(toDelivery) };
  }

  /** Whether usage reports of the subscription are still to be delivered (PENDING or FAILED). */
  async usageInFlight(subscriptionUuid: string): Promise<boolean> {
    const row = (await this.db(DELIVERY).where({ SUBSCRIPTION_UUID: subscriptionUuid, OPERATION: 'usage.reported' }).whereIn('STATUS', ['PENDING', 'FAILED']).first('ID')) as Row | undefined;
    return row !== undefined;
  }

  /** Units of a subscription's usage reports (not DEAD) whose windows start in [from, to). */
  async reportedUsage(subscriptionUuid: string, from: Date, to: Date): Promise<number> {
    const rows = (await this.db(DELIVERY)
      .where({ SUBSCRIPTION_UUID: subscriptionUuid, OPERATION: 'usage.reported' })
      .whereNot({ STATUS: 'DEAD' })
      .where('WINDOW_START', '>=', from.getTime())
      .where('WINDOW_START', '<', to.getTime())
      .sum({ TOTAL: 'QUANTITY' })) as Array<{ TOTAL: number | string | null }>;
    return Number(rows[0]?.TOTAL ?? 0);
  }

  /** Records an invoice as the integration last reported it. */
  async recordInvoice(input: { tenantDomain: string; invoiceId: string; subscriptionUuid: string; currency: string; status: string; amountPaid: bigint }): Promise<void> {
    const values = { SUBSCRIPTION_UUID: input.subscriptionUuid, CURRENCY: input.currency, STATUS: input.status, AMOUNT_PAID: input.amountPaid.toString() };
    const changed = await this.db(INVOICE).where({ TENANT_DOMAIN: input.tenantDomain, INVOICE_ID: input.invoiceId }).update(values);
    if (changed > 0) return;
    try {
      await this.db(INVOICE).insert({ TENANT_DOMAIN: input.tenantDomain, INVOICE_ID: input.invoiceId, ...values });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      await this.db(INVOICE).where({ TENANT_DOMAIN: input.tenantDomain, INVOICE_ID: input.invoiceId }).update(values);
    }
  }

  /** Amounts paid on the invoices of an API's subscriptions, per subscription and currency. */
  async paidOfApi(apiUuid: string): Promise<Array<{ subscriptionUuid: string; currency: string; amount: bigint }>> {
    const rows = (await this.db(INVOICE)
      .join(SUBSCRIPTION, `${SUBSCRIPTION}.SUBSCRIPTION_UUID`, `${INVOICE}.SUBSCRIPTION_UUID`)
      .where(`${SUBSCRIPTION}.API_UUID`, apiUuid)
      .select(`${INVOICE}.SUBSCRIPTION_UUID as SUBSCRIPTION_UUID`, `${INVOICE}.CURRENCY as CURRENCY`, `${INVOICE}.AMOUNT_PAID as AMOUNT_PAID`)) as Row[];
    return rows.map((r) => ({ subscriptionUuid: String(r.SUBSCRIPTION_UUID), currency: String(r.CURRENCY), amount: BigInt(String(r.AMOUNT_PAID)) }));
  }
}
