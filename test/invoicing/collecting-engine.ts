import type { SubscriptionRef } from '../../src/domain/model';
import type { EngineCapabilities } from '../../src/monetization/capabilities';
import { FreeMonetization } from '../../src/monetization/free-engine';
import {
  MonetizationError,
  type Monetization,
  type BillingCycleInfo,
  type EngineSubscriptionRecord,
  type InvoiceToSubmit,
  type SubmittedInvoice,
  type SubscriptionOutcome,
  type UsageReportOutcome,
} from '../../src/monetization/monetization';

/**
 * A test-only engine that only collects payment (`invoicing: 'meterline'`), like MyFatoorah: it
 * bills the subscriptions Meterline tells it of (its cycle anchored when it was told), takes
 * usage without metering it, and issues the invoices Meterline submits, in memory, one per
 * Meterline invoice id however often it is submitted (as its contract asks). `failNext` makes the
 * next submissions fail like an engine that is down; `failAfterIssuing` like one that issued the
 * invoice and then lost the answer; `failCycles` makes its billing cycles unreadable.
 */
const free = new FreeMonetization();

export class CollectingEngine implements Monetization {
  readonly name = 'collecting-test-engine';
  // What it does not do, as the free engine does not.
  readonly createBillingPlan = free.createBillingPlan.bind(free);
  readonly updateBillingPlan = free.updateBillingPlan.bind(free);
  readonly deleteBillingPlan = free.deleteBillingPlan.bind(free);
  readonly enableMonetization = free.enableMonetization.bind(free);
  readonly disableMonetization = free.disableMonetization.bind(free);
  readonly getMonetizedPoliciesToPlanMapping = free.getMonetizedPoliciesToPlanMapping.bind(free);
  readonly getCurrentUsageForSubscription = free.getCurrentUsageForSubscription.bind(free);
  readonly getTotalRevenue = free.getTotalRevenue.bind(free);
  readonly listEngineSubscriptions = free.listEngineSubscriptions.bind(free);
  readonly cancelEngineSubscription = free.cancelEngineSubscription.bind(free);
  readonly listEngineCustomers = free.listEngineCustomers.bind(free);
  readonly repairEngineCustomer = free.repairEngineCustomer.bind(free);
  readonly capabilities: EngineCapabilities = {
    invoicing: 'meterline',
    usage: { backdatingLimitMs: Number.POSITIVE_INFINITY, futureToleranceMs: 5 * 60_000, identifierMemoryMs: Number.POSITIVE_INFINITY, periodUsageGraceMs: Number.POSITIVE_INFINITY },
    tenantSecrets: [],
    webhooks: null,
    isFirstPaymentInvoice: () => false,
  };

  /** Issued invoices by Meterline's invoice id. */
  readonly invoices = new Map<string, InvoiceToSubmit & SubmittedInvoice>();
  /** Every submission received, answered or not. */
  submissions = 0;
  failNext = 0;
  failAfterIssuing = 0;
  failCycles = false;
  private readonly subscriptions = new Map<string, { anchor: Date; interval: BillingCycleInfo['interval']; cancelled: boolean }>();

  constructor(private readonly clock: () => Date) {}

  async createSubscription(subscription: SubscriptionRef): Promise<SubscriptionOutcome> {
    const pricing = subscription.policy.pricing;
    if (subscription.policy.billingPlan !== 'COMMERCIAL' || !pricing) return { billed: false, access: 'UNBLOCKED', engineSubscriptionId: null };
    if (!this.subscriptions.has(subscription.uuid)) this.subscriptions.set(subscription.uuid, { anchor: this.clock(), interval: pricing.billingCycle, cancelled: false });
    return { billed: true, access: 'UNBLOCKED', engineSubscriptionId: engineSubscriptionId(subscription.uuid) };
  }

  async deleteSubscription(subscription: SubscriptionRef): Promise<SubscriptionOutcome> {
    const found = this.subscriptions.get(subscription.uuid);
    if (found) found.cancelled = true;
    return { billed: found !== undefined, access: 'BLOCKED', engineSubscriptionId: found ? engineSubscriptionId(subscription.uuid) : null };
  }

  /** A change of plan keeps the record (its anchor and cycle), as MyFatoorah's engine does. */
  async changeSubscriptionPlan(from: SubscriptionRef, to: SubscriptionRef): Promise<SubscriptionOutcome> {
    const found = this.subscriptions.get(from.uuid);
    const billed = found !== undefined && !found.cancelled && to.policy.billingPlan === 'COMMERCIAL' && to.policy.pricing !== null;
    return { billed, access: 'UNBLOCKED', engineSubscriptionId: billed ? engineSubscriptionId(from.uuid) : null };
  }

  async billingCycleOf(subscription: SubscriptionRef): Promise<BillingCycleInfo | null> {
    if (this.failCycles) throw new MonetizationError('ENGINE_UNAVAILABLE', 'the collecting engine cannot tell cycles now');
    const found = this.subscriptions.get(subscription.uuid);
    return found ? { anchor: found.anchor, interval: found.interval, intervalCount: 1 } : null;
  }

  async billedSubscriptionOf(subscriptionUuid: string): Promise<EngineSubscriptionRecord | null> {
    const found = this.subscriptions.get(subscriptionUuid);
    return found && !found.cancelled ? { engineSubscriptionId: engineSubscriptionId(subscriptionUuid), account: null } : null;
  }

  async billedSubscriptionsOf(uuids: readonly string[]): Promise<Map<string, EngineSubscriptionRecord>> {
    const found = new Map<string, EngineSubscriptionRecord>();
    for (const uuid of uuids) {
      const record = await this.billedSubscriptionOf(uuid);
      if (record) found.set(uuid, record);
    }
    return found;
  }

  /** Usage is Meterline's to rate: taken, not metered. */
  async reportUsage(): Promise<UsageReportOutcome> {
    return { sent: true };
  }

  async submitInvoice(invoice: InvoiceToSubmit): Promise<SubmittedInvoice> {
    this.submissions += 1;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new MonetizationError('ENGINE_UNAVAILABLE', 'the collecting engine is down');
    }
    let issued = this.invoices.get(invoice.invoiceId);
    if (!issued) {
      const engineInvoiceId = `inv_${this.invoices.size + 1}`;
      issued = { ...invoice, engineInvoiceId, hostedInvoiceUrl: `https://pay.example.test/${engineInvoiceId}`, invoicePdfUrl: null };
      this.invoices.set(invoice.invoiceId, issued);
    }
    if (this.failAfterIssuing > 0) {
      this.failAfterIssuing -= 1;
      throw new MonetizationError('ENGINE_UNAVAILABLE', 'the answer was lost');
    }
    return { engineInvoiceId: issued.engineInvoiceId, hostedInvoiceUrl: issued.hostedInvoiceUrl, invoicePdfUrl: issued.invoicePdfUrl };
  }
}

export function engineSubscriptionId(subscriptionUuid: string): string {
  return `csub_${subscriptionUuid}`;
}
