import { cardDeclined, invalidState } from '../http/errors';
import type { AccountState } from '../state/account-state';
import type { World } from '../state/world';
import type { WireInvoice, WireSubscription } from '../wire';
import { applyCustomerBalance } from './customer-balance';
import { refreshUsageLines } from './draft-usage';
import type { PaymentOutcome } from './payments';

const DAY = 86_400;

/**
 * Invoice state machine, as Stripe enforces it:
 *
 *   draft ──finalize──▶ open ──pay──▶ paid
 *                        │  ╲──mark_uncollectible──▶ uncollectible ──pay──▶ paid
 *                        ╰──void──▶ void            uncollectible ──void──▶ void
 *
 * paid and void are terminal. Every transition emits its webhook event.
 */

export function subscriptionOf(account: AccountState, invoice: WireInvoice): WireSubscription | undefined {
  const id = invoice.parent?.subscription_details?.subscription;
  return typeof id === 'string' ? account.subscriptions.get(id) : undefined;
}

function hostedUrl(world: World, account: AccountState, invoice: WireInvoice): string {
  return `${world.baseUrl}/_test/hosted_invoices/${account.id}/${invoice.id}`;
}

/**
 * draft → open (a zero-amount invoice goes straight on to paid, as in Stripe). A renewal draft's
 * usage lines are first brought up to the latest aggregated quantity (draft-usage.ts).
 */
export function finalizeInvoice(world: World, account: AccountState, invoice: WireInvoice): void {
  if (invoice.status !== 'draft') {
    throw invalidState("This invoice is already finalized, you can't re-finalize a non-draft invoice.", 'invoice_not_editable');
  }
  refreshUsageLines(world, account, invoice);
  const now = world.clock.now();
  const customer = account.customers.get(String(invoice.customer));
  const prefix = customer?.invoice_prefix ?? 'INV';
  invoice.status = 'open';
  invoice.number = `${prefix}-${String(account.nextInvoiceSequence()).padStart(4, '0')}`;
  invoice.effective_at = now;
  invoice.status_transitions.finalized_at = now;
  invoice.hosted_invoice_url = hostedUrl(world, account, invoice);
  invoice.invoice_pdf = `${invoice.hosted_invoice_url}/pdf`;
  // The customer's balance applies; an amount due below the minimum charge moves to the balance.
  applyCustomerBalance(account, invoice, now);
  invoice.auto_advance = invoice.collection_method === 'charge_automatically';
  if (invoice.collection_method === 'send_invoice') {
    const days = subscriptionOf(account, invoice)?.days_until_due ?? DEFAULT_DAYS_UNTIL_DUE;
    invoice.due_date = invoice.due_date ?? now + days * DAY;
  }
  world.events.emit(account, 'invoice.finalized', invoice);
  if (invoice.amount_due === 0) markPaid(world, account, invoice, false);
}

/** Stripe's default when an invoice is sent without `days_until_due`. */
export const DEFAULT_DAYS_UNTIL_DUE = 30;

function setSubscriptionStatus(world: World, account: AccountState, invoice: WireInvoice, status: WireSubscription['status']): void {
  const subscription = subscriptionOf(account, invoice);
  if (!subscription || subscription.status === status || subscription.status === 'canceled') return;
  const previous = subscription.status;
  subscription.status = status;
  world.events.emit(account, 'customer.subscription.updated', subscription, { status: previous });
}

function markPaid(world: World, account: AccountState, invoice: WireInvoice, outOfBand: boolean): void {
  const now = world.clock.now();
  invoice.status = 'paid';
  invoice.amount_paid = invoice.amount_due;
  invoice.amount_remaining = 0;
  if (outOfBand) invoice.amount_paid_off_stripe = invoice.amount_due;
  invoice.status_transitions.paid_at = now;
  invoice.next_payment_attempt = null;
  invoice.auto_advance = false;
  world.events.emit(account, 'invoice.paid', invoice);
  if (!outOfBand) world.events.emit(account, 'invoice.payment_succeeded', invoice);
  const subscription = subscriptionOf(account, invoice);
  if (subscription && ['incomplete', 'past_due', 'unpaid'].includes(subscription.status)) {
    setSubscriptionStatus(world, account, invoice, 'active');
  }
}

/** The payment method an invoice would be charged with: its own, the subscription's, then the customer's default. */
export function paymentMethodFor(account: AccountState, invoice: WireInvoice, explicit?: string): string | null {
  if (explicit) return explicit;
  if (typeof invoice.default_payment_method === 'string') return invoice.default_payment_method;
  const subscription = subscriptionOf(account, invoice);
  if (typeof subscription?.default_payment_method === 'string') return subscription.default_payment_method;
  const customer = account.customers.get(String(invoice.customer));
  const fallback = customer?.invoice_settings.default_payment_method;
  return typeof fallback === 'string' ? fallback : null;
}

/** Decides a charge for the invoice without changing it (consumes any armed test failure). */
export function attemptCharge(world: World, account: AccountState, invoice: WireInvoice, paymentMethodId: string | null): PaymentOutcome {
  if (!paymentMethodId) return { ok: false, declineCode: 'no_payment_method' };
  const behaviour = account.cardBehaviour.get(paymentMethodId);
  const outcome = world.payments.attempt(String(invoice.customer), paymentMethodId, behaviour?.declines ?? false);
  // A 3-D Secure card: the charge waits for the customer (requires_action), it does not go through.
  if (outcome.ok && behaviour?.requiresAuthentication) return { ok: false, declineCode: 'authentication_required', actionRequired: true };
  return outcome;
}

/** Applies a charge's outcome to an open (or uncollectible) invoice and emits the events. */
export function applyCharge(world: World, account: AccountState, invoice: WireInvoice, outcome: PaymentOutcome): void {
  invoice.attempted = true;
  invoice.attempt_count += 1;
  if (outcome.ok) {
    markPaid(world, account, invoice, false);
    return;
  }
  invoice.next_payment_attempt = null;
  // "Sent when the invoice requires customer authentication", alongside invoice.payment_failed
  // (https://docs.stripe.com/billing/subscriptions/event-destinations).
  if (outcome.actionRequired) world.events.emit(account, 'invoice.payment_action_required', invoice);
  world.events.emit(account, 'invoice.payment_failed', invoice);
  const subscription = subscriptionOf(account, invoice);
  if (subscription?.status === 'active' && invoice.billing_reason !== 'subscription_create') {
    setSubscriptionStatus(world, account, invoice, 'past_due');
  }
}

export interface PayOptions {
  paidOutOfBand?: boolean;
  paymentMethod?: string;
}

/** `POST /v1/invoices/:id/pay`: finalizes a draft first, like Stripe; a declined card is a 402. */
export function payInvoice(world: World, account: AccountState, invoice: WireInvoice, options: PayOptions): void {
  if (invoice.status === 'paid') throw invalidState('Invoice is already paid');
  if (invoice.status === 'void') throw invalidState('This invoice has been voided and can no longer be paid.');
  if (invoice.status === 'draft') finalizeInvoice(world, account, invoice);
  if (invoice.status === 'paid') return;
  if (options.paidOutOfBand) {
    markPaid(world, account, invoice, true);
    return;
  }
  const paymentMethod = paymentMethodFor(account, invoice, options.paymentMethod);
  if (!paymentMethod) {
    throw invalidState(
      'This customer has no attached payment source or default payment method. Please consider adding a default payment method.',
    );
  }
  const outcome = attemptCharge(world, account, invoice, paymentMethod);
  applyCharge(world, account, invoice, outcome);
  if (!outcome.ok) throw cardDeclined(outcome.declineCode);
}

/**
 * The customer completes the 3-D Secure authentication an open invoice's payment waits for (test
 * control `payments.completeAuthentication`): the payment goes through, the invoice is paid and an
 * `incomplete` subscription becomes active (https://docs.stripe.com/billing/subscriptions/overview#payment-status).
 */
export function completeAuthentication(world: World, account: AccountState, invoice: WireInvoice): void {
  const method = paymentMethodFor(account, invoice);
  if (invoice.status !== 'open' || !method || !account.cardBehaviour.get(method)?.requiresAuthentication) {
    throw invalidState(`Invoice ${invoice.id} has no payment waiting for the customer's authentication.`);
  }
  applyCharge(world, account, invoice, { ok: true });
}

/** Charges an automatically collected invoice after finalization; failures are recorded, not thrown. */
export function collectAutomatically(world: World, account: AccountState, invoice: WireInvoice): void {
  if (invoice.status !== 'open' || invoice.collection_method !== 'charge_automatically') return;
  applyCharge(world, account, invoice, attemptCharge(world, account, invoice, paymentMethodFor(account, invoice)));
}

export function voidInvoice(world: World, account: AccountState, invoice: WireInvoice): void {
  if (invoice.status !== 'open' && invoice.status !== 'uncollectible') {
    throw invalidState(`You can only void an open or uncollectible invoice; this invoice is ${invoice.status}.`, 'invoice_not_editable');
  }
  invoice.status = 'void';
  invoice.status_transitions.voided_at = world.clock.now();
  invoice.amount_remaining = 0;
  invoice.next_payment_attempt = null;
  invoice.auto_advance = false;
  world.events.emit(account, 'invoice.voided', invoice);
}

export function markUncollectible(world: World, account: AccountState, invoice: WireInvoice): void {
  if (invoice.status !== 'open') {
    throw invalidState(`You can only mark an open invoice as uncollectible; this invoice is ${invoice.status}.`, 'invoice_not_editable');
  }
  invoice.status = 'uncollectible';
  invoice.status_transitions.marked_uncollectible_at = world.clock.now();
  invoice.next_payment_attempt = null;
  invoice.auto_advance = false;
  world.events.emit(account, 'invoice.marked_uncollectible', invoice);
}

/**
 * Stores a renewal draft and emits `invoice.created`; it is finalized (and, for
 * charge_automatically, charged) at `automatically_finalizes_at`, once the finalization grace
 * period is over: "All invoices have a default finalization grace period of 1 hour"
 * (https://docs.stripe.com/billing/subscriptions/usage-based/configure-grace-period; the renewal
 * lifecycle: https://docs.stripe.com/billing/invoices/subscription#subscription-renewal).
 */
export function openRenewalDraft(world: World, account: AccountState, invoice: WireInvoice, periodEnd: number): WireInvoice {
  invoice.automatically_finalizes_at = periodEnd + world.billingTiming.finalizationGraceSeconds;
  account.invoices.insert(invoice);
  world.events.emit(account, 'invoice.created', invoice);
  return invoice;
}

/**
 * How long a new `send_invoice` subscription's first invoice stays a draft. Stripe "Finalizes the
 * invoice immediately when collection_method is set to charge_automatically, or one hour later
 * when it's set to send_invoice" (https://docs.stripe.com/subscriptions/invoices, "New subscription
 * invoices"; https://docs.stripe.com/invoicing/integration/workflow-transitions). Unlike the
 * renewal grace period, this hour is not configurable.
 */
export const FIRST_SEND_INVOICE_DRAFT_SECONDS = 3_600;

/**
 * Stores a new `send_invoice` subscription's first invoice as a draft and emits `invoice.created`;
 * it is finalized (and sent, not charged) an hour later, when the clock passes
 * `automatically_finalizes_at` (subscription-cycle.ts advanceClock).
 */
export function openFirstSendInvoiceDraft(world: World, account: AccountState, invoice: WireInvoice): WireInvoice {
  invoice.automatically_finalizes_at = world.clock.now() + FIRST_SEND_INVOICE_DRAFT_SECONDS;
  account.invoices.insert(invoice);
  world.events.emit(account, 'invoice.created', invoice);
  return invoice;
}

/** A renewal draft whose grace period is over: finalized with its latest usage, then collected. */
export function finalizeRenewalDraft(world: World, account: AccountState, invoice: WireInvoice): void {
  if (invoice.status !== 'draft') return;
  finalizeInvoice(world, account, invoice);
  collectAutomatically(world, account, invoice);
}

/** Stores a fresh draft, emits `invoice.created`, finalizes it and, for charge_automatically, charges it. */
export function issueInvoice(world: World, account: AccountState, invoice: WireInvoice, collect = true): WireInvoice {
  account.invoices.insert(invoice);
  world.events.emit(account, 'invoice.created', invoice);
  finalizeInvoice(world, account, invoice);
  if (collect) collectAutomatically(world, account, invoice);
  return invoice;
}
