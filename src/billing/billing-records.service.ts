import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/errors';
import type { Logger } from '../logger';
import { decideAccess, type PaymentStanding, type TenantBillingRules } from './access-policy';
import type { EngineSubscriptionRecord, SubscriptionAccess } from '../monetization/monetization';
import { payLink, type BillingEvent, type InvoiceSnapshot, type InvoiceStatus } from '../monetization/billing-events';
import type { BillingRepository } from './billing.repository';
import type { InvoiceRecord, SubscriptionBillingRow } from './model';
import { advanceInvoiceStatus } from './invoice-lifecycle';
import { decimalAmount, emit, subscriptionFacts, subscriptionLabel, type DescribeSubscription } from '../notifications/emit';
import type { NotificationEvent, Notifier } from '../notifications/events';

/** Where billing tells what its records show (issue 18): invoice lifecycle and access changes. */
export interface BillingNotifications {
  notifier: Notifier;
  /** Names for a subscription's events (API, application, tier, subscriber's e-mail). */
  describe: DescribeSubscription;
}

/** What one applied event changed that is worth telling, gathered in its transaction and told after it committed. */
export type Told =
  | { kind: 'invoice'; before: InvoiceStatus | undefined; record: Omit<InvoiceRecord, 'invoiceId' | 'createdAt'> }
  | { kind: 'access'; subscriptionUuid: string; tenantDomain: string; before: string; after: string; reason: string | null };

/** The invoice lifecycle event that moved it, if any: its engine event's id, kind and failure. */
export interface InvoiceTrigger {
  eventId: string;
  change: Extract<BillingEvent, { type: 'invoice' }>['change'];
  failure: string | null;
}

export type WebhookOutcome = 'applied' | 'duplicate' | 'ignored' | 'unknown_object';

/** What a delivery did; `reason` says why an acknowledged event changed nothing. */
export interface WebhookResult {
  outcome: WebhookOutcome;
  reason: string | null;
}

/**
 * What the billing engine recorded for a subscription it bills (the engine's
 * `billedSubscriptionOf`). Events are checked against it; without one (a test, an engine that
 * records nothing) only the account Meterline already holds for the subscription is trusted.
 */
export type EngineRecordLookup = (subscriptionUuid: string) => Promise<EngineSubscriptionRecord | null>;
const NO_ENGINE_RECORDS: EngineRecordLookup = async () => null;

const TIMESTAMP_OF_CHANGE = {
  finalized: 'finalizedAt',
  paid: 'paidAt',
  voided: 'voidedAt',
  marked_uncollectible: 'uncollectibleAt',
  payment_failed: 'firstFailedAt',
} as const;
type TransitionTime = (typeof TIMESTAMP_OF_CHANGE)[keyof typeof TIMESTAMP_OF_CHANGE];

type Refusal = { outcome: 'ignored' | 'unknown_object'; reason: string };
type Target = { subscription: SubscriptionBillingRow; pinAccount: boolean };
type EngineAnswer = { asked: boolean; record: EngineSubscriptionRecord | null };

/** The subscription's record appeared after the engine was (not) asked: apply again, asking. */
class EngineRecordNeeded extends Error {}

/**
 * Meterline's invoice records and the payment standing of billed subscriptions. Billing events
 * are applied in one transaction with the record of the delivery itself, so a retried or
 * replayed delivery changes nothing and a late one never rolls a status back.
 *
 * An event changes only what it may: objects of the tenant whose secret verified it, reached
 * through the ids as recorded — invoice → engine subscription (the id the engine returned at
 * subscribe, never the metadata) → the account that holds it → Meterline's subscription. An
 * event that breaks the chain is acknowledged (`ignored` / `unknown_object`, with the reason),
 * logged, and changes nothing.
 */
export class BillingRecords {
  constructor(
    private readonly repository: BillingRepository,
    private readonly rulesOf: (tenantDomain: string) => TenantBillingRules,
    private readonly logger: Logger,
    /** The engine's `EngineCapabilities.isFirstPaymentInvoice`: which invoice starts a subscription. */
    private readonly isFirstPaymentInvoice: (billingReason: string | null) => boolean,
  ) {}

  private notifications: BillingNotifications | undefined;

  /**
   * Tells invoice.issued / paid / payment_failed and subscription.blocked / unblocked / approved
   * (a held subscription whose first invoice is paid) from the events applied from then on. Set
   * once by the composition root (the notifier is built after billing); without it nobody is told.
   */
  tellThrough(notifications: BillingNotifications): void {
    this.notifications = notifications;
  }

  /**
   * Blocks the billed subscriptions whose payment grace period has run out by `now`: the access
   * check already refuses them (it reads the standing), and this pass writes BLOCKED to the
   * gateway's status as well, so the listings show it and the payment that settles the invoice
   * later moves BLOCKED → UNBLOCKED (told `subscription.unblocked` by that event). Each change is
   * told `subscription.blocked` once, id `subscription.blocked:<tenant>:<subscription>:grace:
   * <engineInvoiceId>` (the unsettled invoice that failed first); a subscription already BLOCKED
   * (by an event, by an earlier pass, in another process) is not told again. Run on a schedule
   * (`scheduleGraceExpiry`), never from the access check. Returns how many it blocked.
   */
  async applyGraceExpiries(now: Date): Promise<number> {
    let blocked = 0;
    for (const candidate of await this.repository.failingSubscriptions()) {
      if (decideAccess(candidate, this.rulesOf(candidate.tenantDomain), now).status !== 'BLOCKED') continue;
      const told: Told[] = [];
      await this.repository.transaction(async (trx) => {
        told.length = 0;
        const row = await this.repository.subscriptionByUuid(candidate.subscriptionUuid, trx);
        if (row) await this.refreshStanding(trx, row, now, {}, told);
      });
      for (const change of told) {
        if (change.kind !== 'access' || change.after !== 'BLOCKED') continue;
        blocked += 1;
        await this.tellGraceBlock(change, now);
      }
    }
    return blocked;
  }

  private async tellGraceBlock(change: Extract<Told, { kind: 'access' }>, now: Date): Promise<void> {
    const notifications = this.notifications;
    if (!notifications) return;
    const row = await this.repository.subscriptionByUuid(change.subscriptionUuid);
    if (!row || row.failingSince === null) return;
    const failing = (await this.repository.invoicesOfSubscription(change.subscriptionUuid))
      .filter((invoice) => invoice.firstFailedAt !== null && (invoice.status === 'OPEN' || invoice.status === 'UNCOLLECTIBLE'))
      .sort((a, b) => a.firstFailedAt!.getTime() - b.firstFailedAt!.getTime())[0];
    const subscription = await notifications.describe(change.subscriptionUuid).catch(() => undefined);
    if (!subscription) return;
    const graceEndedAt = new Date(row.failingSince.getTime() + this.rulesOf(change.tenantDomain).gracePeriodMs);
    await emit(
      notifications.notifier,
      {
        id: `subscription.blocked:${change.tenantDomain}:${change.subscriptionUuid}:grace:${failing?.engineInvoiceId ?? row.failingSince.toISOString()}`,
        type: 'subscription.blocked',
        tenantDomain: change.tenantDomain,
        occurredAt: now,
        summary: `Subscription of ${subscriptionLabel(subscription)} was blocked: ${change.reason ?? 'its payment grace period ran out'}.`,
        data: {
          ...subscriptionFacts(subscription),
          status: 'BLOCKED',
          previousStatus: change.before,
          cause: 'payment',
          reason: change.reason,
          invoiceId: failing?.engineInvoiceId ?? null,
          graceEndedAt: graceEndedAt.toISOString(),
        },
        subscriberEmail: subscription.subscriber.email,
      },
      this.logger,
    );
  }

  async apply(tenantDomain: string, event: BillingEvent, now: Date, engineRecordOf: EngineRecordLookup = NO_ENGINE_RECORDS): Promise<WebhookResult> {
    try {
      return await this.applyOnce(tenantDomain, event, now, engineRecordOf);
    } catch (error) {
      // The subscription was recorded while this event waited: the engine's record is now there too.
      if (error instanceof EngineRecordNeeded) return this.applyOnce(tenantDomain, event, now, engineRecordOf);
      throw error;
    }
  }

  private async applyOnce(tenantDomain: string, event: BillingEvent, now: Date, engineRecordOf: EngineRecordLookup): Promise<WebhookResult> {
    // The engine's record is read before the transaction: SQLite has one connection.
    const engineRecord = await this.engineRecordFor(tenantDomain, event, engineRecordOf);
    const engineType = event.type === 'ignored' ? event.engineType : `${event.type}.${event.change}`;
    const told: Told[] = [];
    const result = await this.repository.transaction(async (trx): Promise<WebhookResult> => {
      told.length = 0; // a transaction retried from the start gathers again
      if (await this.repository.eventSeen(trx, event.id)) return { outcome: 'duplicate', reason: null };
      const refusal = await this.applyEvent(trx, tenantDomain, event, now, engineRecord, this.notifications ? told : undefined);
      const outcome = refusal?.outcome ?? 'applied';
      await this.repository.recordEvent(trx, { id: event.id, tenantDomain, type: engineType, outcome: outcome.toUpperCase(), at: now });
      return { outcome, reason: refusal?.reason ?? null };
    });
    if (result.reason !== null) {
      this.logger.warn({ event: event.id, type: engineType, tenant: tenantDomain, account: event.account, outcome: result.outcome, reason: result.reason }, 'billing event changed nothing');
    }
    if (result.outcome === 'applied') await this.tell(told, event, now);
    if (result.outcome === 'applied' && event.type === 'subscription' && event.change === 'deleted') await this.engineCancelled(event.engineSubscriptionId, event.occurredAt);
    return result;
  }

  /**
   * Called once a `subscription` `deleted` event is applied (the engine ended the subscription
   * itself), with Meterline's subscription and when it ended: own invoicing makes its final
   * invoice there. A listener's failure is logged, never fails the delivery.
   */
  onEngineCancel(listener: (subscriptionUuid: string, at: Date) => Promise<unknown>): void {
    this.cancelListeners.push(listener);
  }

  private readonly cancelListeners: Array<(subscriptionUuid: string, at: Date) => Promise<unknown>> = [];

  private async engineCancelled(engineSubscriptionId: string, at: Date): Promise<void> {
    const subscription = await this.repository.subscriptionByEngineId(undefined, engineSubscriptionId);
    if (!subscription) return;
    for (const listener of this.cancelListeners) {
      await listener(subscription.subscriptionUuid, at).catch((error: unknown) =>
        this.logger.error({ err: error, subscription: subscription.subscriptionUuid }, 'a listener of an engine cancel failed'),
      );
    }
  }

  /**
   * The engine's record of the tenant's subscription the event names, while Meterline holds no
   * account for it; `asked` is false when there was nothing to ask about (yet).
   */
  private async engineRecordFor(tenantDomain: string, event: BillingEvent, lookup: EngineRecordLookup): Promise<EngineAnswer> {
    const engineSubscriptionId = engineSubscriptionOf(event);
    if (engineSubscriptionId === null) return { asked: false, record: null };
    const subscription = await this.repository.subscriptionByEngineId(undefined, engineSubscriptionId);
    if (!subscription || subscription.tenantDomain !== tenantDomain || subscription.engineAccount !== null) return { asked: false, record: null };
    return { asked: true, record: await lookup(subscription.subscriptionUuid) };
  }

  private async applyEvent(
    trx: Knex.Transaction,
    tenantDomain: string,
    event: BillingEvent,
    now: Date,
    engineRecord: EngineAnswer,
    told?: Told[],
  ): Promise<Refusal | null> {
    if (event.type === 'ignored') return { outcome: 'ignored', reason: `Meterline does not act on ${event.engineType} events` };
    if (event.type === 'subscription') {
      const subscription = await this.repository.subscriptionByEngineId(trx, event.engineSubscriptionId);
      if (!subscription) return { outcome: 'unknown_object', reason: `no Meterline subscription is billed by ${event.engineSubscriptionId}` };
      const target = checkChain(subscription, tenantDomain, event.account, engineRecord);
      if ('reason' in target) return target;
      const row = await this.pin(trx, target);
      if (event.change === 'deleted') await this.refreshStanding(trx, row, now, { cancelledAt: row.cancelledAt ?? event.occurredAt }, told);
      return null;
    }

    const snapshot = event.invoice;
    const invoiceId = snapshot.engineInvoiceId;
    if (snapshot.engineSubscriptionId === null) return { outcome: 'unknown_object', reason: `invoice ${invoiceId} bills no subscription` };
    const existing = await this.repository.invoiceByEngineId(trx, invoiceId);
    if (existing) {
      const mismatch = recordMismatch(existing, tenantDomain, event.account, snapshot.engineSubscriptionId);
      if (mismatch) return { outcome: 'ignored', reason: `invoice ${invoiceId} is recorded ${mismatch}` };
    }
    const subscription = await this.repository.subscriptionByEngineId(trx, snapshot.engineSubscriptionId);
    let row: SubscriptionBillingRow | undefined;
    if (subscription) {
      const target = checkChain(subscription, tenantDomain, event.account, engineRecord);
      if ('reason' in target) return target;
      row = await this.pin(trx, target);
    } else if (!existing) {
      const waiting = await this.awaitsItsRecord(trx, tenantDomain, snapshot);
      if (waiting) return waiting;
    }

    const merged = mergeInvoice(existing, snapshot, event, { tenantDomain, account: event.account, subscription: row });
    if (existing) await this.repository.updateInvoice(trx, existing.invoiceId, merged, now);
    else await this.repository.insertInvoice(trx, { ...merged, createdAt: event.occurredAt }, now);
    told?.push({ kind: 'invoice', before: existing?.status, record: merged });
    if (row) await this.refreshStanding(trx, row, now, {}, told);
    return null;
  }

  /** Records the account the engine confirmed, so later events (also after unsubscribing) are checked against it. */
  private async pin(trx: Knex.Transaction, target: Target): Promise<SubscriptionBillingRow> {
    if (target.pinAccount) await this.repository.recordEngineAccount(trx, target.subscription.subscriptionUuid, target.subscription.engineAccount!);
    return target.subscription;
  }

  /**
   * An invoice of an engine subscription Meterline has not recorded yet: webhooks can beat the
   * subscribe workflow. It is kept unattached (adopted by its engine subscription id, tenant and
   * account when the subscription is recorded) only if its metadata names a subscription of this
   * tenant that is not billed yet; the metadata never attaches it.
   */
  private async awaitsItsRecord(trx: Knex.Transaction, tenantDomain: string, snapshot: InvoiceSnapshot): Promise<Refusal | null> {
    const named = snapshot.subscriptionUuid;
    const unknown: Refusal = { outcome: 'unknown_object', reason: `no Meterline subscription is billed by ${snapshot.engineSubscriptionId}` };
    if (named === null) return unknown;
    const gateway = await this.repository.gatewayStatus(named, trx);
    if (!gateway || gateway.tenantDomain !== tenantDomain) return unknown;
    const billed = await this.repository.subscriptionByUuid(named, trx);
    if (billed) {
      return { outcome: 'ignored', reason: `its metadata names subscription ${named}, which is billed by ${billed.engineSubscriptionId}, not ${snapshot.engineSubscriptionId}` };
    }
    return null;
  }
  /**
   * A subscription the billing engine now bills: record it (awaiting its first payment) and
   * decide its access. Invoices that arrived before this (webhooks can beat the workflow) are
   * adopted, so a first invoice already paid is not waited for again.
   */
  async subscriptionBilled(
    subscription: Omit<SubscriptionBillingRow, 'awaitingFirstPayment' | 'failingSince' | 'cancelledAt'>,
    now: Date,
    /**
     * The engine's access for the subscription it just made: ON_HOLD says its first payment was
     * tried and did not succeed (Stripe: `incomplete`), so it is recorded as failing from now and
     * held before any event about its invoice arrives.
     */
    engineAccess: SubscriptionAccess = 'UNBLOCKED',
  ) {
    const failingSince = engineAccess === 'ON_HOLD' ? now : null;
    const record = () =>
      this.repository.transaction(async (trx) => {
        const existing = await this.repository.subscriptionByUuid(subscription.subscriptionUuid, trx);
        const row: SubscriptionBillingRow = existing ?? { ...subscription, awaitingFirstPayment: true, failingSince, cancelledAt: null };
        if (!existing) await this.repository.insertSubscription(trx, row, now);
        const standing = await this.refreshStanding(trx, row, now, {});
        return decideAccess(standing, this.rulesOf(row.tenantDomain), now);
      });
    try {
      return await record();
    } catch (error) {
      // Another process finishing the same abandoned attempt recorded it first: decide from its record.
      if (!isUniqueViolation(error)) throw error;
      return record();
    }
  }

  /** Whether the subscription has its billing record: its subscribe finished (it may be held until paid). */
  async isBilled(subscriptionUuid: string): Promise<boolean> {
    return (await this.repository.subscriptionByUuid(subscriptionUuid)) !== undefined;
  }

  invoicesOfSubscription(subscriptionUuid: string): Promise<InvoiceRecord[]> {
    return this.repository.invoicesOfSubscription(subscriptionUuid);
  }

  invoicesOfApi(apiUuid: string): Promise<InvoiceRecord[]> {
    return this.repository.invoicesOfApi(apiUuid);
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
    /** When given, a change of the gateway status is added to it (to be told after the commit). */
    told?: Told[],
  ): Promise<PaymentStanding> {
    await this.repository.adoptInvoices(trx, subscription);
    const invoices = await this.repository.invoicesOfSubscription(subscription.subscriptionUuid, trx);
    // Only invoices of the engine subscription recorded at subscribe (in its tenant and, once
    // known, its account) count, whatever else names the subscription.
    const own = invoices.filter(
      (i) =>
        i.engineSubscriptionId === subscription.engineSubscriptionId &&
        i.tenantDomain === subscription.tenantDomain &&
        (subscription.engineAccount === null || i.engineAccount === subscription.engineAccount),
    );
    const standing: PaymentStanding = {
      awaitingFirstPayment: awaitingFirstPayment(subscription, own.filter((i) => this.isFirstPaymentInvoice(i.billingReason))),
      // Until the engine has told us of any invoice, the failure it reported at subscribe stands.
      failingSince: own.length === 0 ? subscription.failingSince : failingSince(own),
      cancelledAt: change.cancelledAt ?? subscription.cancelledAt,
    };
    await this.repository.updateStanding(trx, subscription.subscriptionUuid, standing, now);
    const decision = decideAccess(standing, this.rulesOf(subscription.tenantDomain), now);
    const before = told ? (await this.repository.gatewayStatus(subscription.subscriptionUuid, trx))?.status : undefined;
    await this.repository.setGatewayStatus(trx, subscription.subscriptionUuid, decision.status);
    if (told && before !== undefined) {
      // Read again: a publisher's block stands whatever billing decided.
      const after = (await this.repository.gatewayStatus(subscription.subscriptionUuid, trx))?.status;
      if (after !== undefined && after !== before) {
        told.push({ kind: 'access', subscriptionUuid: subscription.subscriptionUuid, tenantDomain: subscription.tenantDomain, before, after, reason: decision.reason });
      }
    }
    return standing;
  }

  /**
   * Tells the invoice lifecycle of a record just written (billing events, and Meterline's own
   * invoices as they are recorded): issued when it first is OPEN, paid when it first is PAID,
   * payment_failed for each failed attempt (by its event) on an unsettled invoice. Never throws.
   */
  async tellInvoice(record: Omit<InvoiceRecord, 'invoiceId' | 'createdAt'>, before: InvoiceStatus | undefined, trigger: InvoiceTrigger | null, now: Date): Promise<void> {
    const notifications = this.notifications;
    if (!notifications) return;
    const types: Array<'invoice.issued' | 'invoice.paid' | 'invoice.payment_failed'> = [];
    if (record.status === 'OPEN' && (before === undefined || before === 'DRAFT')) types.push('invoice.issued');
    if (trigger?.change === 'payment_failed' && (record.status === 'OPEN' || record.status === 'UNCOLLECTIBLE')) types.push('invoice.payment_failed');
    if (record.status === 'PAID' && before !== 'PAID') types.push('invoice.paid');
    if (types.length === 0) return;
    const subscription = record.subscriptionUuid ? await notifications.describe(record.subscriptionUuid).catch(() => undefined) : undefined;
    const tenant = record.tenantDomain;
    const amount = `${decimalAmount(record.total, record.currency)} ${record.currency.toUpperCase()}`;
    const of = subscription ? ` for ${subscriptionLabel(subscription)}` : '';
    const data = {
      ...(subscription ? subscriptionFacts(subscription) : { subscriptionId: record.subscriptionUuid, apiId: record.apiUuid, applicationId: record.applicationUuid }),
      invoiceId: record.engineInvoiceId,
      status: record.status,
      currency: record.currency,
      amount: decimalAmount(record.total, record.currency),
      amountDue: decimalAmount(record.amountDue, record.currency),
      amountRemaining: decimalAmount(record.amountRemaining, record.currency),
      periodStart: record.periodStart?.toISOString() ?? null,
      periodEnd: record.periodEnd?.toISOString() ?? null,
      billingReason: record.billingReason,
      payLink: record.hostedInvoiceUrl,
      invoicePdfUrl: record.invoicePdfUrl,
    };
    for (const type of types) {
      const reason = type === 'invoice.payment_failed' ? (trigger?.failure ?? record.lastError ?? 'the payment failed') : null;
      const summary =
        type === 'invoice.issued'
          ? `Invoice ${record.engineInvoiceId} of ${amount}${of} was issued${record.hostedInvoiceUrl ? `; pay it at ${record.hostedInvoiceUrl}` : ''}.`
          : type === 'invoice.paid'
            ? `Invoice ${record.engineInvoiceId} of ${amount}${of} was paid.`
            : `Payment of invoice ${record.engineInvoiceId} of ${amount}${of} failed: ${reason}`;
      const event: NotificationEvent = {
        id: type === 'invoice.payment_failed' ? `${type}:${tenant}:${record.engineInvoiceId}:${trigger!.eventId}` : `${type}:${tenant}:${record.engineInvoiceId}`,
        type,
        tenantDomain: tenant,
        occurredAt: now,
        summary,
        data: reason === null ? data : { ...data, reason },
        subscriberEmail: subscription?.subscriber.email ?? null,
      };
      await emit(notifications.notifier, event, this.logger);
    }
  }

  /** After an applied event committed: what it changed, told. */
  private async tell(told: readonly Told[], event: BillingEvent, now: Date): Promise<void> {
    const notifications = this.notifications;
    if (!notifications) return;
    for (const change of told) {
      if (change.kind === 'invoice') {
        const trigger = event.type === 'invoice' ? { eventId: event.id, change: event.change, failure: event.failure } : null;
        await this.tellInvoice(change.record, change.before, trigger, now);
        continue;
      }
      const type =
        change.after === 'BLOCKED' ? 'subscription.blocked' : change.before === 'BLOCKED' ? 'subscription.unblocked' : change.before === 'ON_HOLD' && change.after === 'UNBLOCKED' ? 'subscription.approved' : null;
      if (type === null) continue;
      const subscription = await notifications.describe(change.subscriptionUuid).catch(() => undefined);
      if (!subscription) continue;
      const label = subscriptionLabel(subscription);
      const summary =
        type === 'subscription.blocked'
          ? `Subscription of ${label} was blocked: ${change.reason ?? 'its payments are not in order'}.`
          : type === 'subscription.unblocked'
            ? `Subscription of ${label} was unblocked: its payments are in order again.`
            : `Subscription of ${label} was approved: its first invoice is paid.`;
      await emit(
        notifications.notifier,
        {
          // Approved is told once per subscription (the workflow uses the same id); a block or unblock by the event that caused it.
          id: type === 'subscription.approved' ? `${type}:${change.tenantDomain}:${change.subscriptionUuid}` : `${type}:${change.tenantDomain}:${change.subscriptionUuid}:${event.id}`,
          type,
          tenantDomain: change.tenantDomain,
          occurredAt: now,
          summary,
          data: { ...subscriptionFacts(subscription), status: change.after, previousStatus: change.before, cause: 'payment', reason: change.reason },
          subscriberEmail: subscription.subscriber.email,
        },
        this.logger,
      );
    }
  }
}

/**
 * Checks the chain tenant → engine subscription → account for a recorded subscription. The
 * account is the one Meterline holds for it or, until then, the one the engine recorded (pinned
 * on first use, so it outlives the engine's own record after unsubscribing).
 */
function checkChain(
  subscription: SubscriptionBillingRow,
  tenantDomain: string,
  account: string | null,
  engine: EngineAnswer,
): Target | Refusal {
  const id = subscription.engineSubscriptionId;
  if (subscription.tenantDomain !== tenantDomain) return { outcome: 'ignored', reason: `${id} bills a subscription of another tenant` };
  let pinAccount = false;
  let expected = subscription.engineAccount;
  if (expected === null) {
    if (!engine.asked) throw new EngineRecordNeeded();
    const engineRecord = engine.record;
    if (!engineRecord || engineRecord.engineSubscriptionId !== id) {
      return { outcome: 'ignored', reason: `the billing engine holds no record of ${id} to check the event's account against` };
    }
    expected = engineRecord.account;
    pinAccount = expected !== null;
  }
  if (account !== expected) {
    return { outcome: 'ignored', reason: `${id} is billed in account ${expected ?? 'platform'}, not ${account ?? 'platform'}` };
  }
  return { subscription: { ...subscription, engineAccount: expected }, pinAccount };
}

/** How an existing invoice record differs from what the event says it is, if it does. */
function recordMismatch(existing: InvoiceRecord, tenantDomain: string, account: string | null, engineSubscriptionId: string): string | null {
  if (existing.tenantDomain !== tenantDomain) return 'for another tenant';
  if (existing.engineAccount !== account) return `in account ${existing.engineAccount ?? 'platform'}, not ${account ?? 'platform'}`;
  if (existing.engineSubscriptionId !== engineSubscriptionId) return `for ${existing.engineSubscriptionId ?? 'no subscription'}, not ${engineSubscriptionId}`;
  return null;
}

function engineSubscriptionOf(event: BillingEvent): string | null {
  if (event.type === 'subscription') return event.engineSubscriptionId;
  if (event.type === 'invoice') return event.invoice.engineSubscriptionId;
  return null;
}

/**
 * The first invoice (issued when the subscription started, of the engine subscription recorded
 * at subscribe) is unpaid while it is not PAID; until the engine has told us of it, the
 * subscription keeps the standing it has.
 */
function awaitingFirstPayment(subscription: SubscriptionBillingRow, first: readonly InvoiceRecord[]): boolean {
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
    tenantDomain: existing?.tenantDomain ?? context.tenantDomain,
    engineInvoiceId: snapshot.engineInvoiceId,
    engineAccount: existing?.engineAccount ?? context.account,
    engineSubscriptionId: existing?.engineSubscriptionId ?? snapshot.engineSubscriptionId,
    subscriptionUuid: existing?.subscriptionUuid ?? context.subscription?.subscriptionUuid ?? null,
    apiUuid: existing?.apiUuid ?? context.subscription?.apiUuid ?? null,
    applicationUuid: existing?.applicationUuid ?? context.subscription?.applicationUuid ?? null,
    status,
    currency: snapshot.currency,
    total: amounts.total,
    amountDue: amounts.amountDue,
    amountPaid: amounts.amountPaid,
    amountRemaining: amounts.amountRemaining,
    carriedToBalance: amounts.carriedToBalance ?? null,
    collectedFromBalance: amounts.collectedFromBalance ?? null,
    periodStart: snapshot.periodStart,
    periodEnd: snapshot.periodEnd,
    hostedInvoiceUrl: payLink(snapshot.hostedInvoiceUrl) ?? existing?.hostedInvoiceUrl ?? null,
    invoicePdfUrl: payLink(snapshot.invoicePdfUrl ?? null) ?? existing?.invoicePdfUrl ?? null,
    billingReason: existing?.billingReason ?? snapshot.billingReason,
    lastError: event.change === 'payment_failed' ? event.failure : (existing?.lastError ?? null),
    finalizedAt: at('finalizedAt'),
    paidAt: at('paidAt'),
    voidedAt: at('voidedAt'),
    uncollectibleAt: at('uncollectibleAt'),
    firstFailedAt: at('firstFailedAt'),
  };
}
