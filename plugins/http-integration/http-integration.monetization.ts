import type { ApiRef, SubscriptionPolicy, SubscriptionRef, TenantRef } from '../../src/domain/model';
import { toMinorUnitDecimal } from '../../src/domain/money';
import { rate } from '../../src/rating/rate';
import {
  MonetizationError,
  type ApiRevenue,
  type BillingCycleInfo,
  type BillingPlanChange,
  type EngineBackgroundWork,
  type EngineCustomerListing,
  type EngineCustomerRepair,
  type EngineDependencies,
  type EngineSubscriptionFound,
  type EngineSubscriptionRecord,
  type Monetization,
  type MonetizationChange,
  type MonetizationRequest,
  type PendingInvoice,
  type SentUsage,
  type SubscriptionOutcome,
  type UsageReport,
  type UsageReportOutcome,
} from '../../src/monetization/monetization';
import { httpIntegrationCapabilities } from './capabilities';
import { periodAt } from './cycle';
import { Deliveries } from './deliveries';
import { accountKindOf, type HttpIntegrationOptions } from './http-integration.options';
import { HttpIntegrationRepository, type SubscriptionRow } from './http-integration.repository';
import { CALLS_ADD_ON, messageId, policyData, subscriptionCreatedData, suggestedPlanCode } from './protocol';
import { IntegrationWebhookVerifier } from './webhooks';

const NOT_BILLED: SubscriptionOutcome = { billed: false, access: 'UNBLOCKED', engineSubscriptionId: null };

/**
 * The HTTP integration engine: every operation is a signed request to the tenant's own billing
 * integration (docs/custom-billing.md), which bills in a platform Meterline has no plugin for.
 * Synchronous operations (plans, monetization enabled, subscriptions created) wait for the
 * integration's answer and record it (plan code, account code, subscription id); the others go
 * through the outbox (deliveries.ts). The integration reports its invoices back, signed, to the
 * webhook route (webhooks.ts).
 */
export class HttpIntegrationMonetization implements Monetization {
  readonly name = 'http-integration';
  readonly capabilities = httpIntegrationCapabilities;
  readonly webhooks: IntegrationWebhookVerifier;
  readonly deliveries: Deliveries;
  readonly background: EngineBackgroundWork;
  private readonly repository: HttpIntegrationRepository;

  constructor(
    options: HttpIntegrationOptions,
    private readonly dependencies: EngineDependencies,
    /** Tests only: the waits between quick re-sends. */
    sleep?: (ms: number) => Promise<void>,
  ) {
    this.repository = new HttpIntegrationRepository(dependencies.store);
    this.deliveries = new Deliveries(this.repository, options, dependencies.tenants, dependencies.clock, dependencies.logger, sleep);
    this.webhooks = new IntegrationWebhookVerifier(this.repository);
    this.background = { intervalMs: options.outboxIntervalMs, runDue: () => this.deliveries.runDue() };
  }

  /** `plan.created` (or `plan.updated`): the integration answers the plan code, which is recorded. */
  async createBillingPlan(policy: SubscriptionPolicy): Promise<BillingPlanChange> {
    return this.provisionPlan(policy, 'plan.created');
  }

  async updateBillingPlan(policy: SubscriptionPolicy): Promise<BillingPlanChange> {
    if (policy.billingPlan !== 'COMMERCIAL' || !policy.pricing) {
      await this.deleteBillingPlan(policy);
      return { billable: false, planId: null, apisUpdated: 0 };
    }
    return this.provisionPlan(policy, (await this.repository.planCode(policy.uuid)) === undefined ? 'plan.created' : 'plan.updated');
  }

  private async provisionPlan(policy: SubscriptionPolicy, operation: 'plan.created' | 'plan.updated'): Promise<BillingPlanChange> {
    if (policy.billingPlan !== 'COMMERCIAL' || !policy.pricing) return { billable: false, planId: null, apisUpdated: 0 };
    const tenant = policy.tenant.domain;
    const data = { tenant, policy: policyData(policy), suggestedPlanCode: suggestedPlanCode(policy) };
    const answer = await this.deliveries.send({ tenantDomain: tenant, operation, messageId: messageId(operation, tenant, policy.uuid, data), data });
    const planCode = answerText(answer, 'planCode', operation);
    await this.repository.setPlanCode({ policyUuid: policy.uuid, tenantDomain: tenant, policyName: policy.name, planCode, at: this.dependencies.clock() });
    return { billable: true, planId: planCode, apisUpdated: 0 };
  }

  /** `plan.deleted` through the outbox, for a plan the integration made; the plan code is forgotten. */
  async deleteBillingPlan(policy: SubscriptionPolicy): Promise<void> {
    const planCode = await this.repository.planCode(policy.uuid);
    if (planCode === undefined) return;
    const tenant = policy.tenant.domain;
    const data = { tenant, policy: { id: policy.uuid, name: policy.name }, planCode };
    await this.deliveries.enqueue({ tenantDomain: tenant, operation: 'plan.deleted', messageId: messageId('plan.deleted', tenant, policy.uuid), data });
    await this.repository.forgetPlan(policy.uuid);
  }

  /** The plan code of a COMMERCIAL policy, provisioning the plan first when the integration has none yet. */
  private async planCodeOf(policy: SubscriptionPolicy): Promise<string> {
    return (await this.repository.planCode(policy.uuid)) ?? (await this.provisionPlan(policy, 'plan.created')).planId!;
  }

  /** `monetization.enabled` with the API's COMMERCIAL tiers and their plan codes; the tiers are recorded once it is answered. */
  async enableMonetization(request: MonetizationRequest): Promise<MonetizationChange> {
    const { api } = request;
    const tenant = api.tenant.domain;
    this.deliveries.target(tenant);
    const tiers: Record<string, string> = {};
    for (const policy of request.policies) {
      if (policy.billingPlan === 'COMMERCIAL' && policy.pricing) tiers[policy.name] = await this.planCodeOf(policy);
    }
    const before = await this.repository.apiTiers(api.uuid);
    const data = {
      tenant,
      api: { id: api.uuid, name: api.name, version: api.version, provider: api.provider },
      tiers: Object.entries(tiers).map(([policyName, planCode]) => ({ policyName, planCode })),
      properties: request.properties,
    };
    await this.deliveries.send({ tenantDomain: tenant, operation: 'monetization.enabled', messageId: messageId('monetization.enabled', tenant, api.uuid, data), data });
    const changed = JSON.stringify(before) !== JSON.stringify(sorted(tiers));
    if (changed) await this.repository.setApiTiers(api.uuid, tiers);
    return { enabled: true, plans: tiers, changed, notes: [] };
  }

  /** `monetization.disabled` through the outbox; live subscriptions stay billed until they are cancelled. */
  async disableMonetization(request: MonetizationRequest): Promise<MonetizationChange> {
    const { api } = request;
    const before = await this.repository.apiTiers(api.uuid);
    const changed = Object.keys(before).length > 0;
    if (changed) {
      const tenant = api.tenant.domain;
      const data = { tenant, api: { id: api.uuid, name: api.name, version: api.version, provider: api.provider }, tiers: Object.entries(before).map(([policyName, planCode]) => ({ policyName, planCode })), properties: request.properties };
      await this.deliveries.enqueue({ tenantDomain: tenant, operation: 'monetization.disabled', messageId: messageId('monetization.disabled', tenant, api.uuid, data), data });
      await this.repository.setApiTiers(api.uuid, {});
    }
    return { enabled: false, plans: {}, changed, notes: changed ? ['Live subscriptions stay billed by the integration until they are cancelled.'] : [] };
  }

  getMonetizedPoliciesToPlanMapping(api: ApiRef): Promise<Record<string, string>> {
    return this.repository.apiTiers(api.uuid);
  }

  /**
   * Rated here, not asked of the integration, with Meterline's rating (`rate()`, docs/pricing.md):
   * the period's fee (FIXEDRATE, or DYNAMICRATE's base fee) and the usage this engine reported in
   * the current period (not dead) at the policy's usage rate, per request, graduated, volume or
   * package. What the integration bills is its own: its invoices are the bill.
   */
  async getCurrentUsageForSubscription(subscription: SubscriptionRef): Promise<PendingInvoice> {
    const row = await this.repository.subscription(subscription.uuid);
    const pricing = subscription.policy.pricing;
    if (!row || row.cancelledAt !== null || !pricing) throw new MonetizationError('NOT_FOUND', `subscription ${subscription.uuid} is not billed by the billing integration`);
    const period = periodAt(row.anchorAt, row.billingCycle, this.dependencies.clock());
    const calls = pricing.plan === 'DYNAMICRATE' ? await this.repository.reportedUsage(subscription.uuid, period.start, period.end) : 0;
    const rating = rate({ pricing, apiName: subscription.api.name, calls: BigInt(calls), period, include: { setupFee: false, baseFee: true, usage: true } });
    const currency = rating.currency;
    const lines: PendingInvoice['lines'] = rating.lines.map((line) => ({
      description: line.description,
      apiName: subscription.api.name,
      quantity: Number(line.quantity),
      // rate() answers major units; the port's unit amounts are minor units.
      unitAmountDecimal: line.unitAmountDecimal === null ? null : toMinorUnitDecimal(line.unitAmountDecimal, currency),
      amount: line.amount,
    }));
    const total = lines.reduce((sum, line) => sum + line.amount, 0n);
    return {
      invoiceId: null,
      description: null,
      currency,
      accountName: row.accountCode,
      accountCountry: null,
      customerEmail: subscription.subscriber.email,
      periodStart: period.start,
      periodEnd: period.end,
      dueDate: null,
      nextPaymentAttempt: null,
      paid: false,
      subtotal: total,
      tax: 0n,
      total,
      amountDue: total,
      amountPaid: 0n,
      amountRemaining: total,
      lines,
      hostedInvoiceUrl: null,
    };
  }

  /** What the integration reported paid on the API's invoices (its invoice events), per currency. */
  async getTotalRevenue(api: ApiRef): Promise<ApiRevenue> {
    const byCurrency: Record<string, bigint> = {};
    const per = new Map<string, { subscriptionUuid: string; currency: string; amount: bigint }>();
    for (const { subscriptionUuid, currency, amount } of await this.repository.paidOfApi(api.uuid)) {
      byCurrency[currency] = (byCurrency[currency] ?? 0n) + amount;
      const entry = per.get(`${subscriptionUuid} ${currency}`) ?? { subscriptionUuid, currency, amount: 0n };
      entry.amount += amount;
      per.set(`${subscriptionUuid} ${currency}`, entry);
    }
    return { byCurrency, subscriptions: [...per.values()] };
  }

  /**
   * `subscription.created` for a COMMERCIAL tier of a monetized API: the integration answers the
   * account code and its subscription id, recorded with the cycle anchored now. The access is
   * UNBLOCKED (the core holds it until the first invoice is paid when the tenant says so).
   */
  async createSubscription(subscription: SubscriptionRef): Promise<SubscriptionOutcome> {
    const { policy, api } = subscription;
    if (policy.billingPlan !== 'COMMERCIAL' || !policy.pricing) return NOT_BILLED;
    const tiers = await this.repository.apiTiers(api.uuid);
    if (Object.keys(tiers).length === 0) return NOT_BILLED;
    const planCode = tiers[policy.name];
    if (planCode === undefined) throw new MonetizationError('NOT_MONETIZED', `tier ${policy.name} of API ${api.name} ${api.version} was not monetized; enable monetization for the API again`);
    const tenant = api.tenant.domain;
    const existing = await this.repository.subscription(subscription.uuid);
    // Billed again after a cancel (same UUID): a new operation, so a new id.
    const subject = existing?.cancelledAt ? `${subscription.uuid}:after:${existing.cancelledAt.getTime()}` : subscription.uuid;
    const data = subscriptionCreatedData(subscription, planCode, accountKindOf(this.dependencies.tenants, tenant));
    const answer = await this.deliveries.send({ tenantDomain: tenant, operation: 'subscription.created', messageId: messageId('subscription.created', tenant, subject), data, subscriptionUuid: subscription.uuid });
    const row: SubscriptionRow = {
      subscriptionUuid: subscription.uuid,
      tenantDomain: tenant,
      apiUuid: api.uuid,
      applicationUuid: subscription.application.uuid,
      planCode,
      accountCode: answerText(answer, 'accountCode', 'subscription.created'),
      externalSubscriptionId: answerText(answer, 'subscriptionId', 'subscription.created'),
      currency: policy.pricing.currency.toLowerCase(),
      billingCycle: policy.pricing.billingCycle,
      anchorAt: this.dependencies.clock(),
      cancelledAt: null,
    };
    await this.repository.recordSubscription(row);
    return { billed: true, access: 'UNBLOCKED', engineSubscriptionId: row.externalSubscriptionId };
  }

  /**
   * `subscription.deleted` through the outbox (sent after the subscription's usage reports), with
   * what Meterline sent of the current period's usage; the record is marked cancelled.
   */
  async deleteSubscription(subscription: SubscriptionRef, sent?: SentUsage): Promise<SubscriptionOutcome> {
    const row = await this.repository.subscription(subscription.uuid);
    if (!row || row.cancelledAt !== null) return row ? { billed: true, access: 'BLOCKED', engineSubscriptionId: row.externalSubscriptionId } : NOT_BILLED;
    await this.cancel(row, sent);
    return { billed: true, access: 'BLOCKED', engineSubscriptionId: row.externalSubscriptionId };
  }

  private async cancel(row: SubscriptionRow, sent?: SentUsage): Promise<void> {
    const period = periodAt(row.anchorAt, row.billingCycle, this.dependencies.clock());
    const sentUsage = sent ? { periodStart: period.start.toISOString(), periodEnd: period.end.toISOString(), quantity: (await sent(period.start, period.end)).quantity } : undefined;
    const data = { tenant: row.tenantDomain, subscription: { id: row.subscriptionUuid, externalSubscriptionId: row.externalSubscriptionId }, ...(sentUsage ? { sentUsage } : {}) };
    await this.deliveries.enqueue({
      tenantDomain: row.tenantDomain,
      operation: 'subscription.deleted',
      messageId: messageId('subscription.deleted', row.tenantDomain, `${row.subscriptionUuid}:${row.externalSubscriptionId}`),
      data,
      subscriptionUuid: row.subscriptionUuid,
    });
    await this.repository.cancelSubscription(row.subscriptionUuid, this.dependencies.clock());
  }

  /** `usage.reported` through the outbox, its `webhook-id` made of the core's identifier: re-sending it never bills twice. */
  async reportUsage(usage: UsageReport): Promise<UsageReportOutcome> {
    const row = await this.repository.subscription(usage.subscription.uuid);
    if (!row || (row.cancelledAt !== null && row.cancelledAt.getTime() <= usage.windowStart.getTime())) {
      return { sent: false, reason: `subscription ${usage.subscription.uuid} is not billed by the billing integration` };
    }
    const tenant = row.tenantDomain;
    const data = {
      tenant,
      identifier: usage.identifier,
      subscription: { id: row.subscriptionUuid, externalSubscriptionId: row.externalSubscriptionId },
      addOn: CALLS_ADD_ON,
      quantity: usage.quantity,
      windowStart: usage.windowStart.toISOString(),
      windowEnd: usage.windowEnd.toISOString(),
    };
    await this.deliveries.enqueue({
      tenantDomain: tenant,
      operation: 'usage.reported',
      messageId: messageId('usage.reported', tenant, usage.identifier),
      data,
      subscriptionUuid: row.subscriptionUuid,
      usage: { quantity: usage.quantity, windowStart: usage.windowStart },
    });
    return { sent: true };
  }

  /** The policy's billing cycle anchored when the subscription was created (docs/custom-billing.md, "Billing periods"). */
  async billingCycleOf(subscription: SubscriptionRef): Promise<BillingCycleInfo | null> {
    const row = await this.repository.subscription(subscription.uuid);
    return row && row.cancelledAt === null ? { anchor: row.anchorAt, interval: row.billingCycle, intervalCount: 1 } : null;
  }

  /** The integration's subscription id; kept after a cancel (its final invoice still names it). */
  async billedSubscriptionOf(subscriptionUuid: string): Promise<EngineSubscriptionRecord | null> {
    const row = await this.repository.subscription(subscriptionUuid);
    return row ? { engineSubscriptionId: row.externalSubscriptionId, account: null } : null;
  }

  async billedSubscriptionsOf(subscriptionUuids: readonly string[]): Promise<Map<string, EngineSubscriptionRecord>> {
    const rows = await this.repository.subscriptions(subscriptionUuids);
    return new Map(rows.map((row) => [row.subscriptionUuid, { engineSubscriptionId: row.externalSubscriptionId, account: null }]));
  }

  /** The integration is not asked: the live subscriptions are this engine's records. */
  async listEngineSubscriptions(tenant: TenantRef): Promise<EngineSubscriptionFound[]> {
    return (await this.repository.liveSubscriptionsOfTenant(tenant.domain)).map((row) => ({
      engineSubscriptionId: row.externalSubscriptionId,
      account: null,
      tenantDomain: row.tenantDomain,
      subscriptionUuid: row.subscriptionUuid,
      apiUuid: row.apiUuid,
      applicationUuid: row.applicationUuid,
      status: 'active',
    }));
  }

  async cancelEngineSubscription(found: EngineSubscriptionFound): Promise<void> {
    const row = await this.repository.subscription(found.subscriptionUuid);
    if (row && row.cancelledAt === null) await this.cancel(row);
  }

  /** Accounts are the integration's (answered by code); Meterline keeps no customers to compare. */
  async listEngineCustomers(): Promise<EngineCustomerListing> {
    return { customers: [], unlisted: [] };
  }

  async repairEngineCustomer(): Promise<EngineCustomerRepair> {
    throw new MonetizationError('NOT_FOUND', 'the billing integration keeps the accounts; Meterline has no customers to repair');
  }
}

/** A non-empty string field of a synchronous answer; anything else is the integration's error. */
function answerText(answer: Record<string, unknown>, field: string, operation: string): string {
  const value = answer[field];
  if (typeof value !== 'string' || value === '' || value.length > 255) {
    throw new MonetizationError('ENGINE_REJECTED', `the billing integration answered ${operation} without ${field} (a string of 1 to 255 characters)`, { field });
  }
  return value;
}

function sorted(tiers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tiers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
