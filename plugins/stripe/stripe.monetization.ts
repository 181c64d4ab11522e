import type { ApiRef, SubscriptionPolicy, SubscriptionRef, TenantRef } from '../../src/domain/model';
import type {
  ApiRevenue,
  BillingCycleInfo,
  BillingPlanChange,
  EngineCustomerFound,
  EngineCustomerListing,
  EngineCustomerRepair,
  EngineDependencies,
  EndedSubscriptionRef,
  EngineSubscriptionFound,
  EngineSubscriptionRecord,
  Monetization,
  MonetizationChange,
  MonetizationRequest,
  PendingInvoice,
  SentUsage,
  SubscriptionOutcome,
  UsageAsBilled,
  UsagePeriod,
  UsageReport,
  UsageReportOutcome,
} from '../../src/monetization/monetization';
import { ApiPlanCopies } from './api-plans.service';
import { StripePlanChange } from './change-plan';
import { CustomerReconcileService } from './customer-reconcile.service';
import { CustomersService } from './customers.service';
import { InvoicesService } from './invoices.service';
import { PlansService } from './plans.service';
import { StripeClients } from './stripe.clients';
import { callStripe } from './stripe.errors';
import type { StripeOptions } from './stripe.options';
import { StripeRepository } from './stripe.repository';
import { stripeCapabilities } from './capabilities';
import { StripeSubscriptionWorkflow, type WorkflowProbe } from './subscription-workflow';
import { StripeUsageReporter } from './usage-reporter';
import { StripeUsageAsBilled } from './usage-reconcile';
import { StripeWebhookVerifier } from './webhooks';

/** The Stripe billing engine: the Monetization contract, delegated to one service per concern. */
export class StripeMonetization implements Monetization {
  readonly name = 'stripe';
  readonly capabilities = stripeCapabilities;
  readonly webhooks: StripeWebhookVerifier;
  private readonly plans: PlansService;
  private readonly apiPlans: ApiPlanCopies;
  private readonly subscriptions: StripeSubscriptionWorkflow;
  private readonly invoices: InvoicesService;
  private readonly usage: StripeUsageReporter;
  private readonly repository: StripeRepository;
  private readonly customerReconcile: CustomerReconcileService;
  private readonly usageReconcile: StripeUsageAsBilled;
  private readonly planChange: StripePlanChange;

  /** `probe`: tests only, to stop the subscription workflows after a chosen step (see `WorkflowProbe`). */
  constructor(options: StripeOptions, dependencies: EngineDependencies, probe?: WorkflowProbe) {
    const clients = new StripeClients(dependencies.tenants, options);
    this.webhooks = new StripeWebhookVerifier((tenant, id, context) =>
      callStripe('read a Stripe event', { event: id, account: context }, () =>
        clients.forTenant(tenant).v2.core.events.retrieve(id, {}, context ? { stripeContext: context } : {}),
      ),
    );
    const repository = new StripeRepository(dependencies.store, dependencies.core);
    this.repository = repository;
    this.apiPlans = new ApiPlanCopies(clients, repository, dependencies.clock);
    this.plans = new PlansService(clients, repository, this.apiPlans);
    this.subscriptions = new StripeSubscriptionWorkflow(clients, repository, new CustomersService(repository, probe), options, dependencies.logger, dependencies.clock, probe);
    this.invoices = new InvoicesService(clients, repository);
    this.usage = new StripeUsageReporter(clients, repository, dependencies.clock);
    this.customerReconcile = new CustomerReconcileService(clients, repository, dependencies.tenants);
    this.usageReconcile = new StripeUsageAsBilled(clients, repository);
    this.planChange = new StripePlanChange(clients, repository);
  }

  createBillingPlan(policy: SubscriptionPolicy): Promise<BillingPlanChange> {
    return this.plans.create(policy);
  }

  updateBillingPlan(policy: SubscriptionPolicy): Promise<BillingPlanChange> {
    return this.plans.update(policy);
  }

  deleteBillingPlan(policy: SubscriptionPolicy): Promise<void> {
    return this.plans.delete(policy);
  }

  enableMonetization(request: MonetizationRequest): Promise<MonetizationChange> {
    return this.apiPlans.enable(request);
  }

  disableMonetization(request: MonetizationRequest): Promise<MonetizationChange> {
    return this.apiPlans.disable(request);
  }

  getMonetizedPoliciesToPlanMapping(api: ApiRef): Promise<Record<string, string>> {
    return this.apiPlans.mapping(api);
  }

  getCurrentUsageForSubscription(subscription: SubscriptionRef): Promise<PendingInvoice> {
    return this.invoices.pending(subscription);
  }

  getTotalRevenue(api: ApiRef): Promise<ApiRevenue> {
    return this.invoices.revenue(api);
  }

  createSubscription(subscription: SubscriptionRef): Promise<SubscriptionOutcome> {
    return this.subscriptions.create(subscription);
  }

  deleteSubscription(subscription: SubscriptionRef, sent?: SentUsage): Promise<SubscriptionOutcome> {
    return this.subscriptions.delete(subscription, sent);
  }

  changeSubscriptionPlan(from: SubscriptionRef, to: SubscriptionRef): Promise<SubscriptionOutcome> {
    return this.planChange.change(from, to);
  }

  reportUsage(usage: UsageReport): Promise<UsageReportOutcome> {
    return this.usage.report(usage);
  }

  reportUsageBatch(reports: readonly UsageReport[], beforeRequest: () => Promise<void>): Promise<Array<UsageReportOutcome | Error>> {
    return this.usage.reportBatch(reports, beforeRequest);
  }

  billingCycleOf(subscription: SubscriptionRef): Promise<BillingCycleInfo | null> {
    return this.usage.billingCycle(subscription);
  }

  /**
   * The Stripe subscription recorded at subscribe (AM_MONETIZATION_SUBSCRIPTIONS) and the
   * connected account recorded with it (ML_ENGINE_SUBSCRIPTION), whatever account the API is
   * monetized with now. A row WSO2 wrote has no recorded account: it is the one its API was last
   * monetized with, which cannot change while the API has live subscriptions.
   */
  async billedSubscriptionOf(subscriptionUuid: string): Promise<EngineSubscriptionRecord | null> {
    const row = await this.repository.monetizedSubscriptionByUuid(subscriptionUuid);
    const account = row ? await this.repository.accountOf(row) : undefined;
    return row && account ? { engineSubscriptionId: row.stripeSubscriptionId, account } : null;
  }

  /** `billedSubscriptionOf` for many subscriptions, in a few queries (see `billedSubscriptionsByUuids`). */
  async billedSubscriptionsOf(subscriptionUuids: readonly string[]): Promise<Map<string, EngineSubscriptionRecord>> {
    const billed = await this.repository.billedSubscriptionsByUuids(subscriptionUuids);
    return new Map([...billed].map(([uuid, { stripeSubscriptionId, account }]) => [uuid, { engineSubscriptionId: stripeSubscriptionId, account }]));
  }

  listEngineSubscriptions(tenant: TenantRef): Promise<EngineSubscriptionFound[]> {
    return this.subscriptions.listLive(tenant);
  }

  cancelEngineSubscription(found: EngineSubscriptionFound): Promise<void> {
    return this.subscriptions.cancelFound(found);
  }

  listEngineCustomers(tenant: TenantRef): Promise<EngineCustomerListing> {
    return this.customerReconcile.list(tenant);
  }

  repairEngineCustomer(found: EngineCustomerFound): Promise<EngineCustomerRepair> {
    return this.customerReconcile.repair(found);
  }

  usageAsBilled(subscription: SubscriptionRef | EndedSubscriptionRef, period: UsagePeriod): Promise<UsageAsBilled | null> {
    return this.usageReconcile.usageAsBilled(subscription, period);
  }
}
