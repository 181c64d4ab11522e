import { createHash } from 'node:crypto';
import type { IssuedInvoices } from '../billing/issued-invoices';
import type { InvoicingConfig } from '../config/schema';
import type { PolicyPricing, SubscriptionRef } from '../domain/model';
import type { Logger } from '../logger';
import type { BillingEvent } from '../monetization/billing-events';
import type { InvoiceToSubmit, Monetization, OwnInvoiceKind } from '../monetization/monetization';
import { calls as callWords, period as periodWords } from '../rating/describe';
import { rate, type RatingInput } from '../rating/rate';
import { nextBoundaryAfter, type CycleSpec } from '../usage/windows';
import { proratedBaseFee } from './plan-change';
import type { BilledUsage, InvoicedSubscription, NewOwnInvoice, OwnInvoice, OwnInvoiceLine, OwnInvoicesRepository } from './own-invoices.repository';

/**
 * The usage a period's invoice rates: the usage part's exactly-once usage records (the ones the
 * publisher sends), never the raw events.
 */
export interface PeriodUsage {
  /**
   * Freezes the usage source's settled events into usage records (the usage part's own freeze,
   * under the publisher's lease), so a period's records are complete before they are summed.
   * Not frozen when it could not now (a publish job holds the lease) or the run had failures (the
   * reason says which): the period waits for the next check, so no usage a failed run left out is
   * rated.
   */
  freeze(): Promise<{ frozen: true } | { frozen: false; reason: string }>;
  /** A subscription's calls in the records whose window starts in [from, to) (no `to`: from `from` on). */
  calls(subscriptionUuid: string, from: Date, to: Date | null): Promise<bigint>;
  /**
   * The same calls in [from, to) without freezing: the records plus the source's not-yet-frozen
   * usage of that subscription, read directly (the pending invoice's view; `calls` after a freeze
   * answers the same).
   */
  callsWithoutFreezing(subscriptionUuid: string, from: Date, to: Date): Promise<bigint>;
}

export interface OwnInvoicingDependencies {
  repository: OwnInvoicesRepository;
  engine: Monetization;
  /** Billing's records of issued invoices (payment, listings and access follow them). */
  issued: IssuedInvoices;
  usage: PeriodUsage;
  /** The subscriptions as the core knows them now (policy and pricing included); missing ones are left out. */
  subscriptions(uuids: readonly string[]): Promise<Map<string, SubscriptionRef>>;
  options: InvoicingConfig;
  clock: () => Date;
  logger: Logger;
  /**
   * Called after each step has taken effect; production passes none. A test passes one that
   * throws at a chosen step: to everyone else that is a process killed there.
   */
  probe?: (step: 'drafted' | 'engine-answered') => Promise<void>;
  /**
   * Applies a billing event an engine's `sweepInvoices` found, as a webhook's event is applied
   * (billing records); without it nothing is swept.
   */
  applyEngineEvent?: (tenantDomain: string, event: BillingEvent) => Promise<unknown>;
}

/** What one check did (`closeDuePeriods`). */
export interface CloseResult {
  closed: number;
  /** Why due periods were left for the next check, when they were. */
  waiting: string | null;
}

/** What "close now" did for one subscription (`closeNow`). */
export interface CloseNowResult {
  /** Periods closed by this call. */
  closed: number;
  /** Why due periods were left, when they were (see CloseResult). */
  waiting: string | null;
  /** The invoices this call made (none when everything due was made before: it is idempotent). */
  made: OwnInvoice[];
  /** Invoices of the subscription this call submitted to the engine: made now, or drafts left before. */
  submitted: number;
}

/** The subscription is not one of the tenant's (or is unknown). */
export class OwnInvoiceSubscriptionNotFound extends Error {}
/** The engine makes its own invoices: Meterline has nothing to close. */
export class OwnInvoicingDisabled extends Error {}

/** Drafts submitted per check, at most. */
const DRAFTS_PER_CHECK = 200;
const DAY_MS = 86_400_000;
/**
 * A change-of-plan draft whose tier has still not changed this long after it was drafted is of a
 * change that never happened (the process stopped between the two): it is removed.
 */
const STALE_CHANGE_MS = 10 * 60_000;

/** Lines and usage rows for usage of earlier periods that arrived after they were invoiced. */
interface LateUsage {
  lines: OwnInvoiceLine[];
  usage: BilledUsage[];
}

/** Meterline's invoice id: one per (subscription, kind, period start), whoever makes it and however often. */
export function ownInvoiceId(subscriptionUuid: string, kind: OwnInvoiceKind, periodStart: Date): string {
  return `mli_${createHash('sha256').update(`${subscriptionUuid}|${kind}|${periodStart.getTime()}`).digest('hex').slice(0, 40)}`;
}

/** The cycle Meterline invoices a subscription on: its policy's billing cycle from the anchor. */
export function ownCycle(pricing: PolicyPricing, anchor: Date): CycleSpec {
  return { anchorMs: anchor.getTime(), interval: pricing.billingCycle, intervalCount: 1 };
}

/**
 * Meterline's own invoices, for an engine that only collects payment (`capabilities.invoicing`
 * is 'meterline'): it rates a subscription's policy and usage with `rate()` and makes
 * - SUBSCRIPTION_START when the subscription starts: setup fee and the first period's base fee;
 * - PERIOD `close_after_minutes` after each period ends: that period's usage and the next
 *   period's base fee, in advance;
 * - FINAL when it is cancelled: the usage since the last invoice.
 * Each is written as a DRAFT first (its id deterministic, a unique key on its period), then
 * submitted to the engine (idempotent by the id) and recorded OPEN on the billing records; a
 * crash at any step leaves a DRAFT that the next check submits again. Nothing to pay: recorded
 * PAID at once, never submitted.
 */
export class OwnInvoicing {
  constructor(private readonly deps: OwnInvoicingDependencies) {}

  /** Whether the engine leaves invoicing to Meterline. */
  get enabled(): boolean {
    return this.deps.engine.capabilities.invoicing === 'meterline';
  }

  /**
   * The subscription is billed from now: its first invoice is made and submitted. Answers the
   * access the subscription has after it (null: nothing was made, or it has no billing record).
   */
  async subscriptionStarted(subscription: SubscriptionRef, at: Date): Promise<{ access: string } | null> {
    const pricing = subscription.policy.pricing;
    if (!this.enabled || subscription.policy.billingPlan !== 'COMMERCIAL' || pricing === null) return null;
    // Subscribed again after a failure part-way (the workflow adopts its attempt): the first invoice made then.
    const made = (await this.deps.repository.ofSubscription(subscription.uuid)).find((i) => i.kind === 'SUBSCRIPTION_START');
    if (made) return (await this.submit(made)) ?? null;
    // The engine's cycle when it has one (its anchor is what the usage publisher cuts windows at).
    const anchor = (await this.deps.engine.billingCycleOf(subscription))?.anchor ?? at;
    const end = new Date(nextBoundaryAfter(ownCycle(pricing, anchor), anchor.getTime()));
    const rating = rate({
      pricing,
      apiName: subscription.api.name,
      calls: 0n,
      period: { start: anchor, end },
      include: { setupFee: true, baseFee: true, usage: false },
    });
    const invoice = await this.draft(subscription, 'SUBSCRIPTION_START', { start: anchor, end }, null, 0n, rating);
    return (await this.submit(invoice)) ?? null;
  }

  /**
   * The subscription is cancelled (its usage already frozen by the unsubscribe workflow): its
   * final invoice bills the usage since its last invoice. Nothing for a subscription Meterline
   * never invoiced.
   */
  async subscriptionEnded(subscription: SubscriptionRef, at: Date): Promise<OwnInvoice | null> {
    const pricing = subscription.policy.pricing;
    if (!this.enabled || pricing === null) return null;
    const invoices = await this.deps.repository.ofSubscription(subscription.uuid);
    const made = invoices.find((i) => i.kind === 'FINAL');
    if (made) {
      // Cancelled again after a failure part-way: the final invoice is the one made then.
      await this.submit(made);
      return (await this.deps.repository.byId(made.invoiceId)) ?? made;
    }
    const invoiced = (await this.deps.repository.invoicedSubscriptions()).find((s) => s.subscriptionUuid === subscription.uuid);
    if (!invoiced) return null;
    let from = invoiced.invoicedUpTo;
    // A period closed at this very moment rates the same usage: whichever is written first bills it
    // (one invoice per usage start), and the final invoice then starts where that period ended.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const calls = await this.deps.usage.calls(subscription.uuid, from, null);
      const end = at.getTime() > from.getTime() ? at : from;
      const rating = rate({ pricing, apiName: subscription.api.name, calls, period: { start: from, end }, include: { setupFee: false, baseFee: false, usage: true } });
      const late = await this.lateUsage(subscription, rating.currency, from);
      const invoice = await this.draft(subscription, 'FINAL', { start: from, end }, from, calls, rating, late);
      if (invoice.kind === 'FINAL') {
        await this.submit(invoice);
        return (await this.deps.repository.byId(invoice.invoiceId)) ?? invoice;
      }
      from = invoice.periodEnd;
    }
    throw new Error(`the final invoice of subscription ${subscription.uuid} kept meeting periods closed at the same time`);
  }

  /**
   * Step 1 of a change of business plan at `at`, before the tier changes (the usage so far already
   * frozen by the caller): the periods that ended before `at` are closed, then the open period is
   * closed at `at` with a PERIOD invoice for [period start, at): its usage at the OLD plan's price
   * and the NEW plan's base fee pro-rated for [at, period end) (`proratedBaseFee`). The draft is
   * the record of the change and its instant (id: subscription + PERIOD + period start, so the
   * same change drafted twice is one invoice); the period then closes at its end as usual, from
   * `at`, on the new plan. Its snapshot is the old plan (late usage of [start, at) is rated with
   * it). A change draft left by a change that did not happen (the tier still the old one) is
   * removed first. Null when Meterline does not invoice the subscription or `at` is a period start.
   */
  async planChanging(from: SubscriptionRef, to: SubscriptionRef, at: Date): Promise<OwnInvoice | null> {
    const pricing = from.policy.pricing;
    const next = to.policy.pricing;
    if (!this.enabled || !pricing || !next) return null;
    if (pricing.billingCycle !== next.billingCycle || pricing.currency.toLowerCase() !== next.currency.toLowerCase()) {
      throw new Error(`a change of plan keeps the billing cycle and the currency (${pricing.billingCycle} ${pricing.currency} → ${next.billingCycle} ${next.currency})`);
    }
    const tier = (await this.deps.subscriptions([from.uuid])).get(from.uuid)?.policy.name;
    for (const stale of await this.changeDrafts(from.uuid)) {
      if (stale.subscription.policy.name === tier) await this.deps.repository.deleteDraft(stale.invoiceId);
    }
    const invoiced = (await this.deps.repository.invoicedSubscriptions()).find((s) => s.subscriptionUuid === from.uuid);
    if (!invoiced || invoiced.ended) return null;
    const cycle = ownCycle(pricing, invoiced.anchor);
    let start = invoiced.invoicedUpTo;
    // Whole periods that ended before the change (not yet due: late usage still goes on a later invoice).
    for (let end = nextBoundaryAfter(cycle, start.getTime()); end <= at.getTime(); end = nextBoundaryAfter(cycle, start.getTime())) {
      if (!(await this.closePeriod(from, pricing, start, new Date(end), new Date(nextBoundaryAfter(cycle, end))))) return null;
      start = new Date(end);
    }
    if (at.getTime() <= start.getTime()) return null; // at a period start: the period's invoice already billed the old plan up to it
    const periodEnd = new Date(nextBoundaryAfter(cycle, start.getTime()));
    const calls = pricing.plan === 'DYNAMICRATE' ? await this.deps.usage.calls(from.uuid, start, at) : 0n;
    const used = rate({ pricing, apiName: from.api.name, calls, period: { start, end: at }, include: { setupFee: false, baseFee: false, usage: true } });
    const fee = proratedBaseFee(next, from.api.name, to.policy.name, { start, end: periodEnd }, at);
    const lines = [...used.lines, ...(fee ? [fee] : [])];
    const rating = { currency: used.currency, lines, total: lines.reduce((sum, line) => sum + line.amount, 0n) };
    const invoice = await this.draft(from, 'PERIOD', { start, end: at }, start, calls, rating, await this.lateUsage(from, used.currency, start));
    return invoice.kind === 'PERIOD' ? invoice : null;
  }

  /**
   * Step 2 of a change of plan, once the tier changed: the change's invoice is submitted. A failure
   * is logged (the invoice stays a draft, which every check submits again).
   */
  async planChanged(invoiceId: string): Promise<void> {
    const invoice = await this.deps.repository.byId(invoiceId);
    if (invoice) await this.submit(invoice);
  }

  /** The subscription's drafts that close a period part-way (a change of plan's). */
  private async changeDrafts(subscriptionUuid: string): Promise<OwnInvoice[]> {
    const invoices = await this.deps.repository.ofSubscription(subscriptionUuid);
    const anchor = invoices.find((i) => i.kind === 'SUBSCRIPTION_START')?.periodStart;
    if (!anchor) return [];
    return invoices.filter((i) => i.status === 'DRAFT' && isChangeInvoice(i, anchor));
  }

  /**
   * Whether a draft is a change of plan's whose tier has not changed (yet): left as it is for
   * STALE_CHANGE_MS (the change is on its way), removed after that (it never happened).
   */
  private async unappliedChange(invoice: OwnInvoice): Promise<boolean> {
    if (invoice.kind !== 'PERIOD') return false;
    const start = (await this.deps.repository.ofSubscription(invoice.subscriptionUuid)).find((i) => i.kind === 'SUBSCRIPTION_START');
    if (!start || !isChangeInvoice(invoice, start.periodStart)) return false;
    const now = (await this.deps.subscriptions([invoice.subscriptionUuid])).get(invoice.subscriptionUuid);
    if (!now || now.policy.name !== invoice.subscription.policy.name) return false;
    if (this.deps.clock().getTime() - invoice.createdAt.getTime() >= STALE_CHANGE_MS) {
      if (await this.deps.repository.deleteDraft(invoice.invoiceId)) this.deps.logger.warn({ invoice: invoice.invoiceId, subscription: invoice.subscriptionUuid }, 'removed the invoice of a change of plan that did not happen');
    }
    return true;
  }

  /**
   * The engine ended the subscription itself (a `subscription` `deleted` billing event, or
   * reconcile cancelling an engine subscription the gateway no longer has): its final invoice, as
   * an unsubscribe makes it, up to `at`. No unsubscribe workflow sent its usage first, so the usage
   * part is frozen here; when it cannot be now, nothing is made and a later check makes it
   * (`endCancelled`). With the subscription gone from the core, it is rated with the plan its
   * last invoice had. Idempotent with the unsubscribe's own: one FINAL whoever comes first.
   */
  async subscriptionCancelledByEngine(subscriptionUuid: string, at: Date): Promise<OwnInvoice | null> {
    if (!this.enabled) return null;
    const invoices = await this.deps.repository.ofSubscription(subscriptionUuid);
    const last = invoices[invoices.length - 1];
    if (!last) return null;
    const now = (await this.deps.subscriptions([subscriptionUuid])).get(subscriptionUuid);
    const subscription = now?.policy.pricing ? now : last.subscription;
    if (!invoices.some((i) => i.kind === 'FINAL')) {
      const freeze = await this.deps.usage.freeze();
      if (!freeze.frozen) {
        this.deps.logger.warn({ subscription: subscriptionUuid, reason: freeze.reason }, 'the engine cancelled a subscription; its final invoice waits for the next check');
        return null;
      }
    }
    return this.subscriptionEnded(subscription, at);
  }

  /**
   * Makes the final invoice of every invoiced subscription that ended without one: its billing
   * record cancelled by the engine, or gone from the core (removed after a final invoice that
   * failed, or an engine cancel whose hook failed). Answers how many.
   */
  async endCancelled(only?: string): Promise<number> {
    if (!this.enabled) return 0;
    const open = (await this.deps.repository.invoicedSubscriptions()).filter((s) => !s.ended && (only === undefined || s.subscriptionUuid === only));
    if (open.length === 0) return 0;
    const live = new Set(await this.deps.issued.liveSubscriptions());
    const refs = await this.deps.subscriptions(open.map((s) => s.subscriptionUuid));
    let ended = 0;
    for (const { subscriptionUuid } of open.filter((s) => !live.has(s.subscriptionUuid) || !refs.has(s.subscriptionUuid))) {
      try {
        if ((await this.subscriptionCancelledByEngine(subscriptionUuid, this.deps.clock())) !== null) ended += 1;
      } catch (error) {
        this.deps.logger.error({ err: error, subscription: subscriptionUuid }, 'could not make the final invoice of a cancelled subscription; the next check tries again');
      }
    }
    return ended;
  }

  /**
   * Makes the first invoices missing, the final invoices of subscriptions cancelled without one
   * (`endCancelled`), then closes every period that ended `close_after_minutes` ago or more and
   * has no invoice yet (all of them, after a downtime), having frozen the usage source first; then
   * submits the drafts left by failures and crashes. What `meterline serve` runs every
   * `check_interval_seconds`.
   */
  async check(): Promise<CloseResult> {
    await this.startMissing();
    await this.endCancelled();
    const result = await this.closeDuePeriods();
    await this.submitDrafts();
    await this.sweepEngineInvoices();
    return result;
  }

  /**
   * What the engine's payment system says of its open invoices past their expiry (it may send no
   * event then: `Monetization.sweepInvoices`), applied as webhooks are. A failure is logged and
   * left for the next check.
   */
  async sweepEngineInvoices(): Promise<number> {
    const sweep = this.deps.engine.sweepInvoices?.bind(this.deps.engine);
    const apply = this.deps.applyEngineEvent;
    if (!this.enabled || !sweep || !apply) return 0;
    let applied = 0;
    try {
      for (const { tenantDomain, event } of await sweep(this.deps.clock())) {
        await apply(tenantDomain, event);
        applied += 1;
      }
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'sweeping the engine invoices past their expiry failed; the next check tries again');
    }
    return applied;
  }

  /**
   * Makes the first invoice of every billed subscription that has none (its subscribe hook failed
   * after the subscription was billed): with the engine's anchor, so an invoice the workflow is
   * making at the same moment is the same invoice. A subscription whose engine tells no cycle is
   * left to its workflow (its anchor would be this moment, another invoice). Answers how many.
   */
  async startMissing(): Promise<number> {
    if (!this.enabled) return 0;
    const invoiced = new Set((await this.deps.repository.invoicedSubscriptions()).map((s) => s.subscriptionUuid));
    const missing = (await this.deps.issued.liveSubscriptions()).filter((uuid) => !invoiced.has(uuid));
    if (missing.length === 0) return 0;
    let started = 0;
    for (const subscription of (await this.deps.subscriptions(missing)).values()) {
      try {
        if ((await this.deps.engine.billingCycleOf(subscription)) === null) continue;
        if ((await this.subscriptionStarted(subscription, this.deps.clock())) !== null || (await this.deps.repository.ofSubscription(subscription.uuid)).length > 0) started += 1;
      } catch (error) {
        this.deps.logger.error({ err: error, subscription: subscription.uuid }, 'could not make the first invoice of a billed subscription; the next check tries again');
      }
    }
    if (started > 0) this.deps.logger.warn({ started }, 'first invoices made for billed subscriptions that had none');
    return started;
  }

  /**
   * "Close now" for one subscription of a tenant: the same check as `check()` restricted to it
   * (its missing first invoice, its due periods, its drafts left). Idempotent: a second call
   * makes nothing. Throws OwnInvoiceSubscriptionNotFound for a subscription not of the tenant,
   * OwnInvoicingDisabled when the engine makes its own invoices.
   */
  async closeNow(tenantDomain: string, subscriptionUuid: string): Promise<CloseNowResult> {
    const subscription = (await this.deps.subscriptions([subscriptionUuid])).get(subscriptionUuid);
    if (!subscription || subscription.api.tenant.domain !== tenantDomain) throw new OwnInvoiceSubscriptionNotFound(`Subscription ${subscriptionUuid} was not found`);
    if (!this.enabled) throw new OwnInvoicingDisabled(`the ${this.deps.engine.name} engine makes its own invoices; Meterline has none to close`);
    const before = new Set((await this.deps.repository.ofSubscription(subscriptionUuid)).map((i) => i.invoiceId));
    const live = await this.deps.issued.liveSubscriptions();
    if (before.size === 0 && live.includes(subscriptionUuid) && (await this.deps.engine.billingCycleOf(subscription)) !== null) {
      await this.subscriptionStarted(subscription, this.deps.clock());
    }
    await this.endCancelled(subscriptionUuid);
    const result = await this.closeDuePeriods(subscriptionUuid);
    const submitted = new Set<string>();
    for (const draft of (await this.deps.repository.ofSubscription(subscriptionUuid)).filter((i) => i.status === 'DRAFT')) {
      if ((await this.submit(draft)) !== undefined) submitted.add(draft.invoiceId);
    }
    const made = (await this.deps.repository.ofSubscription(subscriptionUuid)).filter((i) => !before.has(i.invoiceId));
    // The invoices made now went to the engine as they were made (OPEN), not only the drafts left.
    for (const invoice of made) if (invoice.status === 'OPEN') submitted.add(invoice.invoiceId);
    return { closed: result.closed, waiting: result.waiting, made, submitted: submitted.size };
  }

  /** A tenant's own invoices (of one subscription when given), newest period first, at most `limit`. */
  invoicesOfTenant(tenantDomain: string, subscriptionUuid: string | undefined, limit: number): Promise<OwnInvoice[]> {
    return this.deps.repository.ofTenant(tenantDomain, subscriptionUuid, limit);
  }

  /** Closes the due periods of every subscription, or of `only` that one. */
  async closeDuePeriods(only?: string): Promise<CloseResult> {
    if (!this.enabled) return { closed: 0, waiting: null };
    const now = this.deps.clock().getTime();
    const closeAfterMs = this.deps.options.close_after_minutes * 60_000;
    // A subscription the engine cancelled gets its final invoice (`endCancelled`), no more periods.
    const billed = new Set(await this.deps.issued.liveSubscriptions());
    const live = (await this.deps.repository.invoicedSubscriptions()).filter((s) => !s.ended && billed.has(s.subscriptionUuid) && (only === undefined || s.subscriptionUuid === only));
    const refs = await this.deps.subscriptions(live.map((s) => s.subscriptionUuid));
    const due: Array<{ invoiced: InvoicedSubscription; subscription: SubscriptionRef; pricing: PolicyPricing }> = [];
    for (const invoiced of live) {
      const subscription = refs.get(invoiced.subscriptionUuid);
      const pricing = subscription?.policy.pricing;
      if (!subscription || !pricing) continue; // gone without a final invoice, or no longer priced: nothing to rate it with
      if (nextBoundaryAfter(ownCycle(pricing, invoiced.anchor), invoiced.invoicedUpTo.getTime()) + closeAfterMs <= now) due.push({ invoiced, subscription, pricing });
    }
    if (due.length === 0) return { closed: 0, waiting: null };
    const freeze = await this.deps.usage.freeze();
    if (!freeze.frozen) return { closed: 0, waiting: `the usage could not be frozen now (${freeze.reason})` };
    let closed = 0;
    for (const { invoiced, subscription, pricing } of due) {
      const cycle = ownCycle(pricing, invoiced.anchor);
      let start = invoiced.invoicedUpTo.getTime();
      for (let end = nextBoundaryAfter(cycle, start); end + closeAfterMs <= now; start = end, end = nextBoundaryAfter(cycle, start)) {
        try {
          // False: the subscription's final invoice billed this usage (cancelled meanwhile): no more periods.
          if (!(await this.closePeriod(subscription, pricing, new Date(start), new Date(end), new Date(nextBoundaryAfter(cycle, end))))) break;
          closed += 1;
        } catch (error) {
          this.deps.logger.error({ err: error, subscription: subscription.uuid, periodStart: new Date(start).toISOString() }, 'could not close a billing period; the next check tries again');
          break;
        }
      }
    }
    return { closed, waiting: null };
  }

  /** Submits the drafts still waiting (a failed or interrupted submission), oldest first. */
  async submitDrafts(): Promise<number> {
    if (!this.enabled) return 0;
    let submitted = 0;
    for (const draft of await this.deps.repository.drafts(DRAFTS_PER_CHECK)) {
      if ((await this.submit(draft)) !== undefined) submitted += 1;
    }
    return submitted;
  }

  /** A subscription's own invoices, oldest period first. */
  invoicesOf(subscriptionUuid: string): Promise<OwnInvoice[]> {
    return this.deps.repository.ofSubscription(subscriptionUuid);
  }

  private async closePeriod(subscription: SubscriptionRef, pricing: PolicyPricing, start: Date, end: Date, nextEnd: Date): Promise<boolean> {
    const calls = pricing.plan === 'DYNAMICRATE' ? await this.deps.usage.calls(subscription.uuid, start, end) : 0n;
    const input: RatingInput = {
      pricing,
      apiName: subscription.api.name,
      calls,
      period: { start, end },
      baseFeePeriod: { start: end, end: nextEnd },
      include: { setupFee: false, baseFee: true, usage: true },
    };
    const rating = rate(input);
    const invoice = await this.draft(subscription, 'PERIOD', { start, end }, start, calls, rating, await this.lateUsage(subscription, rating.currency, start));
    if (invoice.kind !== 'PERIOD') return false;
    await this.submit(invoice);
    return true;
  }

  /**
   * Usage of the subscription's earlier, already invoiced periods that was frozen after their
   * invoice was made (late events): one LATE_USAGE line per such period, for the next invoice
   * (PERIOD or FINAL). Rule: the period is rated again, usage only, at its new total with the
   * pricing of the invoice that billed it first, and the line charges the difference against the
   * total of the calls billed before (so per_unit charges the late calls, graduated the tiers they
   * fall in, volume re-prices the whole period); a difference below zero (volume tiers cheaper at a
   * larger total) is charged as 0: Meterline issues no credit notes. `before`: where the new
   * invoice's own usage starts (only periods before it). One query when nothing came late.
   */
  private async lateUsage(subscription: SubscriptionRef, currency: string, before: Date): Promise<LateUsage> {
    const none: LateUsage = { lines: [], usage: [] };
    if (subscription.policy.pricing?.plan !== 'DYNAMICRATE') return none;
    const periods = (await this.deps.repository.billedPeriods(subscription.uuid)).filter((p) => p.periodStart.getTime() < before.getTime());
    if (periods.length === 0) return none;
    const from = periods[0]!.periodStart;
    const to = new Date(Math.max(...periods.map((p) => p.periodEnd.getTime())));
    const billed = periods.reduce((sum, p) => sum + p.billed, 0n);
    if ((await this.deps.usage.calls(subscription.uuid, from, to)) <= billed) return none;
    const invoices = new Map((await this.deps.repository.ofSubscription(subscription.uuid)).map((i) => [i.invoiceId, i]));
    const late: LateUsage = { lines: [], usage: [] };
    for (const p of periods) {
      const total = await this.deps.usage.calls(subscription.uuid, p.periodStart, p.periodEnd);
      if (total <= p.billed) continue;
      let pricing = invoices.get(p.firstInvoiceId)?.subscription.policy.pricing ?? subscription.policy.pricing;
      // The plan changed currency since: the period's usage can only be charged in the invoice's.
      if (!pricing || pricing.currency.toLowerCase() !== currency) pricing = subscription.policy.pricing;
      if (pricing.plan !== 'DYNAMICRATE') continue;
      const usageTotal = (calls: bigint) =>
        rate({ pricing: pricing!, apiName: subscription.api.name, calls, period: { start: p.periodStart, end: p.periodEnd }, include: { setupFee: false, baseFee: false, usage: true } }).total;
      const difference = usageTotal(total) - usageTotal(p.billed);
      const quantity = total - p.billed;
      late.lines.push({
        kind: 'LATE_USAGE',
        description: `${subscription.api.name} · ${callWords(quantity)} of ${periodWords(p.periodStart, p.periodEnd)} that arrived after it was invoiced`,
        quantity,
        unitAmountDecimal: null,
        amount: difference > 0n ? difference : 0n,
      });
      late.usage.push({ periodStart: p.periodStart, periodEnd: p.periodEnd, callsFrom: p.billed, callsTo: total });
    }
    if (late.lines.length > 0) this.deps.logger.info({ subscription: subscription.uuid, periods: late.lines.length }, 'usage that arrived after its period was invoiced goes on the next invoice');
    return late;
  }

  /** Writes the draft (or finds the one made before: same id, same period, or the same usage start, possibly of another kind). */
  private async draft(
    subscription: SubscriptionRef,
    kind: OwnInvoiceKind,
    period: { start: Date; end: Date },
    usageFrom: Date | null,
    calls: bigint,
    rating: ReturnType<typeof rate>,
    late: LateUsage = { lines: [], usage: [] },
  ): Promise<OwnInvoice> {
    const now = this.deps.clock();
    const draft: NewOwnInvoice = {
      invoiceId: ownInvoiceId(subscription.uuid, kind, period.start),
      tenantDomain: subscription.api.tenant.domain,
      subscriptionUuid: subscription.uuid,
      apiUuid: subscription.api.uuid,
      kind,
      periodStart: period.start,
      periodEnd: period.end,
      usageFrom,
      calls,
      currency: rating.currency,
      total: late.lines.reduce((sum, line) => sum + line.amount, rating.total),
      status: 'DRAFT',
      subscription,
      customer: { name: subscription.subscriber.userId, email: subscription.subscriber.email },
      // What the pay link's expiry would be if submitted now; the submission sets the real one.
      expiresAt: this.payLinkExpiry(now),
      createdAt: now,
      lines: [
        ...rating.lines.map((line) => ({ kind: line.kind, description: line.description, quantity: line.quantity, unitAmountDecimal: line.unitAmountDecimal, amount: line.amount })),
        ...late.lines,
      ],
      usage: [...(usageFrom ? [{ periodStart: usageFrom, periodEnd: period.end, callsFrom: 0n, callsTo: calls }] : []), ...late.usage],
    };
    const { invoice, created } = await this.deps.repository.insertDraft(draft, now);
    if (created) this.deps.logger.info({ invoice: invoice.invoiceId, subscription: subscription.uuid, kind, total: invoice.total.toString(), currency: invoice.currency }, 'invoice drafted');
    await this.deps.probe?.('drafted');
    return invoice;
  }

  /** The pay link stops working `pay_within_days` after the invoice is submitted. */
  private payLinkExpiry(submittedAt: Date): Date {
    return new Date(submittedAt.getTime() + this.deps.options.pay_within_days * DAY_MS);
  }

  /**
   * Issues a draft: with something to pay, submitted to the engine (idempotent by its id) and
   * recorded OPEN with the engine's id and pay link; with nothing to pay, recorded PAID. The billing
   * record is written before the draft leaves DRAFT, so a crash between them submits it again
   * (the engine answers the invoice it made) and records the same. Answers the subscription's
   * access after it (null: no billing record); undefined when it stays a draft (the failure logged).
   */
  private async submit(invoice: OwnInvoice): Promise<{ access: string } | null | undefined> {
    if (invoice.status !== 'DRAFT') return null;
    if (await this.unappliedChange(invoice)) return undefined;
    const now = () => this.deps.clock();
    try {
      let issued: { engineInvoiceId: string; hostedInvoiceUrl: string | null; invoicePdfUrl: string | null; status: 'OPEN' | 'PAID'; expiresAt?: Date };
      if (invoice.total === 0n) {
        issued = { engineInvoiceId: invoice.invoiceId, hostedInvoiceUrl: null, invoicePdfUrl: null, status: 'PAID' };
      } else {
        const submitInvoice = this.deps.engine.submitInvoice?.bind(this.deps.engine);
        if (!submitInvoice) throw new Error(`the ${this.deps.engine.name} engine leaves invoicing to Meterline but cannot take invoices (no submitInvoice)`);
        // The expiry is computed at each attempt (a draft resubmitted days later gets a link that
        // still works); the engine keys its idempotency on the invoice id, not on the expiry.
        const expiresAt = this.payLinkExpiry(now());
        const submitted = await submitInvoice(toSubmit(invoice, expiresAt));
        await this.deps.probe?.('engine-answered');
        issued = { ...submitted, status: 'OPEN', expiresAt };
      }
      const access = await this.deps.issued.record(
        {
          engineInvoiceId: issued.engineInvoiceId,
          subscriptionUuid: invoice.subscriptionUuid,
          billingReason: invoice.kind,
          status: issued.status,
          currency: invoice.currency,
          total: invoice.total,
          periodStart: invoice.periodStart,
          periodEnd: invoice.periodEnd,
          hostedInvoiceUrl: issued.hostedInvoiceUrl,
          invoicePdfUrl: issued.invoicePdfUrl,
        },
        now(),
      );
      if (access === null) this.deps.logger.warn({ invoice: invoice.invoiceId, subscription: invoice.subscriptionUuid }, 'invoice issued for a subscription without a billing record: no access decision follows it');
      await this.deps.repository.markIssued(invoice.invoiceId, issued, now());
      return access;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      await this.deps.repository.noteFailure(invoice.invoiceId, invoice.attempts + 1, reason, now()).catch(() => undefined);
      this.deps.logger.warn({ invoice: invoice.invoiceId, subscription: invoice.subscriptionUuid, attempts: invoice.attempts + 1, failure: reason }, 'invoice not submitted; it stays a draft and is submitted again at the next check');
      return undefined;
    }
  }
}

/** A PERIOD invoice that ends part-way through its cycle period: a change of plan closed it there. */
function isChangeInvoice(invoice: OwnInvoice, anchor: Date): boolean {
  const pricing = invoice.subscription.policy.pricing;
  return invoice.kind === 'PERIOD' && pricing !== null && nextBoundaryAfter(ownCycle(pricing, anchor), invoice.periodStart.getTime()) !== invoice.periodEnd.getTime();
}

function toSubmit(invoice: OwnInvoice, expiresAt: Date): InvoiceToSubmit {
  return {
    invoiceId: invoice.invoiceId,
    kind: invoice.kind,
    subscription: invoice.subscription,
    currency: invoice.currency,
    periodStart: invoice.periodStart,
    periodEnd: invoice.periodEnd,
    lines: invoice.lines.map((line) => ({ description: line.description, quantity: line.quantity, unitAmountDecimal: line.unitAmountDecimal, amount: line.amount })),
    total: invoice.total,
    customer: invoice.customer,
    expiresAt,
  };
}
