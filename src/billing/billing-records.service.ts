import type { Knex } from 'knex';
import type { Logger } from '../logger';
import { decideAccess, type PaymentStanding, type TenantBillingRules } from './access-policy';
import type { BillingEvent, InvoiceSnapshot } from './billing-events';
import type { BillingRepository, InvoiceRecord, SubscriptionBillingRow } from './billing.repository';
import { advanceInvoiceStatus } from './invoice-lifecycle';

export type WebhookOutcome = 'applied' | 'duplicate' | 'ignored' | 'unknown_object';

const TIMESTAMP_OF_CHANGE = {
  finalized: 'finalizedAt',
  paid: 'paidAt',
  voided: 'voidedAt',
  marked_uncollectible: 'uncollectibleAt',
  payment_failed: 'firstFailedAt',
} as const;
type TransitionTime = (typeof TIMESTAMP_OF_CHANGE)[keyof typeof TIMESTAMP_OF_CHANGE];

/**
 * Meterline's invoice records and the payment standing of billed subscriptions. Billing events
 * are applied in one transaction with the record of the delivery itself, so a retried or
 * replayed delivery changes nothing and a late one never rolls a status back.
 */
export class BillingRecords {
  constructor(
    private readonly repository: BillingRepository,
    private readonly rulesOf: (tenantDomain: string) => TenantBillingRules,
    private readonly logger: Logger,
  ) {}

  async apply(tenantDomain: string, event: BillingEvent, now: Date): Promise<WebhookOutcome> {
    return this.repository.transaction(async (trx) => {
      if (await this.repository.eventSeen(trx, event.id)) return 'duplicate';
      const outcome = await this.applyEvent(trx, tenantDomain, event, now);
      const engineType = event.type === 'ignored' ? event.engineType : `${event.type}.${event.change}`;
      await this.repository.recordEvent(trx, { id: event.id, tenantDomain, type: engineType, outcome: outcome.toUpperCase(), at: now });
      if (outcome === 'unknown_object') this.logger.info({ event: event.id, type: engineType, tenant: tenantDomain }, 'billing event for an object Meterline does not know');
      return outcome;
    });
  }

  private async applyEvent(trx: Knex.Transaction, tenantDomain: string, event: BillingEvent, now: Date): Promise<WebhookOutcome> {
    if (event.type === 'ignored') return 'ignored';
    if (event.type === 'subscription') {
      const subscription = await this.repository.subscriptionByEngineId(trx, event.engineSubscriptionId);
      if (!subscription) return 'unknown_object';
      if (event.change === 'deleted') {
        await this.refreshStanding(trx, subscription, now, { cancelledAt: subscription.cancelledAt ?? event.occurredAt });
      }
      return 'applied';
    }

    const snapshot = event.invoice;
    const subscription = await this.subscriptionOf(trx, snapshot);
    const existing = await this.repository.invoiceByEngineId(trx, snapshot.engineInvoiceId);
    if (!subscription && !existing && snapshot.subscriptionUuid === null) return 'unknown_object';

    const merged = mergeInvoice(existing, snapshot, event, { tenantDomain, account: event.account, subscription });
    if (existing) await this.repository.updateInvoice(trx, existing.invoiceId, merged, now);
    else await this.repository.insertInvoice(trx, { ...merged, createdAt: event.occurredAt }, now);
    if (subscription) await this.refreshStanding(trx, subscription, now, {});
    return 'applied';
  }

  /**
   * A subscription the billing engine now bills: record it (awaiting its first payment) and
   * decide its access. Invoices that arrived before this (webhooks can beat the workflow) are
   * adopted, so a first invoice already paid is not waited for again.
   */
  async subscriptionBilled(subscription: Omit<SubscriptionBillingRow, 'awaitingFirstPayment' | 'failingSince' | 'cancelledAt'>, now: Date) {
    return this.repository.transaction(async (trx) => {
      const existing = await this.repository.subscriptionByUuid(subscription.subscriptionUuid, trx);
      const row: SubscriptionBillingRow = existing ?? { ...subscription, awaitingFirstPayment: true, failingSince: null, cancelledAt: null };
      if (!existing) await this.repository.insertSubscription(trx, row, now);
      const standing = await this.refreshStanding(trx, row, now, {});
      return decideAccess(standing, this.rulesOf(row.tenantDomain), now);
    });
  }

  invoicesOfSubscription(subscriptionUuid: string): Promise<InvoiceRecord[]> {
    return this.repository.invoicesOfSubscription(subscriptionUuid);
  }

  invoicesOfApi(apiUuid: string): Promise<InvoiceRecord[]> {
    return this.repository.invoicesOfApi(apiUuid);
  }

  private async subscriptionOf(trx: Knex.Transaction, snapshot: InvoiceSnapshot): Promise<SubscriptionBillingRow | undefined> {
    if (snapshot.subscriptionUuid) {
      const byUuid = await this.repository.subscriptionByUuid(snapshot.subscriptionUuid, trx);
      if (byUuid) return byUuid;
    }
    return snapshot.engineSubscriptionId ? this.repository.subscriptionByEngineId(trx, snapshot.engineSubscriptionId) : undefined;
  }

  /**
   * Recomputes a subscription's standing from all its invoices (so the order events arrived in
   * does not matter) and sets the gateway's subscription status from it.
   */
  async refreshStanding(
    trx: Knex.Transaction,
    subscription: SubscriptionBillingRow,
    now: Date,
    change: { cancelledAt?: Date },
  ): Promise<PaymentStanding> {
    await this.repository.adoptInvoices(trx, subscription);
    const invoices = await this.repository.invoicesOfSubscription(subscription.subscriptionUuid, trx);
    const standing: PaymentStanding = {
      awaitingFirstPayment: awaitingFirstPayment(subscription, invoices),
      failingSince: failingSince(invoices),
      cancelledAt: change.cancelledAt ?? subscription.cancelledAt,
    };
    await this.repository.updateStanding(trx, subscription.subscriptionUuid, standing, now);
    const decision = decideAccess(standing, this.rulesOf(subscription.tenantDomain), now);
    await this.repository.setGatewayStatus(trx, subscription.subscriptionUuid, decision.status);
    return standing;
  }
}

/** The first invoice (issued when the subscription started) is unpaid while it is not PAID. */
function awaitingFirstPayment(subscription: SubscriptionBillingRow, invoices: readonly InvoiceRecord[]): boolean {
  const first = invoices.filter((i) => i.billingReason === 'subscription_create');
  if (first.length === 0) return subscription.awaitingFirstPayment;
  return !first.some((i) => i.status === 'PAID');
}

/** The earliest failure among the subscription's invoices that are still unpaid. */
function failingSince(invoices: readonly InvoiceRecord[]): Date | null {
  const times = invoices
    .filter((i) => i.status === 'OPEN' || i.status === 'UNCOLLECTIBLE')
    .map((i) => i.firstFailedAt ?? (i.status === 'UNCOLLECTIBLE' ? i.uncollectibleAt : null))
    .filter((t): t is Date => t !== null)
    .map((t) => t.getTime());
  return times.length === 0 ? null : new Date(Math.min(...times));
}

/**
 * The invoice record after an event: the status only moves forward; the snapshot's amounts are
 * taken when the event moved the status (or is the first we hear), and each transition keeps
 * the time it first happened.
 */
function mergeInvoice(
  existing: InvoiceRecord | undefined,
  snapshot: InvoiceSnapshot,
  event: Extract<BillingEvent, { type: 'invoice' }>,
  context: { tenantDomain: string; account: string | null; subscription: SubscriptionBillingRow | undefined },
): Omit<InvoiceRecord, 'invoiceId' | 'createdAt'> {
  const status = advanceInvoiceStatus(existing?.status, snapshot.status);
  const snapshotIsCurrent = !existing || status === snapshot.status;
  const amounts = snapshotIsCurrent ? snapshot : existing;
  const stamp = TIMESTAMP_OF_CHANGE[event.change];
  const at = (field: TransitionTime): Date | null => existing?.[field] ?? (stamp === field ? event.occurredAt : null);
  return {
    tenantDomain: context.tenantDomain,
    engineInvoiceId: snapshot.engineInvoiceId,
    engineAccount: existing?.engineAccount ?? context.account,
    engineSubscriptionId: existing?.engineSubscriptionId ?? snapshot.engineSubscriptionId,
    subscriptionUuid: existing?.subscriptionUuid ?? context.subscription?.subscriptionUuid ?? snapshot.subscriptionUuid,
    apiUuid: existing?.apiUuid ?? context.subscription?.apiUuid ?? null,
    applicationUuid: existing?.applicationUuid ?? context.subscription?.applicationUuid ?? null,
    status,
    currency: snapshot.currency,
    total: amounts.total,
    amountDue: amounts.amountDue,
    amountPaid: amounts.amountPaid,
    amountRemaining: amounts.amountRemaining,
    periodStart: snapshot.periodStart,
    periodEnd: snapshot.periodEnd,
    hostedInvoiceUrl: snapshot.hostedInvoiceUrl ?? existing?.hostedInvoiceUrl ?? null,
    billingReason: existing?.billingReason ?? snapshot.billingReason,
    lastError: event.change === 'payment_failed' ? event.failure : (existing?.lastError ?? null),
    finalizedAt: at('finalizedAt'),
    paidAt: at('paidAt'),
    voidedAt: at('voidedAt'),
    uncollectibleAt: at('uncollectibleAt'),
    firstFailedAt: at('firstFailedAt'),
  };
}
