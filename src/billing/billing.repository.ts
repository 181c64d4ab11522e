import type { Knex } from 'knex';
import { payLink, type InvoiceStatus } from '../monetization/billing-events';
import type { InvoiceRecord, SubscriptionBillingRow } from './model';

type Db = Knex | Knex.Transaction;

/**
 * The gateway's own state of a subscription (AM_SUBSCRIPTION.SUB_STATUS), which billing decides
 * but the API-Manager core owns (src/apim/core-records.ts answers). `db` is billing's transaction,
 * so a status commits with the records that decided it.
 */
export interface GatewaySubscriptionStatus {
  statusOf(subscriptionUuid: string, db?: Db): Promise<{ status: string; tenantDomain: string } | undefined>;
  setStatusOf(db: Db, subscriptionUuid: string, status: string): Promise<void>;
}

/** Every query over ML_INVOICE, ML_SUBSCRIPTION_BILLING and ML_WEBHOOK_EVENT; the gateway status is asked of its owner. */
export class BillingRepository {
  constructor(
    private readonly db: Knex,
    private readonly gateway: GatewaySubscriptionStatus,
  ) {}

  transaction<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(work);
  }

  // --- webhook deliveries ------------------------------------------------------------------

  /** Records an applied delivery by its event id (the primary key refuses a second one). */
  async recordEvent(trx: Db, event: { id: string; tenantDomain: string; type: string; outcome: string; at: Date }): Promise<void> {
    await trx('ML_WEBHOOK_EVENT').insert({
      EVENT_ID: event.id,
      TENANT_DOMAIN: event.tenantDomain,
      EVENT_TYPE: event.type,
      OUTCOME: event.outcome,
      RECEIVED_AT: event.at.getTime(),
    });
  }

  async eventSeen(trx: Db, eventId: string): Promise<boolean> {
    return (await trx('ML_WEBHOOK_EVENT').where({ EVENT_ID: eventId }).first('EVENT_ID')) !== undefined;
  }

  // --- invoices ----------------------------------------------------------------------------

  async invoiceByEngineId(trx: Db, engineInvoiceId: string): Promise<InvoiceRecord | undefined> {
    const row = await trx('ML_INVOICE').where({ ENGINE_INVOICE_ID: engineInvoiceId }).first();
    return row ? toInvoice(row) : undefined;
  }

  async insertInvoice(trx: Db, record: Omit<InvoiceRecord, 'invoiceId'>, now: Date): Promise<void> {
    await trx('ML_INVOICE').insert({ ...invoiceColumns(record, now), CREATED_AT: record.createdAt.getTime() });
  }

  async updateInvoice(trx: Db, invoiceId: number, record: Omit<InvoiceRecord, 'invoiceId' | 'createdAt'>, now: Date): Promise<void> {
    await trx('ML_INVOICE').where({ INVOICE_ID: invoiceId }).update(invoiceColumns(record, now));
  }

  async invoicesOfSubscription(subscriptionUuid: string, db: Db = this.db): Promise<InvoiceRecord[]> {
    const rows = await db('ML_INVOICE').where({ SUBSCRIPTION_UUID: subscriptionUuid }).orderBy([{ column: 'PERIOD_START', order: 'desc' }, { column: 'INVOICE_ID', order: 'desc' }]);
    return rows.map(toInvoice);
  }

  async invoicesOfApi(apiUuid: string): Promise<InvoiceRecord[]> {
    const rows = await this.db('ML_INVOICE').where({ API_UUID: apiUuid }).orderBy([{ column: 'PERIOD_START', order: 'desc' }, { column: 'INVOICE_ID', order: 'desc' }]);
    return rows.map(toInvoice);
  }

  /**
   * Invoices that arrived before their subscription was recorded: attach those of its engine
   * subscription, tenant and (once known) account now.
   */
  async adoptInvoices(trx: Db, subscription: SubscriptionBillingRow): Promise<void> {
    await trx('ML_INVOICE')
      .where({ ENGINE_SUBSCRIPTION_ID: subscription.engineSubscriptionId, TENANT_DOMAIN: subscription.tenantDomain })
      .modify((query) => {
        if (subscription.engineAccount !== null) query.where({ ENGINE_ACCOUNT: subscription.engineAccount });
      })
      .whereNull('API_UUID')
      .update({ SUBSCRIPTION_UUID: subscription.subscriptionUuid, API_UUID: subscription.apiUuid, APPLICATION_UUID: subscription.applicationUuid });
  }

  // --- subscription standing -----------------------------------------------------------------

  /** Outside a transaction when `trx` is undefined. */
  async subscriptionByEngineId(trx: Db | undefined, engineSubscriptionId: string): Promise<SubscriptionBillingRow | undefined> {
    const row = await (trx ?? this.db)('ML_SUBSCRIPTION_BILLING').where({ ENGINE_SUBSCRIPTION_ID: engineSubscriptionId }).first();
    return row ? toStanding(row) : undefined;
  }

  async subscriptionByUuid(subscriptionUuid: string, db: Db = this.db): Promise<SubscriptionBillingRow | undefined> {
    const row = await db('ML_SUBSCRIPTION_BILLING').where({ SUBSCRIPTION_UUID: subscriptionUuid }).first();
    return row ? toStanding(row) : undefined;
  }

  /** Billed subscriptions with an unpaid failing invoice that the engine has not cancelled (the grace-expiry pass). */
  async failingSubscriptions(): Promise<SubscriptionBillingRow[]> {
    const rows = (await this.db('ML_SUBSCRIPTION_BILLING').whereNotNull('FAILING_SINCE').whereNull('CANCELLED_AT').orderBy('SUBSCRIPTION_UUID')) as Array<Record<string, unknown>>;
    return rows.map(toStanding);
  }

  /** The billed subscriptions the engine has not cancelled, of every tenant, by UUID. */
  async liveSubscriptionUuids(): Promise<string[]> {
    const rows = (await this.db('ML_SUBSCRIPTION_BILLING').whereNull('CANCELLED_AT').select('SUBSCRIPTION_UUID').orderBy('SUBSCRIPTION_UUID')) as Array<Record<string, unknown>>;
    return rows.map((row) => String(row.SUBSCRIPTION_UUID));
  }

  async insertSubscription(trx: Db, row: SubscriptionBillingRow, now: Date): Promise<void> {
    await trx('ML_SUBSCRIPTION_BILLING').insert({ ...standingColumns(row), UPDATED_AT: now.getTime() });
  }

  /** The account the engine confirmed holds the subscription; set once, never changed. */
  async recordEngineAccount(trx: Db, subscriptionUuid: string, account: string): Promise<void> {
    await trx('ML_SUBSCRIPTION_BILLING').where({ SUBSCRIPTION_UUID: subscriptionUuid }).whereNull('ENGINE_ACCOUNT').update({ ENGINE_ACCOUNT: account });
  }

  async updateStanding(
    trx: Db,
    subscriptionUuid: string,
    standing: { awaitingFirstPayment: boolean; failingSince: Date | null; cancelledAt: Date | null },
    now: Date,
  ): Promise<void> {
    await trx('ML_SUBSCRIPTION_BILLING')
      .where({ SUBSCRIPTION_UUID: subscriptionUuid })
      .update({
        AWAITING_FIRST_PAYMENT: standing.awaitingFirstPayment ? 1 : 0,
        FAILING_SINCE: standing.failingSince?.getTime() ?? null,
        CANCELLED_AT: standing.cancelledAt?.getTime() ?? null,
        UPDATED_AT: now.getTime(),
      });
  }

  /** The gateway's own state of a subscription (AM_SUBSCRIPTION.SUB_STATUS). */
  gatewayStatus(subscriptionUuid: string, db: Db = this.db): Promise<{ status: string; tenantDomain: string } | undefined> {
    return this.gateway.statusOf(subscriptionUuid, db);
  }

  setGatewayStatus(trx: Db, subscriptionUuid: string, status: string): Promise<void> {
    return this.gateway.setStatusOf(trx, subscriptionUuid, status);
  }
}

function invoiceColumns(record: Omit<InvoiceRecord, 'invoiceId' | 'createdAt'>, now: Date): Record<string, unknown> {
  const ms = (date: Date | null) => date?.getTime() ?? null;
  return {
    TENANT_DOMAIN: record.tenantDomain,
    ENGINE_INVOICE_ID: record.engineInvoiceId,
    ENGINE_ACCOUNT: record.engineAccount,
    ENGINE_SUBSCRIPTION_ID: record.engineSubscriptionId,
    SUBSCRIPTION_UUID: record.subscriptionUuid,
    API_UUID: record.apiUuid,
    APPLICATION_UUID: record.applicationUuid,
    STATUS: record.status,
    CURRENCY: record.currency,
    TOTAL: record.total.toString(),
    AMOUNT_DUE: record.amountDue.toString(),
    AMOUNT_PAID: record.amountPaid.toString(),
    AMOUNT_REMAINING: record.amountRemaining.toString(),
    CARRIED_TO_BALANCE: record.carriedToBalance?.toString() ?? null,
    COLLECTED_FROM_BALANCE: record.collectedFromBalance?.toString() ?? null,
    PERIOD_START: record.periodStart.getTime(),
    PERIOD_END: record.periodEnd.getTime(),
    HOSTED_INVOICE_URL: record.hostedInvoiceUrl,
    INVOICE_PDF_URL: record.invoicePdfUrl,
    BILLING_REASON: record.billingReason,
    LAST_ERROR: record.lastError,
    FINALIZED_AT: ms(record.finalizedAt),
    PAID_AT: ms(record.paidAt),
    VOIDED_AT: ms(record.voidedAt),
    UNCOLLECTIBLE_AT: ms(record.uncollectibleAt),
    FIRST_FAILED_AT: ms(record.firstFailedAt),
    UPDATED_AT: now.getTime(),
  };
}

function toInvoice(row: Record<string, unknown>): InvoiceRecord {
  return {
    invoiceId: Number(row.INVOICE_ID),
    tenantDomain: String(row.TENANT_DOMAIN),
    engineInvoiceId: String(row.ENGINE_INVOICE_ID),
    engineAccount: text(row.ENGINE_ACCOUNT),
    engineSubscriptionId: text(row.ENGINE_SUBSCRIPTION_ID),
    subscriptionUuid: text(row.SUBSCRIPTION_UUID),
    apiUuid: text(row.API_UUID),
    applicationUuid: text(row.APPLICATION_UUID),
    status: String(row.STATUS) as InvoiceStatus,
    currency: String(row.CURRENCY),
    total: BigInt(String(row.TOTAL)),
    amountDue: BigInt(String(row.AMOUNT_DUE)),
    amountPaid: BigInt(String(row.AMOUNT_PAID)),
    amountRemaining: BigInt(String(row.AMOUNT_REMAINING)),
    carriedToBalance: optionalBigInt(row.CARRIED_TO_BALANCE),
    collectedFromBalance: optionalBigInt(row.COLLECTED_FROM_BALANCE),
    periodStart: date(row.PERIOD_START)!,
    periodEnd: date(row.PERIOD_END)!,
    hostedInvoiceUrl: payLink(text(row.HOSTED_INVOICE_URL)),
    invoicePdfUrl: payLink(text(row.INVOICE_PDF_URL)),
    billingReason: text(row.BILLING_REASON),
    lastError: text(row.LAST_ERROR),
    createdAt: date(row.CREATED_AT)!,
    finalizedAt: date(row.FINALIZED_AT),
    paidAt: date(row.PAID_AT),
    voidedAt: date(row.VOIDED_AT),
    uncollectibleAt: date(row.UNCOLLECTIBLE_AT),
    firstFailedAt: date(row.FIRST_FAILED_AT),
  };
}

function standingColumns(row: SubscriptionBillingRow): Record<string, unknown> {
  return {
    SUBSCRIPTION_UUID: row.subscriptionUuid,
    TENANT_DOMAIN: row.tenantDomain,
    API_UUID: row.apiUuid,
    APPLICATION_UUID: row.applicationUuid,
    ENGINE_SUBSCRIPTION_ID: row.engineSubscriptionId,
    ENGINE_ACCOUNT: row.engineAccount,
    AWAITING_FIRST_PAYMENT: row.awaitingFirstPayment ? 1 : 0,
    FAILING_SINCE: row.failingSince?.getTime() ?? null,
    CANCELLED_AT: row.cancelledAt?.getTime() ?? null,
  };
}

function toStanding(row: Record<string, unknown>): SubscriptionBillingRow {
  return {
    subscriptionUuid: String(row.SUBSCRIPTION_UUID),
    tenantDomain: String(row.TENANT_DOMAIN),
    apiUuid: String(row.API_UUID),
    applicationUuid: String(row.APPLICATION_UUID),
    engineSubscriptionId: String(row.ENGINE_SUBSCRIPTION_ID),
    engineAccount: text(row.ENGINE_ACCOUNT),
    awaitingFirstPayment: Number(row.AWAITING_FIRST_PAYMENT) === 1,
    failingSince: date(row.FAILING_SINCE),
    cancelledAt: date(row.CANCELLED_AT),
  };
}

function text(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function date(value: unknown): Date | null {
  return value === null || value === undefined ? null : new Date(Number(value));
}

function optionalBigInt(value: unknown): bigint | null {
  return value === null || value === undefined ? null : BigInt(String(value));
}
