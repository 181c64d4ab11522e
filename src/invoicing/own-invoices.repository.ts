import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/errors';
import type { SubscriptionRef } from '../domain/model';
import type { OwnInvoiceKind } from '../monetization/monetization';

const INVOICES = 'ML_OWN_INVOICE';
const LINES = 'ML_OWN_INVOICE_LINE';
const USAGE = 'ML_OWN_INVOICE_USAGE';

/** How far Meterline got with its own invoice (payment is followed on the billing record from OPEN on). */
export type OwnInvoiceStatus = 'DRAFT' | 'OPEN' | 'PAID';

export interface OwnInvoiceLine {
  kind: string;
  description: string;
  quantity: bigint;
  unitAmountDecimal: string | null;
  amount: bigint;
}

/** One invoice Meterline made, with its lines. */
export interface OwnInvoice {
  invoiceId: string;
  tenantDomain: string;
  subscriptionUuid: string;
  apiUuid: string;
  kind: OwnInvoiceKind;
  periodStart: Date;
  periodEnd: Date;
  /** Where the usage it rates starts; null when it rates none (SUBSCRIPTION_START). */
  usageFrom: Date | null;
  calls: bigint;
  currency: string;
  total: bigint;
  status: OwnInvoiceStatus;
  subscription: SubscriptionRef;
  customer: { name: string; email: string | null };
  expiresAt: Date;
  engineInvoiceId: string | null;
  hostedInvoiceUrl: string | null;
  invoicePdfUrl: string | null;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  submittedAt: Date | null;
  lines: OwnInvoiceLine[];
}

/**
 * Usage an invoice bills: the calls of one usage period ([periodStart, periodEnd)) from `callsFrom`
 * (what earlier invoices billed of that period) up to `callsTo` (the period's total when rated).
 */
export interface BilledUsage {
  periodStart: Date;
  periodEnd: Date;
  callsFrom: bigint;
  callsTo: bigint;
}

export type NewOwnInvoice = Omit<OwnInvoice, 'engineInvoiceId' | 'hostedInvoiceUrl' | 'invoicePdfUrl' | 'attempts' | 'lastError' | 'submittedAt'> & {
  /** The usage it bills (none for SUBSCRIPTION_START), written with it in one transaction. */
  usage?: readonly BilledUsage[];
};

/** How far a usage period of a subscription is billed, over all its invoices. */
export interface BilledPeriod {
  periodStart: Date;
  periodEnd: Date;
  /** The calls billed of it so far (the highest CALLS_TO). */
  billed: bigint;
  /** The invoice that billed it first (its pricing rates the period's late usage). */
  firstInvoiceId: string;
}

/** A subscription Meterline invoices: its first invoice's period start (the cycle's anchor), its last closed period's end, whether it ended. */
export interface InvoicedSubscription {
  subscriptionUuid: string;
  anchor: Date;
  /** The end of the last PERIOD invoice's period; the anchor when none was made yet. */
  invoicedUpTo: Date;
  ended: boolean;
}

/** Every query over ML_OWN_INVOICE and ML_OWN_INVOICE_LINE. */
export class OwnInvoicesRepository {
  constructor(private readonly db: Knex) {}

  /**
   * Writes a draft with its lines in one transaction. An invoice with the same id, the same
   * subscription, kind and period, or rating the same subscription's usage from the same start
   * already there wins: that one is answered (`created: false`, possibly of another kind) and
   * nothing is written, so making the same invoice twice, even at once, keeps one. Its usage rows
   * are written in the same transaction: an invoice that would bill calls another invoice already
   * billed (the same period from the same count) is not written at all (the key's error is thrown
   * when no same invoice explains it; the caller rates again later).
   */
  async insertDraft(invoice: NewOwnInvoice, now: Date): Promise<{ invoice: OwnInvoice; created: boolean }> {
    try {
      await this.db.transaction(async (trx) => {
        await trx(INVOICES).insert({
          INVOICE_ID: invoice.invoiceId,
          TENANT_DOMAIN: invoice.tenantDomain,
          SUBSCRIPTION_UUID: invoice.subscriptionUuid,
          API_UUID: invoice.apiUuid,
          KIND: invoice.kind,
          PERIOD_START: invoice.periodStart.getTime(),
          PERIOD_END: invoice.periodEnd.getTime(),
          USAGE_FROM: invoice.usageFrom?.getTime() ?? null,
          CALLS: invoice.calls.toString(),
          CURRENCY: invoice.currency,
          TOTAL: invoice.total.toString(),
          STATUS: invoice.status,
          SUBSCRIPTION_REF: JSON.stringify(invoice.subscription),
          CUSTOMER_NAME: invoice.customer.name.slice(0, 255),
          CUSTOMER_EMAIL: invoice.customer.email?.slice(0, 255) ?? null,
          EXPIRES_AT: invoice.expiresAt.getTime(),
          ATTEMPTS: 0,
          CREATED_AT: invoice.createdAt.getTime(),
          UPDATED_AT: now.getTime(),
        });
        if (invoice.lines.length > 0) {
          await trx(LINES).insert(
            invoice.lines.map((line, index) => ({
              INVOICE_ID: invoice.invoiceId,
              LINE_NO: index + 1,
              KIND: line.kind,
              DESCRIPTION: line.description.slice(0, 500),
              QUANTITY: line.quantity.toString(),
              UNIT_AMOUNT_DECIMAL: line.unitAmountDecimal,
              AMOUNT: line.amount.toString(),
            })),
          );
        }
        if (invoice.usage && invoice.usage.length > 0) {
          // A period billed with no calls keeps an empty row (calls 0 to 0) on the key the first late
          // calls of it take (calls from 0): the empty row gives way to them, in this transaction.
          for (const u of invoice.usage.filter((u) => u.callsFrom === 0n && u.callsTo > 0n)) {
            await trx(USAGE).where({ SUBSCRIPTION_UUID: invoice.subscriptionUuid, PERIOD_START: u.periodStart.getTime(), CALLS_FROM: '0', CALLS_TO: '0' }).delete();
          }
          await trx(USAGE).insert(
            invoice.usage.map((u) => ({
              SUBSCRIPTION_UUID: invoice.subscriptionUuid,
              PERIOD_START: u.periodStart.getTime(),
              PERIOD_END: u.periodEnd.getTime(),
              CALLS_FROM: u.callsFrom.toString(),
              CALLS_TO: u.callsTo.toString(),
              INVOICE_ID: invoice.invoiceId,
            })),
          );
        }
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const existing =
        (await this.byId(invoice.invoiceId)) ??
        (await this.byPeriod(invoice.subscriptionUuid, invoice.kind, invoice.periodStart)) ??
        (invoice.usageFrom ? await this.byUsageFrom(invoice.subscriptionUuid, invoice.usageFrom) : undefined);
      if (!existing) throw error;
      return { invoice: existing, created: false };
    }
    return { invoice: (await this.byId(invoice.invoiceId))!, created: true };
  }

  async byId(invoiceId: string): Promise<OwnInvoice | undefined> {
    const row = await this.db(INVOICES).where({ INVOICE_ID: invoiceId }).first();
    return row ? (await this.withLines([row]))[0] : undefined;
  }

  async byPeriod(subscriptionUuid: string, kind: OwnInvoiceKind, periodStart: Date): Promise<OwnInvoice | undefined> {
    const row = await this.db(INVOICES).where({ SUBSCRIPTION_UUID: subscriptionUuid, KIND: kind, PERIOD_START: periodStart.getTime() }).first();
    return row ? (await this.withLines([row]))[0] : undefined;
  }

  async byUsageFrom(subscriptionUuid: string, usageFrom: Date): Promise<OwnInvoice | undefined> {
    const row = await this.db(INVOICES).where({ SUBSCRIPTION_UUID: subscriptionUuid, USAGE_FROM: usageFrom.getTime() }).first();
    return row ? (await this.withLines([row]))[0] : undefined;
  }

  /** A subscription's invoices, oldest period first. */
  async ofSubscription(subscriptionUuid: string): Promise<OwnInvoice[]> {
    const rows = await this.db(INVOICES).where({ SUBSCRIPTION_UUID: subscriptionUuid }).orderBy([{ column: 'PERIOD_START' }, { column: 'CREATED_AT' }]);
    return this.withLines(rows);
  }

  /** The usage periods of a subscription its invoices billed, oldest first, and how far each is billed. */
  async billedPeriods(subscriptionUuid: string): Promise<BilledPeriod[]> {
    const rows = (await this.db(USAGE).where({ SUBSCRIPTION_UUID: subscriptionUuid }).orderBy([{ column: 'PERIOD_START' }, { column: 'CALLS_FROM' }])) as Array<Record<string, unknown>>;
    const periods = new Map<number, BilledPeriod>();
    for (const row of rows) {
      const start = Number(row.PERIOD_START);
      const callsTo = BigInt(String(row.CALLS_TO));
      const found = periods.get(start);
      if (!found) {
        periods.set(start, { periodStart: new Date(start), periodEnd: new Date(Number(row.PERIOD_END)), billed: callsTo, firstInvoiceId: String(row.INVOICE_ID) });
      } else if (callsTo > found.billed) {
        found.billed = callsTo;
      }
    }
    return [...periods.values()];
  }

  /** The usage an invoice billed, by period. */
  async usageOf(invoiceId: string): Promise<BilledUsage[]> {
    const rows = (await this.db(USAGE).where({ INVOICE_ID: invoiceId }).orderBy([{ column: 'PERIOD_START' }, { column: 'CALLS_FROM' }])) as Array<Record<string, unknown>>;
    return rows.map((row) => ({
      periodStart: new Date(Number(row.PERIOD_START)),
      periodEnd: new Date(Number(row.PERIOD_END)),
      callsFrom: BigInt(String(row.CALLS_FROM)),
      callsTo: BigInt(String(row.CALLS_TO)),
    }));
  }

  /** A tenant's invoices (of one subscription when given), newest period first, at most `limit`. */
  async ofTenant(tenantDomain: string, subscriptionUuid: string | undefined, limit: number): Promise<OwnInvoice[]> {
    const query = this.db(INVOICES).where({ TENANT_DOMAIN: tenantDomain });
    if (subscriptionUuid !== undefined) query.andWhere({ SUBSCRIPTION_UUID: subscriptionUuid });
    const rows = await query.orderBy([{ column: 'PERIOD_START', order: 'desc' }, { column: 'CREATED_AT', order: 'desc' }, { column: 'INVOICE_ID' }]).limit(limit);
    return this.withLines(rows);
  }

  /** Drafts still to submit, oldest first. */
  async drafts(limit: number): Promise<OwnInvoice[]> {
    const rows = await this.db(INVOICES).where({ STATUS: 'DRAFT' }).orderBy([{ column: 'CREATED_AT' }, { column: 'INVOICE_ID' }]).limit(limit);
    return this.withLines(rows);
  }

  /** The subscriptions with a first invoice, how far their periods are invoiced, and whether they ended. */
  async invoicedSubscriptions(): Promise<InvoicedSubscription[]> {
    const rows = (await this.db(INVOICES)
      .select('SUBSCRIPTION_UUID', 'KIND')
      .min({ FIRST_START: 'PERIOD_START' })
      .max({ LAST_END: 'PERIOD_END' })
      .groupBy('SUBSCRIPTION_UUID', 'KIND')) as Array<Record<string, unknown>>;
    const found = new Map<string, { anchor?: number; upTo?: number; ended: boolean }>();
    for (const row of rows) {
      const uuid = String(row.SUBSCRIPTION_UUID);
      const entry = found.get(uuid) ?? { ended: false };
      if (row.KIND === 'SUBSCRIPTION_START') entry.anchor = Number(row.FIRST_START);
      if (row.KIND === 'PERIOD') entry.upTo = Number(row.LAST_END);
      if (row.KIND === 'FINAL') entry.ended = true;
      found.set(uuid, entry);
    }
    const answer: InvoicedSubscription[] = [];
    for (const [subscriptionUuid, entry] of found) {
      if (entry.anchor === undefined) continue;
      answer.push({ subscriptionUuid, anchor: new Date(entry.anchor), invoicedUpTo: new Date(entry.upTo ?? entry.anchor), ended: entry.ended });
    }
    return answer.sort((a, b) => a.subscriptionUuid.localeCompare(b.subscriptionUuid));
  }

  /**
   * Removes a draft with its lines and usage rows, in one transaction (a change of plan whose tier
   * never changed: the process stopped between drafting it and changing the tier). False when it
   * is no longer a draft.
   */
  async deleteDraft(invoiceId: string): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const row = (await trx(INVOICES).where({ INVOICE_ID: invoiceId, STATUS: 'DRAFT' }).first()) as Record<string, unknown> | undefined;
      if (!row) return false;
      await trx(USAGE).where({ INVOICE_ID: invoiceId }).delete();
      await trx(LINES).where({ INVOICE_ID: invoiceId }).delete();
      return (await trx(INVOICES).where({ INVOICE_ID: invoiceId, STATUS: 'DRAFT' }).delete()) > 0;
    });
  }

  /** The draft was issued: OPEN with the engine's id, links and the pay link's expiry, or PAID with nothing to pay (only a DRAFT moves). */
  async markIssued(
    invoiceId: string,
    issued: { status: 'OPEN' | 'PAID'; engineInvoiceId: string; hostedInvoiceUrl: string | null; invoicePdfUrl: string | null; expiresAt?: Date },
    now: Date,
  ): Promise<void> {
    await this.db(INVOICES)
      .where({ INVOICE_ID: invoiceId, STATUS: 'DRAFT' })
      .update({
        STATUS: issued.status,
        ENGINE_INVOICE_ID: issued.engineInvoiceId,
        HOSTED_INVOICE_URL: issued.hostedInvoiceUrl,
        INVOICE_PDF_URL: issued.invoicePdfUrl,
        ...(issued.expiresAt ? { EXPIRES_AT: issued.expiresAt.getTime() } : {}),
        LAST_ERROR: null,
        SUBMITTED_AT: now.getTime(),
        UPDATED_AT: now.getTime(),
      });
  }

  /** A submission failed; the draft stays for the next attempt. */
  async noteFailure(invoiceId: string, attempts: number, reason: string, now: Date): Promise<void> {
    await this.db(INVOICES).where({ INVOICE_ID: invoiceId, STATUS: 'DRAFT' }).update({ ATTEMPTS: attempts, LAST_ERROR: reason.slice(0, 1000), UPDATED_AT: now.getTime() });
  }

  private async withLines(rows: ReadonlyArray<Record<string, unknown>>): Promise<OwnInvoice[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((row) => String(row.INVOICE_ID));
    const lines = new Map<string, OwnInvoiceLine[]>();
    for (let i = 0; i < ids.length; i += 500) {
      const found = (await this.db(LINES).whereIn('INVOICE_ID', ids.slice(i, i + 500)).orderBy(['INVOICE_ID', 'LINE_NO'])) as Array<Record<string, unknown>>;
      for (const line of found) {
        const id = String(line.INVOICE_ID);
        lines.set(id, [
          ...(lines.get(id) ?? []),
          {
            kind: String(line.KIND),
            description: String(line.DESCRIPTION),
            quantity: BigInt(String(line.QUANTITY)),
            unitAmountDecimal: text(line.UNIT_AMOUNT_DECIMAL),
            amount: BigInt(String(line.AMOUNT)),
          },
        ]);
      }
    }
    return rows.map((row) => toInvoice(row, lines.get(String(row.INVOICE_ID)) ?? []));
  }
}

function toInvoice(row: Record<string, unknown>, lines: OwnInvoiceLine[]): OwnInvoice {
  return {
    invoiceId: String(row.INVOICE_ID),
    tenantDomain: String(row.TENANT_DOMAIN),
    subscriptionUuid: String(row.SUBSCRIPTION_UUID),
    apiUuid: String(row.API_UUID),
    kind: String(row.KIND) as OwnInvoiceKind,
    periodStart: new Date(Number(row.PERIOD_START)),
    periodEnd: new Date(Number(row.PERIOD_END)),
    usageFrom: row.USAGE_FROM === null || row.USAGE_FROM === undefined ? null : new Date(Number(row.USAGE_FROM)),
    calls: BigInt(String(row.CALLS)),
    currency: String(row.CURRENCY),
    total: BigInt(String(row.TOTAL)),
    status: String(row.STATUS) as OwnInvoiceStatus,
    subscription: JSON.parse(String(row.SUBSCRIPTION_REF)) as SubscriptionRef,
    customer: { name: String(row.CUSTOMER_NAME), email: text(row.CUSTOMER_EMAIL) },
    expiresAt: new Date(Number(row.EXPIRES_AT)),
    engineInvoiceId: text(row.ENGINE_INVOICE_ID),
    hostedInvoiceUrl: text(row.HOSTED_INVOICE_URL),
    invoicePdfUrl: text(row.INVOICE_PDF_URL),
    attempts: Number(row.ATTEMPTS),
    lastError: text(row.LAST_ERROR),
    createdAt: new Date(Number(row.CREATED_AT)),
    submittedAt: row.SUBMITTED_AT === null || row.SUBMITTED_AT === undefined ? null : new Date(Number(row.SUBMITTED_AT)),
    lines,
  };
}

function text(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}
