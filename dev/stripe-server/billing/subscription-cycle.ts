import { periodBoundary } from '../core/periods';
import type { AccountState } from '../state/account-state';
import type { World } from '../state/world';
import type { WireInvoice, WireSubscription } from '../wire';
import { draftInvoice, type InvoiceSpec, type LineSpec } from './invoice-builder';
import { finalizeRenewalDraft, issueInvoice, openRenewalDraft } from './invoice-lifecycle';
import { cadenceOf, currentPeriod, isMetered } from './subscription-items';
import { aggregateUsage, aggregatedUpTo } from './usage';

/** Statuses in which a subscription keeps cycling. */
const CYCLING: ReadonlyArray<WireSubscription['status']> = ['active', 'past_due', 'unpaid', 'trialing'];
/** Stripe expires a subscription whose first invoice stays unpaid for 23 hours. */
const INCOMPLETE_EXPIRY_SECONDS = 23 * 3_600;

function customerOf(account: AccountState, subscription: WireSubscription) {
  return account.customers.require(String(subscription.customer), 'customer');
}

/** Licensed items billed in advance for `period`. */
export function licensedLines(subscription: WireSubscription, period: { start: number; end: number }): LineSpec[] {
  return subscription.items.data
    .filter((item) => !isMetered(item.price))
    .map((item) => ({ price: item.price, quantity: item.quantity ?? 1, period, subscriptionItemId: item.id }));
}

/**
 * Metered items billed in arrears: usage from meter events with timestamps in
 * `[start, usageEnd)` (usageEnd defaults to the period end), as aggregated by now
 * (events still being aggregated are not counted yet: billing/usage.ts).
 */
export function meteredLines(
  world: World,
  account: AccountState,
  subscription: WireSubscription,
  period: { start: number; end: number },
  usageEnd = period.end,
): LineSpec[] {
  const customerId = String(subscription.customer);
  const receivedUpTo = aggregatedUpTo(world.billingTiming, world.clock.now());
  return subscription.items.data.filter((item) => isMetered(item.price)).map((item) => {
    const meterId = item.price.recurring?.meter;
    const meter = meterId ? account.meters.get(meterId) : undefined;
    const quantity = meter ? aggregateUsage(account, meter, customerId, period.start, usageEnd, receivedUpTo) : 0;
    return { price: item.price, quantity, period, subscriptionItemId: item.id };
  });
}

export function subscriptionInvoice(
  world: World,
  account: AccountState,
  subscription: WireSubscription,
  lines: LineSpec[],
  billingReason: InvoiceSpec['billingReason'],
  period: { start: number; end: number },
  preview = false,
): WireInvoice {
  return draftInvoice(world, account, {
    customer: customerOf(account, subscription),
    subscription,
    lines,
    billingReason,
    collectionMethod: subscription.collection_method === 'send_invoice' ? 'send_invoice' : 'charge_automatically',
    daysUntilDue: subscription.days_until_due,
    period,
    currency: subscription.currency,
    defaultPaymentMethod: null,
    preview,
  });
}

/** The period that follows one ending at `end`, from the subscription's anchor. */
export function nextPeriodAfter(subscription: WireSubscription, end: number): { start: number; end: number } {
  const { interval, count } = cadenceOf(subscription);
  let index = 1;
  while (periodBoundary(subscription.billing_cycle_anchor, interval, count, index) <= end) index++;
  return { start: end, end: periodBoundary(subscription.billing_cycle_anchor, interval, count, index) };
}

export function endSubscription(world: World, account: AccountState, subscription: WireSubscription, at: number, reason: 'cancellation_requested' | 'payment_failed'): void {
  subscription.status = 'canceled';
  subscription.canceled_at = subscription.canceled_at ?? at;
  subscription.ended_at = at;
  subscription.cancellation_details = {
    comment: subscription.cancellation_details?.comment ?? null,
    feedback: subscription.cancellation_details?.feedback ?? null,
    feedback_option: null,
    reason,
  };
  world.events.emit(account, 'customer.subscription.deleted', subscription);
}

/**
 * Closes the current period at its end: drafts an invoice for the closed
 * period's metered usage plus licensed items for the next one (Stripe bills
 * licensed in advance, metered in arrears) and rolls every item's period. The
 * draft is finalized and collected an hour later, with the usage reported
 * meanwhile (openRenewalDraft). With `cancel_at_period_end` the subscription
 * ends instead, with a last (draft) invoice for the closed period's usage.
 */
function rollPeriod(world: World, account: AccountState, subscription: WireSubscription): void {
  const closed = currentPeriod(subscription);
  const usage = meteredLines(world, account, subscription, closed);
  if (subscription.cancel_at_period_end || subscription.cancel_at === closed.end) {
    if (usage.length > 0) {
      const invoice = subscriptionInvoice(world, account, subscription, usage, 'subscription_cycle', closed);
      subscription.latest_invoice = invoice.id;
      openRenewalDraft(world, account, invoice, closed.end);
    }
    endSubscription(world, account, subscription, closed.end, 'cancellation_requested');
    return;
  }
  const next = nextPeriodAfter(subscription, closed.end);
  const previousItems = JSON.parse(JSON.stringify(subscription.items)) as unknown;
  for (const item of subscription.items.data) {
    item.current_period_start = next.start;
    item.current_period_end = next.end;
  }
  const invoice = subscriptionInvoice(
    world,
    account,
    subscription,
    [...usage, ...licensedLines(subscription, next)],
    'subscription_cycle',
    closed,
  );
  subscription.latest_invoice = invoice.id;
  world.events.emit(account, 'customer.subscription.updated', subscription, { items: previousItems });
  openRenewalDraft(world, account, invoice, closed.end);
}

function expireIncomplete(world: World, account: AccountState, subscription: WireSubscription): void {
  subscription.status = 'incomplete_expired';
  subscription.ended_at = world.clock.now();
  const invoiceId = subscription.latest_invoice;
  const invoice = typeof invoiceId === 'string' ? account.invoices.get(invoiceId) : undefined;
  if (invoice && invoice.status === 'open') {
    invoice.status = 'void';
    invoice.status_transitions.voided_at = world.clock.now();
    world.events.emit(account, 'invoice.voided', invoice);
  }
  world.events.emit(account, 'customer.subscription.updated', subscription, { status: 'incomplete' });
}

interface DueWork {
  at: number;
  run: () => void;
}

function nextDue(world: World, until: number): DueWork | undefined {
  let best: DueWork | undefined;
  for (const account of world.registry.all()) {
    for (const subscription of account.subscriptions.all()) {
      let at: number | undefined;
      let run: (() => void) | undefined;
      if (CYCLING.includes(subscription.status)) {
        at = currentPeriod(subscription).end;
        run = () => rollPeriod(world, account, subscription);
      } else if (subscription.status === 'incomplete') {
        at = subscription.created + INCOMPLETE_EXPIRY_SECONDS;
        run = () => expireIncomplete(world, account, subscription);
      }
      if (at !== undefined && run && at <= until && (!best || at < best.at)) best = { at, run };
    }
    for (const invoice of account.invoices.all()) {
      const at = invoice.automatically_finalizes_at;
      if (invoice.status !== 'draft' || !invoice.auto_advance || at === null || at > until || (best && best.at <= at)) continue;
      best = { at, run: () => finalizeRenewalDraft(world, account, invoice) };
    }
  }
  return best;
}

/**
 * Moves the clock to `target`, stopping at every period end, renewal draft
 * finalization and incomplete expiry on the way, in time order, so each
 * invoice is dated when Stripe would have issued it.
 */
export function advanceClock(world: World, target: number): void {
  for (let due = nextDue(world, target); due; due = nextDue(world, target)) {
    world.clock.moveTo(due.at);
    world.events.within(null, due.run);
  }
  world.clock.moveTo(target);
}

export interface CancelOptions {
  invoiceNow: boolean;
  prorate: boolean;
}

/**
 * Cancels immediately. With `invoice_now`, a final invoice bills the metered
 * usage since the current period started (the last invoice), finalized at
 * once: usage still being aggregated is not on it (billing/usage.ts). Proration
 * credits for unused licensed time are not modelled.
 */
export function cancelNow(world: World, account: AccountState, subscription: WireSubscription, options: CancelOptions): void {
  const now = world.clock.now();
  if (options.invoiceNow) {
    const period = { start: currentPeriod(subscription).start, end: now };
    // Events stamped in the cancelling second still belong to this subscription.
    const usage = meteredLines(world, account, subscription, period, now + 1);
    if (usage.length > 0) {
      const invoice = subscriptionInvoice(world, account, subscription, usage, 'subscription_update', period);
      subscription.latest_invoice = invoice.id;
      issueInvoice(world, account, invoice);
    }
  }
  subscription.canceled_at = now;
  endSubscription(world, account, subscription, now, 'cancellation_requested');
}
