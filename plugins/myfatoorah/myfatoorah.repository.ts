import type { BillingCycle } from '../../src/domain/model';
import type { EngineStore } from '../../src/monetization/monetization';
import { isUniqueViolation } from '../../src/db/errors';

const API_PLAN = 'ML_MYFATOORAH_API_PLAN';
const SUBSCRIPTION = 'ML_MYFATOORAH_SUBSCRIPTION';
const INVOICE = 'ML_MYFATOORAH_INVOICE';
const SEND = 'ML_MYFATOORAH_SEND';

export interface SubscriptionRow {
  subscriptionUuid: string;
  engineSubscriptionId: string;
  tenantDomain: string;
  apiUuid: string;
  applicationUuid: string;
  currency: string;
  billingCycle: BillingCycle;
  anchorAt: Date;
  cancelledAt: Date | null;
}

export type SubmittedStatus = 'OPEN' | 'PAID' | 'VOID';

export interface InvoiceRow {
  invoiceId: string;
  mfInvoiceId: string;
  tenantDomain: string;
  subscriptionUuid: string;
  kind: string;
  currency: string;
  total: bigint;
  periodStart: Date;
  periodEnd: Date;
  invoiceUrl: string | null;
  status: SubmittedStatus;
  createdAt: Date;
  /** When the pay link stops working (the ExpiryDate sent); null for invoices recorded before it was kept. */
  expiresAt: Date | null;
}

/** A SendPayment that got no answer: none goes out again for the invoice before `settlesAt` (see the migration). */
export interface UnansweredSend {
  invoiceId: string;
  sentAt: Date;
  settlesAt: Date;
}

type Row = Record<string, unknown>;

const ms = (value: unknown): number => Number(value);

function toSubscription(row: Row): SubscriptionRow {
  return {
    subscriptionUuid: String(row.SUBSCRIPTION_UUID),
    engineSubscriptionId: String(row.ENGINE_SUBSCRIPTION_ID),
    tenantDomain: String(row.TENANT_DOMAIN),
    apiUuid: String(row.API_UUID),
    applicationUuid: String(row.APPLICATION_UUID),
    currency: String(row.CURRENCY),
    billingCycle: String(row.BILLING_CYCLE) as BillingCycle,
    anchorAt: new Date(ms(row.ANCHOR_AT)),
    cancelledAt: row.CANCELLED_AT === null || row.CANCELLED_AT === undefined ? null : new Date(ms(row.CANCELLED_AT)),
  };
}

function toInvoice(row: Row): InvoiceRow {
  return {
    invoiceId: String(row.INVOICE_ID),
    mfInvoiceId: String(row.MF_INVOICE_ID),
    tenantDomain: String(row.TENANT_DOMAIN),
    subscriptionUuid: String(row.SUBSCRIPTION_UUID),
    kind: String(row.KIND),
    currency: String(row.CURRENCY),
    total: BigInt(String(row.TOTAL)),
    periodStart: new Date(ms(row.PERIOD_START)),
    periodEnd: new Date(ms(row.PERIOD_END)),
    invoiceUrl: row.INVOICE_URL === null || row.INVOICE_URL === undefined ? null : String(row.INVOICE_URL),
    status: String(row.STATUS) as SubmittedStatus,
    createdAt: new Date(ms(row.CREATED_AT)),
    expiresAt: row.EXPIRES_AT === null || row.EXPIRES_AT === undefined ? null : new Date(ms(row.EXPIRES_AT)),
  };
}

/** The MyFatoorah engine's own tables (its migration), and nothing else. */
export class MyFatoorahRepository {
  constructor(private readonly db: EngineStore) {}

  /** The API's COMMERCIAL tiers as enabled, replacing what was recorded. */
  async setApiPlans(apiUuid: string, plans: Record<string, string>): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx(API_PLAN).where({ API_UUID: apiUuid }).delete();
      const rows = Object.entries(plans).map(([tier, policy]) => ({ API_UUID: apiUuid, TIER_NAME: tier, POLICY_UUID: policy }));
      if (rows.length > 0) await trx(API_PLAN).insert(rows);
    });
  }

  async apiPlans(apiUuid: string): Promise<Record<string, string>> {
    const rows = (await this.db(API_PLAN).where({ API_UUID: apiUuid }).orderBy('TIER_NAME')) as Row[];
    return Object.fromEntries(rows.map((r) => [String(r.TIER_NAME), String(r.POLICY_UUID)]));
  }

  async subscription(subscriptionUuid: string): Promise<SubscriptionRow | undefined> {
    const row = (await this.db(SUBSCRIPTION).where({ SUBSCRIPTION_UUID: subscriptionUuid }).first()) as Row | undefined;
    return row ? toSubscription(row) : undefined;
  }

  /** The recorded subscriptions among the UUIDs (cancelled ones too), in chunks. */
  async subscriptions(subscriptionUuids: readonly string[]): Promise<SubscriptionRow[]> {
    const found: SubscriptionRow[] = [];
    for (let i = 0; i < subscriptionUuids.length; i += 500) {
      const chunk = subscriptionUuids.slice(i, i + 500);
      const rows = (await this.db(SUBSCRIPTION).whereIn('SUBSCRIPTION_UUID', chunk)) as Row[];
      found.push(...rows.map(toSubscription));
    }
    return found;
  }

  async liveSubscriptionsOfTenant(tenantDomain: string): Promise<SubscriptionRow[]> {
    const rows = (await this.db(SUBSCRIPTION).where({ TENANT_DOMAIN: tenantDomain }).whereNull('CANCELLED_AT').orderBy('SUBSCRIPTION_UUID')) as Row[];
    return rows.map(toSubscription);
  }

  /** Records a billed subscription; an existing record (a retry, a concurrent subscribe) is answered as it is. */
  async recordSubscription(row: SubscriptionRow): Promise<SubscriptionRow> {
    try {
      await this.db(SUBSCRIPTION).insert({
        SUBSCRIPTION_UUID: row.subscriptionUuid,
        ENGINE_SUBSCRIPTION_ID: row.engineSubscriptionId,
        TENANT_DOMAIN: row.tenantDomain,
        API_UUID: row.apiUuid,
        APPLICATION_UUID: row.applicationUuid,
        CURRENCY: row.currency,
        BILLING_CYCLE: row.billingCycle,
        ANCHOR_AT: row.anchorAt.getTime(),
        CANCELLED_AT: null,
      });
      return row;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const existing = await this.subscription(row.subscriptionUuid);
      if (!existing) throw error;
      return existing;
    }
  }

  /** Marks it cancelled (kept: its final invoice and its events still name it); false when there is no live one. */
  async cancelSubscription(subscriptionUuid: string, at: Date): Promise<boolean> {
    const changed = await this.db(SUBSCRIPTION).where({ SUBSCRIPTION_UUID: subscriptionUuid }).whereNull('CANCELLED_AT').update({ CANCELLED_AT: at.getTime() });
    return changed > 0;
  }

  /** Bills a cancelled subscription again, its cycle anchored at `at`. */
  async reviveSubscription(subscriptionUuid: string, at: Date): Promise<void> {
    await this.db(SUBSCRIPTION).where({ SUBSCRIPTION_UUID: subscriptionUuid }).whereNotNull('CANCELLED_AT').update({ CANCELLED_AT: null, ANCHOR_AT: at.getTime() });
  }

  async invoice(invoiceId: string): Promise<InvoiceRow | undefined> {
    const row = (await this.db(INVOICE).where({ INVOICE_ID: invoiceId }).first()) as Row | undefined;
    return row ? toInvoice(row) : undefined;
  }

  async invoiceByMfId(tenantDomain: string, mfInvoiceId: string): Promise<InvoiceRow | undefined> {
    const row = (await this.db(INVOICE).where({ TENANT_DOMAIN: tenantDomain, MF_INVOICE_ID: mfInvoiceId }).first()) as Row | undefined;
    return row ? toInvoice(row) : undefined;
  }

  /** Records a submitted invoice; when another submission recorded it first, answers that record. */
  async recordInvoice(row: InvoiceRow): Promise<InvoiceRow> {
    try {
      await this.db(INVOICE).insert({
        INVOICE_ID: row.invoiceId,
        MF_INVOICE_ID: row.mfInvoiceId,
        TENANT_DOMAIN: row.tenantDomain,
        SUBSCRIPTION_UUID: row.subscriptionUuid,
        KIND: row.kind,
        CURRENCY: row.currency,
        TOTAL: row.total.toString(),
        PERIOD_START: row.periodStart.getTime(),
        PERIOD_END: row.periodEnd.getTime(),
        INVOICE_URL: row.invoiceUrl,
        STATUS: row.status,
        CREATED_AT: row.createdAt.getTime(),
        EXPIRES_AT: row.expiresAt === null ? null : row.expiresAt.getTime(),
      });
      await this.db(SEND).where({ INVOICE_ID: row.invoiceId }).delete();
      return row;
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const existing = await this.invoice(row.invoiceId);
      if (!existing) throw error;
      return existing;
    }
  }

  /** Moves an invoice's confirmed status forward only: OPEN → PAID or VOID; PAID and VOID stay. */
  async advanceInvoiceStatus(invoiceId: string, status: SubmittedStatus): Promise<void> {
    if (status === 'OPEN') return;
    await this.db(INVOICE).where({ INVOICE_ID: invoiceId, STATUS: 'OPEN' }).update({ STATUS: status });
  }

  /** OPEN invoices whose pay link expired at or before `now`, the longest expired first. */
  async openExpired(now: Date, limit: number): Promise<InvoiceRow[]> {
    const rows = (await this.db(INVOICE)
      .where({ STATUS: 'OPEN' })
      .whereNotNull('EXPIRES_AT')
      .where('EXPIRES_AT', '<=', now.getTime())
      .orderBy([{ column: 'EXPIRES_AT' }, { column: 'INVOICE_ID' }])
      .limit(limit)) as Row[];
    return rows.map(toInvoice);
  }

  async unansweredSend(invoiceId: string): Promise<UnansweredSend | undefined> {
    const row = (await this.db(SEND).where({ INVOICE_ID: invoiceId }).first()) as Row | undefined;
    return row ? { invoiceId, sentAt: new Date(ms(row.SENT_AT)), settlesAt: new Date(ms(row.SETTLES_AT)) } : undefined;
  }

  /** Notes a SendPayment about to go out (replacing an earlier one's note); `forgetSend` once it was answered. */
  async noteSend(invoiceId: string, tenantDomain: string, sentAt: Date, settlesAt: Date): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx(SEND).where({ INVOICE_ID: invoiceId }).delete();
      await trx(SEND).insert({ INVOICE_ID: invoiceId, TENANT_DOMAIN: tenantDomain, SENT_AT: sentAt.getTime(), SETTLES_AT: settlesAt.getTime() });
    });
  }

  async forgetSend(invoiceId: string): Promise<void> {
    await this.db(SEND).where({ INVOICE_ID: invoiceId }).delete();
  }

  /** Paid invoices of an API's subscriptions: subscription, currency and total. */
  async paidInvoicesOfApi(apiUuid: string): Promise<Array<{ subscriptionUuid: string; currency: string; total: bigint }>> {
    const rows = (await this.db(INVOICE)
      .join(SUBSCRIPTION, `${SUBSCRIPTION}.SUBSCRIPTION_UUID`, `${INVOICE}.SUBSCRIPTION_UUID`)
      .where(`${SUBSCRIPTION}.API_UUID`, apiUuid)
      .where(`${INVOICE}.STATUS`, 'PAID')
      .select(`${INVOICE}.SUBSCRIPTION_UUID as SUBSCRIPTION_UUID`, `${INVOICE}.CURRENCY as CURRENCY`, `${INVOICE}.TOTAL as TOTAL`)) as Row[];
    return rows.map((r) => ({ subscriptionUuid: String(r.SUBSCRIPTION_UUID), currency: String(r.CURRENCY), total: BigInt(String(r.TOTAL)) }));
  }
}
