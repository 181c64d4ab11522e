import type { ApiRef, SubscriptionPolicy, SubscriptionRef, TenantRef } from '../../src/domain/model';
import {
  MonetizationError,
  type ApiRevenue,
  type BillingCycleInfo,
  type BillingPlanChange,
  type EngineCustomerListing,
  type EngineCustomerRepair,
  type EngineDependencies,
  type EngineSubscriptionFound,
  type EngineSubscriptionRecord,
  type InvoiceToSubmit,
  type Monetization,
  type MonetizationChange,
  type MonetizationRequest,
  type PendingInvoice,
  type SubmittedInvoice,
  type SubscriptionOutcome,
  type SweptInvoiceEvent,
  type UsageReport,
  type UsageReportOutcome,
} from '../../src/monetization/monetization';
import { AccountCurrencies } from './account-currencies';
import { API_TOKEN_KEY, myFatoorahCapabilities, REGION_KEY } from './capabilities';
import { MyFatoorahClient } from './client';
import { myFatoorahPriceProblem } from './currencies';
import { sendPaymentRequest } from './invoice-request';
import { baseUrlFor, regionProblem, type MyFatoorahOptions } from './myfatoorah.options';
import { MyFatoorahRepository, type InvoiceRow } from './myfatoorah.repository';
import { engineSubscriptionIdOf } from './subscriptions';
import { MyFatoorahWebhookVerifier } from './webhooks';

/** Invoices past their expiry asked about per sweep, at most (GetPaymentStatus has a rate limit). */
const SWEEP_LIMIT = 50;

const NOT_BILLED: SubscriptionOutcome = { billed: false, access: 'UNBLOCKED', engineSubscriptionId: null };

/**
 * The MyFatoorah billing engine. MyFatoorah issues invoices with a pay link and confirms their
 * payment; it has no plans, subscriptions, customers or metering
 * (https://docs.myfatoorah.com/docs/invoice-link). So Meterline rates usage and makes the invoices
 * (`invoicing: 'meterline'`), this engine keeps its own records of what it bills (its tables), and
 * MyFatoorah sees only the invoices `submitInvoice` sends it (SendPayment).
 */
export class MyFatoorahMonetization implements Monetization {
  readonly name = 'myfatoorah';
  readonly capabilities = myFatoorahCapabilities;
  readonly webhooks: MyFatoorahWebhookVerifier;
  private readonly repository: MyFatoorahRepository;
  private readonly accountCurrencies: AccountCurrencies;

  constructor(
    private readonly options: MyFatoorahOptions,
    private readonly dependencies: EngineDependencies,
    /** Tests only: the waits between re-sends. */
    private readonly sleep?: (ms: number) => Promise<void>,
  ) {
    this.repository = new MyFatoorahRepository(dependencies.store);
    this.accountCurrencies = new AccountCurrencies(dependencies.clock);
    this.webhooks = new MyFatoorahWebhookVerifier(this.repository, (tenant) => this.client(tenant));
  }

  /**
   * The tenant's API client, at its region's origin; a tenant without a token is refused
   * (BILLING_NOT_CONFIGURED), as is one whose `myfatoorah_region` is not a region (start-up
   * refuses it already when the directory lists its tenants: `tenantRegionProblems`).
   */
  private client(tenantDomain: string): MyFatoorahClient {
    const token = this.token(tenantDomain);
    return new MyFatoorahClient({ ...this.options, baseUrl: this.baseUrl(tenantDomain) }, token, this.sleep);
  }

  private baseUrl(tenantDomain: string): string {
    const region = this.dependencies.tenants.find(tenantDomain)?.secrets[REGION_KEY];
    const problem = region === undefined ? null : regionProblem(region);
    if (problem) throw new MonetizationError('BILLING_NOT_CONFIGURED', `tenant ${tenantDomain}: ${REGION_KEY}: ${problem}`, { tenant: tenantDomain });
    return baseUrlFor(this.options, region);
  }

  private token(tenantDomain: string): string {
    const token = this.dependencies.tenants.find(tenantDomain)?.secrets[API_TOKEN_KEY];
    if (!token) {
      throw new MonetizationError(
        'BILLING_NOT_CONFIGURED',
        `tenant ${tenantDomain} has no MyFatoorah API token: set ${API_TOKEN_KEY} in its [tenants.monetization_info]`,
        { tenant: tenantDomain },
      );
    }
    return token;
  }

  /** A COMMERCIAL policy's prices, checked as the core checks them, and the tenant's token. */
  private checkCommercial(policy: SubscriptionPolicy, tenantDomain: string): void {
    this.client(tenantDomain);
    const pricing = policy.pricing;
    if (!pricing) return;
    const prices: Array<{ kind: 'fixed' | 'per_unit'; amount: string | undefined }> = [
      { kind: 'fixed', amount: pricing.fixedPrice },
      { kind: 'fixed', amount: pricing.setupFee },
      { kind: 'per_unit', amount: pricing.plan === 'DYNAMICRATE' ? pricing.pricePerRequest : undefined },
    ];
    for (const { kind, amount } of prices) {
      const problem = amount === undefined ? null : myFatoorahPriceProblem({ currency: pricing.currency, kind, amount });
      if (problem) throw new MonetizationError('INVALID_POLICY_PRICING', `policy ${policy.name}: ${problem.message}`, { on: problem.on });
    }
  }

  /**
   * A COMMERCIAL policy's currency, asked of the tenant's MyFatoorah account (account-currencies.ts):
   * one the account cannot invoice is refused now, naming the policy's currencyType, not at its
   * first invoice. Only where a plan is made or monetized; a subscription is not held up by a call.
   */
  private async checkAccountCurrency(policy: SubscriptionPolicy, tenantDomain: string): Promise<void> {
    if (!policy.pricing) return;
    const token = this.token(tenantDomain);
    await this.accountCurrencies.check(tenantDomain, token, this.client(tenantDomain), policy.pricing.currency, `policy ${policy.name}`);
  }

  /** MyFatoorah has no plans: a COMMERCIAL policy is Meterline's own plan, checked and named by its UUID. */
  async createBillingPlan(policy: SubscriptionPolicy): Promise<BillingPlanChange> {
    if (policy.billingPlan !== 'COMMERCIAL' || !policy.pricing) return { billable: false, planId: null, apisUpdated: 0 };
    this.checkCommercial(policy, policy.tenant.domain);
    await this.checkAccountCurrency(policy, policy.tenant.domain);
    return { billable: true, planId: policy.uuid, apisUpdated: 0 };
  }

  updateBillingPlan(policy: SubscriptionPolicy): Promise<BillingPlanChange> {
    return this.createBillingPlan(policy);
  }

  async deleteBillingPlan(): Promise<void> {}

  /** Records the API's COMMERCIAL tiers (tier → policy UUID); nothing is made at MyFatoorah. */
  async enableMonetization(request: MonetizationRequest): Promise<MonetizationChange> {
    const plans: Record<string, string> = {};
    for (const policy of request.policies) {
      if (policy.billingPlan !== 'COMMERCIAL' || !policy.pricing) continue;
      this.checkCommercial(policy, request.api.tenant.domain);
      await this.checkAccountCurrency(policy, request.api.tenant.domain);
      plans[policy.name] = policy.uuid;
    }
    this.client(request.api.tenant.domain);
    const before = await this.repository.apiPlans(request.api.uuid);
    const changed = JSON.stringify(before) !== JSON.stringify(sorted(plans));
    if (changed) await this.repository.setApiPlans(request.api.uuid, plans);
    return { enabled: true, plans, changed, notes: [] };
  }

  async disableMonetization(request: MonetizationRequest): Promise<MonetizationChange> {
    const before = await this.repository.apiPlans(request.api.uuid);
    const changed = Object.keys(before).length > 0;
    if (changed) await this.repository.setApiPlans(request.api.uuid, {});
    return {
      enabled: false,
      plans: {},
      changed,
      notes: changed ? ['Subscriptions billed so far keep their MyFatoorah records; invoices already issued stay payable until they expire.'] : [],
    };
  }

  getMonetizedPoliciesToPlanMapping(api: ApiRef): Promise<Record<string, string>> {
    return this.repository.apiPlans(api.uuid);
  }

  /** MyFatoorah holds no running invoice: what a subscription owes so far is Meterline's rating, not the engine's. */
  async getCurrentUsageForSubscription(subscription: SubscriptionRef): Promise<PendingInvoice> {
    throw new MonetizationError(
      'NOT_FOUND',
      `MyFatoorah keeps no pending invoice for subscription ${subscription.uuid}: Meterline rates its usage and issues its invoices (see its invoices)`,
    );
  }

  /** The invoices GetPaymentStatus confirmed paid (through webhooks), per currency. */
  async getTotalRevenue(api: ApiRef): Promise<ApiRevenue> {
    const paid = await this.repository.paidInvoicesOfApi(api.uuid);
    const byCurrency: Record<string, bigint> = {};
    const perSubscription = new Map<string, { subscriptionUuid: string; currency: string; amount: bigint }>();
    for (const { subscriptionUuid, currency, total } of paid) {
      byCurrency[currency] = (byCurrency[currency] ?? 0n) + total;
      const key = `${subscriptionUuid} ${currency}`;
      const entry = perSubscription.get(key) ?? { subscriptionUuid, currency, amount: 0n };
      entry.amount += total;
      perSubscription.set(key, entry);
    }
    return { byCurrency, subscriptions: [...perSubscription.values()] };
  }

  /**
   * Records the subscription (its engine id `mf:<uuid>`, its cycle anchored now). Nothing is made
   * at MyFatoorah: Meterline's first invoice (SUBSCRIPTION_START) is what the subscriber pays. The
   * access answered is UNBLOCKED, i.e. no payment was tried and failed; the core then holds the
   * subscription while it awaits its first payment when the tenant's hold_until_paid says so.
   */
  async createSubscription(subscription: SubscriptionRef): Promise<SubscriptionOutcome> {
    const { policy, api } = subscription;
    if (policy.billingPlan !== 'COMMERCIAL' || !policy.pricing) return NOT_BILLED;
    const plans = await this.repository.apiPlans(api.uuid);
    if (Object.keys(plans).length === 0) return NOT_BILLED; // the API is not monetized: its tiers are not charged
    if (plans[policy.name] === undefined) {
      throw new MonetizationError('NOT_MONETIZED', `tier ${policy.name} of API ${api.name} ${api.version} was not monetized; enable monetization for the API again`);
    }
    this.checkCommercial(policy, api.tenant.domain);
    const row = await this.repository.recordSubscription({
      subscriptionUuid: subscription.uuid,
      engineSubscriptionId: engineSubscriptionIdOf(subscription.uuid),
      tenantDomain: api.tenant.domain,
      apiUuid: api.uuid,
      applicationUuid: subscription.application.uuid,
      currency: policy.pricing.currency.toLowerCase(),
      billingCycle: policy.pricing.billingCycle,
      anchorAt: this.dependencies.clock(),
      cancelledAt: null,
    });
    // Cancelled by the undo of an attempt the gateway now finishes after all (same UUID: the undo
    // cancelled here, then could not remove the gateway's row): billed again from now.
    if (row.cancelledAt !== null) await this.repository.reviveSubscription(subscription.uuid, this.dependencies.clock());
    return { billed: true, access: 'UNBLOCKED', engineSubscriptionId: row.engineSubscriptionId };
  }

  /**
   * A change of business plan. MyFatoorah keeps no plan (it has no subscriptions): this engine's
   * record keeps the currency and the billing cycle, which the change must keep (Meterline rates
   * the change on its own invoices, docs/invoicing.md), so nothing is written; the new tier must be
   * monetized and priced as MyFatoorah can invoice.
   */
  async changeSubscriptionPlan(from: SubscriptionRef, to: SubscriptionRef): Promise<SubscriptionOutcome> {
    const row = await this.repository.subscription(from.uuid);
    if (!row || row.cancelledAt !== null) return NOT_BILLED;
    const { policy, api } = to;
    if (policy.billingPlan !== 'COMMERCIAL' || !policy.pricing) return NOT_BILLED;
    if ((await this.repository.apiPlans(api.uuid))[policy.name] === undefined) {
      throw new MonetizationError('NOT_MONETIZED', `tier ${policy.name} of API ${api.name} ${api.version} was not monetized; enable monetization for the API again`);
    }
    this.checkCommercial(policy, api.tenant.domain);
    if (policy.pricing.currency.toLowerCase() !== row.currency || policy.pricing.billingCycle !== row.billingCycle) {
      throw new MonetizationError('NOT_MONETIZED', `tier ${policy.name} is billed ${policy.pricing.billingCycle} in ${policy.pricing.currency.toUpperCase()}; subscription ${from.uuid} is billed ${row.billingCycle} in ${row.currency.toUpperCase()}, which a change of plan keeps`);
    }
    return { billed: true, access: 'UNBLOCKED', engineSubscriptionId: row.engineSubscriptionId };
  }

  /**
   * Marks the subscription cancelled. Nothing is cancelled at MyFatoorah (it has no subscription);
   * the FINAL invoice for usage since the last one is Meterline's to issue. `sent` is not waited
   * for: usage is counted in Meterline's own records, never asynchronously in the engine.
   */
  async deleteSubscription(subscription: SubscriptionRef): Promise<SubscriptionOutcome> {
    const row = await this.repository.subscription(subscription.uuid);
    if (!row) return NOT_BILLED;
    await this.repository.cancelSubscription(subscription.uuid, this.dependencies.clock());
    return { billed: true, access: 'BLOCKED', engineSubscriptionId: row.engineSubscriptionId };
  }

  /**
   * Usage is rated by Meterline from its own usage records; nothing goes to MyFatoorah. A report
   * for a subscription this engine bills is answered `sent`: the window is counted where it
   * already is (Meterline's records), which the period's invoice rates. Any other is not billed.
   */
  async reportUsage(usage: UsageReport): Promise<UsageReportOutcome> {
    const row = await this.repository.subscription(usage.subscription.uuid);
    if (!row || (row.cancelledAt !== null && row.cancelledAt.getTime() <= usage.windowStart.getTime())) {
      return { sent: false, reason: `subscription ${usage.subscription.uuid} is not billed by MyFatoorah` };
    }
    return { sent: true };
  }

  async billingCycleOf(subscription: SubscriptionRef): Promise<BillingCycleInfo | null> {
    const row = await this.repository.subscription(subscription.uuid);
    return row && row.cancelledAt === null ? { anchor: row.anchorAt, interval: row.billingCycle, intervalCount: 1 } : null;
  }

  /**
   * The engine's record of a subscription it bills, the account the tenant's own (null), also
   * after a cancel: MyFatoorah's invoices outlive the subscription (its FINAL invoice is paid after
   * the cancel), and with no account to pin, the core checks each of their events against this
   * record. Usage cannot reach a cancelled subscription: a cancel follows the gateway removing it
   * (unsubscribe, a failed subscribe undone, reconcile's orphans).
   */
  async billedSubscriptionOf(subscriptionUuid: string): Promise<EngineSubscriptionRecord | null> {
    const row = await this.repository.subscription(subscriptionUuid);
    return row ? { engineSubscriptionId: row.engineSubscriptionId, account: null } : null;
  }

  async billedSubscriptionsOf(subscriptionUuids: readonly string[]): Promise<Map<string, EngineSubscriptionRecord>> {
    const rows = await this.repository.subscriptions(subscriptionUuids);
    return new Map(rows.map((row) => [row.subscriptionUuid, { engineSubscriptionId: row.engineSubscriptionId, account: null }]));
  }

  /** MyFatoorah has no subscriptions to list: the live ones are this engine's records, which reconcile compares with the gateway's. */
  async listEngineSubscriptions(tenant: TenantRef): Promise<EngineSubscriptionFound[]> {
    const rows = await this.repository.liveSubscriptionsOfTenant(tenant.domain);
    return rows.map((row) => ({
      engineSubscriptionId: row.engineSubscriptionId,
      account: null,
      tenantDomain: row.tenantDomain,
      subscriptionUuid: row.subscriptionUuid,
      apiUuid: row.apiUuid,
      applicationUuid: row.applicationUuid,
      status: 'active',
    }));
  }

  async cancelEngineSubscription(found: EngineSubscriptionFound): Promise<void> {
    await this.repository.cancelSubscription(found.subscriptionUuid, this.dependencies.clock());
  }

  /** MyFatoorah keeps no customers (an invoice carries its customer's name and e-mail), so none disagree. */
  async listEngineCustomers(): Promise<EngineCustomerListing> {
    return { customers: [], unlisted: [] };
  }

  /** Never called: `listEngineCustomers` finds none. */
  async repairEngineCustomer(): Promise<EngineCustomerRepair> {
    throw new MonetizationError('NOT_FOUND', 'MyFatoorah keeps no customers');
  }

  /**
   * Issues Meterline's invoice at MyFatoorah (SendPayment, invoice-request.ts) and answers its
   * InvoiceId and pay link. Idempotent by Meterline's invoice id, as SendPayment has no
   * idempotency key: an invoice recorded here is answered as it is; otherwise GetPaymentStatus by
   * CustomerReference finds one an earlier attempt made, and only when it finds none is it sent.
   *
   * A SendPayment that got no answer (timed out, connection lost, a 5xx) may still make its invoice
   * at MyFatoorah later, after a lookup found nothing. So it is noted (ML_MYFATOORAH_SEND) before it
   * goes out and sent once, never re-sent in this call: it is looked up once more at once (a lost
   * answer), and until `timeout_ms` + `unanswered_send_margin_ms` after it started, later
   * submissions only look it up (ENGINE_UNAVAILABLE while they find nothing; the core submits the
   * draft again at its next check). A lookup after that which finds nothing sends again.
   */
  async submitInvoice(invoice: InvoiceToSubmit): Promise<SubmittedInvoice> {
    const recorded = await this.repository.invoice(invoice.invoiceId);
    if (recorded) return submitted(recorded);
    const tenantDomain = invoice.subscription.api.tenant.domain;
    const client = this.client(tenantDomain);
    const problem = myFatoorahPriceProblem({ currency: invoice.currency, kind: 'fixed', amount: '0' });
    if (problem) throw new MonetizationError('INVALID_POLICY_PRICING', `invoice ${invoice.invoiceId}: ${problem.message}`);
    const request = sendPaymentRequest(invoice);
    const record = (made: { id: string; url: string | null; expiresAt: Date | null }) =>
      this.repository.recordInvoice({
        invoiceId: invoice.invoiceId,
        mfInvoiceId: made.id,
        tenantDomain,
        subscriptionUuid: invoice.subscription.uuid,
        kind: invoice.kind,
        currency: invoice.currency.toLowerCase(),
        total: invoice.total,
        periodStart: invoice.periodStart,
        periodEnd: invoice.periodEnd,
        invoiceUrl: made.url,
        status: 'OPEN',
        createdAt: this.dependencies.clock(),
        expiresAt: made.expiresAt,
      });
    // GetPaymentStatus gives no InvoiceURL, and no documented MyFatoorah API answers it for an
    // existing invoice (docs/myfatoorah.md): an invoice found this way is recorded without its pay link.
    const found = async (): Promise<InvoiceRow | null> => {
      const earlier = await client.paymentStatus(invoice.invoiceId, 'CustomerReference');
      return earlier ? record({ id: String(earlier.InvoiceId), url: null, expiresAt: dateOrNull(earlier.ExpiryDate) ?? invoice.expiresAt }) : null;
    };
    const unanswered = await this.repository.unansweredSend(invoice.invoiceId);
    const lookedUpAt = this.dependencies.clock();
    const earlier = await found();
    if (earlier) return submitted(earlier);
    if (unanswered && lookedUpAt.getTime() < unanswered.settlesAt.getTime()) {
      throw new MonetizationError(
        'ENGINE_UNAVAILABLE',
        `invoice ${invoice.invoiceId}: a SendPayment at ${unanswered.sentAt.toISOString()} got no answer and MyFatoorah may still make its invoice; not sent again before a lookup after ${unanswered.settlesAt.toISOString()} finds none`,
        { invoiceId: invoice.invoiceId, settlesAt: unanswered.settlesAt.toISOString() },
      );
    }
    const sentAt = this.dependencies.clock();
    await this.repository.noteSend(invoice.invoiceId, tenantDomain, sentAt, new Date(sentAt.getTime() + this.options.timeoutMs + this.options.unansweredSendMarginMs));
    let sent;
    try {
      sent = await client.sendPayment(request);
    } catch (error) {
      if (!(error instanceof MonetizationError) || error.code !== 'ENGINE_UNAVAILABLE') {
        // Refused (a 4xx, the token): MyFatoorah made nothing.
        await this.repository.forgetSend(invoice.invoiceId);
        throw error;
      }
      const afterAll = await found().catch(() => null);
      if (afterAll) return submitted(afterAll);
      throw error;
    }
    return submitted(await record({ id: String(sent.InvoiceId), url: sent.InvoiceURL, expiresAt: invoice.expiresAt }));
  }

  /**
   * MyFatoorah sends no event when a pay link expires ("failed, authorized, released, or
   * successful" transactions only: https://docs.myfatoorah.com/docs/webhook-v2-payment-status-data-model),
   * so the invoices recorded OPEN past their expiry are asked about (GetPaymentStatus by InvoiceId):
   * Canceled (expired) → voided, Paid (a delivery that never came) → paid, as a webhook confirmed
   * the same way would. Still Pending (MyFatoorah reads an expiry in the account's time zone) is
   * asked again at the next sweep. A tenant whose requests fail is skipped until then.
   */
  async sweepInvoices(now: Date): Promise<SweptInvoiceEvent[]> {
    const events: SweptInvoiceEvent[] = [];
    const failedTenants = new Set<string>();
    for (const row of await this.repository.openExpired(now, SWEEP_LIMIT)) {
      if (failedTenants.has(row.tenantDomain)) continue;
      try {
        const event = await this.webhooks.confirmRecorded(row, this.client(row.tenantDomain));
        if (event) events.push({ tenantDomain: row.tenantDomain, event });
      } catch (error) {
        if (!(error instanceof MonetizationError)) throw error;
        failedTenants.add(row.tenantDomain);
        this.dependencies.logger.warn({ tenant: row.tenantDomain, invoice: row.invoiceId, code: error.code }, 'could not ask MyFatoorah about an invoice past its expiry; asked again at the next sweep');
      }
    }
    return events;
  }
}

function dateOrNull(text: string | null | undefined): Date | null {
  if (!text) return null;
  const parsed = new Date(text);
  return Number.isNaN(parsed.getTime()) ? null : parsed;
}

function submitted(row: InvoiceRow): SubmittedInvoice {
  return { engineInvoiceId: row.mfInvoiceId, hostedInvoiceUrl: row.invoiceUrl, invoicePdfUrl: null };
}

function sorted(plans: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(plans).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
