import type { SubscriptionRef } from '../domain/model';
import { toMinorUnitDecimal } from '../domain/money';
import type { Monetization, PendingInvoice } from '../monetization/monetization';
import { rate } from '../rating/rate';
import { nextBoundaryAfter } from '../usage/windows';
import { ownCycle, type PeriodUsage } from './own-invoicing';
import type { OwnInvoice } from './own-invoices.repository';

export interface PendingInvoicesDependencies {
  /** A subscription's own invoices, oldest period first (`OwnInvoicesRepository.ofSubscription`). */
  invoicesOf(subscriptionUuid: string): Promise<OwnInvoice[]>;
  engine: Pick<Monetization, 'capabilities'>;
  /** The same usage the period's invoice will rate, read without freezing (`callsWithoutFreezing`). */
  usage: Pick<PeriodUsage, 'callsWithoutFreezing'>;
  clock: () => Date;
}

/**
 * The pending invoice of a subscription whose engine only collects payment
 * (`capabilities.invoicing` 'meterline'): such an engine keeps no running invoice, so Meterline
 * answers what its next own invoice will say, the PERIOD invoice of the period not yet closed
 * (from the last closed period's end, or the first invoice's period start, to the next cycle
 * boundary, as `OwnInvoicing` closes them): the period's usage so far and the next period's base
 * fee in advance, rated by `rate()`. The current period's base fee (and the setup fee) were
 * invoiced in advance already, so they are not on it. Usage: nothing is frozen for a view (a
 * freeze reads every subscription's new usage); the period's usage records are summed with this
 * subscription's usage not frozen yet, read from the source directly, each event counted once:
 * what the period's usage records will hold once frozen. Nothing is issued: no id, no pay link.
 */
export class PendingInvoices {
  constructor(private readonly deps: PendingInvoicesDependencies) {}

  /** Null when Meterline does not invoice the subscription (another engine, not priced, never invoiced, or ended). */
  async of(subscription: SubscriptionRef): Promise<PendingInvoice | null> {
    const pricing = subscription.policy.pricing;
    if (this.deps.engine.capabilities.invoicing !== 'meterline' || subscription.policy.billingPlan !== 'COMMERCIAL' || pricing === null) return null;
    const invoices = await this.deps.invoicesOf(subscription.uuid);
    const first = invoices.find((i) => i.kind === 'SUBSCRIPTION_START');
    if (!first || invoices.some((i) => i.kind === 'FINAL')) return null;
    const cycle = ownCycle(pricing, first.periodStart);
    const closed = invoices.filter((i) => i.kind === 'PERIOD').map((i) => i.periodEnd.getTime());
    const start = closed.length > 0 ? Math.max(...closed) : first.periodStart.getTime();
    const end = nextBoundaryAfter(cycle, start);
    const nextEnd = nextBoundaryAfter(cycle, end);
    let calls = 0n;
    // Nothing is frozen for a view: the records so far plus this subscription's usage not frozen yet.
    if (pricing.plan === 'DYNAMICRATE') calls = await this.deps.usage.callsWithoutFreezing(subscription.uuid, new Date(start), new Date(end));
    // What closing the period will rate (OwnInvoicing's PERIOD invoice).
    const rating = rate({
      pricing,
      apiName: subscription.api.name,
      calls,
      period: { start: new Date(start), end: new Date(end) },
      baseFeePeriod: { start: new Date(end), end: new Date(nextEnd) },
      include: { setupFee: false, baseFee: true, usage: true },
    });
    const servesTo = rating.lines.some((line) => line.kind === 'BASE_FEE') ? nextEnd : end;
    return {
      invoiceId: null,
      description: null,
      currency: rating.currency,
      accountName: null,
      accountCountry: null,
      customerEmail: subscription.subscriber.email,
      periodStart: new Date(start),
      periodEnd: new Date(end),
      servicePeriod: { start: new Date(start), end: new Date(servesTo) },
      dueDate: null,
      nextPaymentAttempt: null,
      paid: false,
      subtotal: rating.total,
      tax: 0n,
      total: rating.total,
      amountDue: rating.total,
      amountPaid: 0n,
      amountRemaining: rating.total,
      lines: rating.lines.map((line) => ({
        description: line.description,
        apiName: subscription.api.name,
        quantity: Number(line.quantity),
        // rate() answers major units; the port's unit amounts are minor units.
        unitAmountDecimal: line.unitAmountDecimal === null ? null : toMinorUnitDecimal(line.unitAmountDecimal, rating.currency),
        amount: line.amount,
      })),
      hostedInvoiceUrl: null,
    };
  }
}
