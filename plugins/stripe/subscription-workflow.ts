import type Stripe from 'stripe';
import type { SubscriptionRef, TenantRef } from '../../src/domain/model';
import { MonetizationError, type EngineSubscriptionFound, type SentUsage, type SubscriptionOutcome } from '../../src/monetization/monetization';
import type { Logger } from '../../src/logger';
import type { CustomersService } from './customers.service';
import { idempotencyKey } from './idempotency';
import { sendPastStoredErrors } from './retry';
import type { StripeClients } from './stripe.clients';
import type { StripeOptions } from './stripe.options';
import { callStripe, findInStripe } from './stripe.errors';
import { baseFeeItem, setupFeeItem } from './pricing';
import type { StripeRepository } from './stripe.repository';
import { isUniqueViolation } from '../../src/db/errors';
import { countedOnMeter } from './usage-reconcile';

/**
 * Stripe aggregates meter events asynchronously and states no bound: "Stripe processes meter
 * events asynchronously, so aggregated usage in meter event summaries and on upcoming invoices
 * might not immediately reflect recently received meter events"
 * (https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage). A cancel with
 * `invoice_now` made before the last usage is aggregated leaves it off the final invoice, so the
 * cancel waits for it: the caller is told to retry after this many seconds (typical aggregation
 * takes seconds)...
 */
const USAGE_COUNTING_RETRY_AFTER_SECONDS = 30;
/**
 * ...but not for ever: usage sent longer ago than this and still not counted is not coming (a
 * meter error report, say, that has not reached Meterline yet); the cancel goes ahead, warns, and
 * `meterline reconcile usage` reports the difference (NOT_COUNTED).
 */
const USAGE_COUNTING_PATIENCE_MS = 15 * 60_000;
const MINUTE = 60;
/** How far ahead of now a usage window may be stamped (Stripe accepts 5 minutes into the future). */
const FUTURE_STAMPS_SECONDS = 5 * MINUTE;

const NOT_BILLED: SubscriptionOutcome = { billed: false, access: 'UNBLOCKED', engineSubscriptionId: null };
const FINISHED = new Set<Stripe.Subscription.Status>(['canceled', 'incomplete_expired']);

/**
 * Called after each step of a workflow has taken effect, with the step's name. Production passes
 * none; a test passes one that never returns at a chosen step, which is what a killed process
 * looks like to everyone else (nothing after that step runs, not even a compensation).
 */
export type WorkflowProbe = (step: string) => Promise<void>;
const NO_PROBE: WorkflowProbe = async () => undefined;

/**
 * The subscription workflows. Create: customers, then a Stripe subscription in the publisher's
 * connected account, then the account it lives in (ML_ENGINE_SUBSCRIPTION), then the
 * AM_MONETIZATION_SUBSCRIPTIONS row. Everything later (usage, cancel, previews, invoices) uses
 * the recorded account. Each step is idempotent and
 * looks for what an earlier attempt already made, so a retry after a failure at any step
 * finishes the job; if the final row cannot be written, the Stripe subscription is cancelled so
 * nobody is billed for a subscription the gateway does not know.
 */
export class StripeSubscriptionWorkflow {
  constructor(
    private readonly clients: StripeClients,
    private readonly repository: StripeRepository,
    private readonly customers: CustomersService,
    private readonly options: StripeOptions,
    private readonly logger: Logger,
    private readonly clock: () => Date,
    private readonly probe: WorkflowProbe = NO_PROBE,
  ) {}

  async create(subscription: SubscriptionRef): Promise<SubscriptionOutcome> {
    if (subscription.policy.billingPlan !== 'COMMERCIAL') return NOT_BILLED;
    const { api, application, subscriber, policy } = subscription;
    const apiId = await this.require(this.repository.apiId(api.uuid), `API ${api.uuid}`);
    const applicationId = await this.require(this.repository.applicationId(application.uuid), `application ${application.uuid}`);
    const account = await this.repository.monetizedAccountOfApi(apiId);
    if (!account) return NOT_BILLED; // the API is not monetized: its tiers are not charged
    const plan = (await this.repository.apiPlans(apiId)).find((row) => row.tierName === policy.name);
    if (!plan) {
      throw new MonetizationError(
        'NOT_MONETIZED',
        `tier ${policy.name} of API ${api.name} ${api.version} has no plan in connected account ${account}; enable monetization for the API again`,
      );
    }
    const existing = await this.repository.monetizedSubscription(apiId, applicationId);
    if (existing) return { billed: true, access: 'UNBLOCKED', engineSubscriptionId: existing.stripeSubscriptionId };

    const stripe = this.clients.forTenant(api.tenant.domain);
    const subscriberId = await this.require(this.repository.subscriberId(subscriber.userId, api.tenant.id), `subscriber ${subscriber.userId}`);
    const platform = await this.customers.ensurePlatformCustomer(stripe, subscription, subscriberId);
    const shared = await this.customers.ensureSharedCustomer(stripe, { subscription, applicationId, account, platform });
    const stripeSubscription = await this.findOrCreate(stripe, { subscription, account, plan, shared });
    await this.probe('stripe-subscription-created');
    // The account is recorded before the row that makes the subscription billed: usage, cancel,
    // previews and invoices go to this account even if the API's properties name another later.
    await this.repository.recordSubscriptionAccount({
      stripeSubscriptionId: stripeSubscription.id,
      account,
      subscriptionUuid: subscription.uuid,
      now: this.clock().getTime(),
    });
    await this.probe('account-recorded');

    try {
      await this.repository.insertMonetizedSubscription({
        applicationId,
        apiId,
        tenantId: api.tenant.id,
        stripeSubscriptionId: stripeSubscription.id,
        sharedCustomerRowId: shared.rowId,
      });
    } catch (error) {
      // Only a unique violation means a concurrent request recorded it first; anything else undoes.
      const concurrent = isUniqueViolation(error) ? await this.repository.monetizedSubscription(apiId, applicationId) : undefined;
      if (concurrent?.stripeSubscriptionId === stripeSubscription.id) {
        return { billed: true, access: 'UNBLOCKED', engineSubscriptionId: stripeSubscription.id };
      }
      await this.cancelQuietly(stripe, stripeSubscription.id, account, subscription.uuid);
      await this.repository.forgetSubscriptionAccount(stripeSubscription.id).catch(() => undefined);
      throw error;
    }
    await this.probe('billed-row-written');
    // An `incomplete` subscription's first payment failed or awaits the customer (3-D Secure):
    // Stripe has not started it (https://docs.stripe.com/billing/subscriptions/overview#payment-status).
    const access = stripeSubscription.status === 'incomplete' ? 'ON_HOLD' : 'UNBLOCKED';
    return { billed: true, access, engineSubscriptionId: stripeSubscription.id };
  }

  /**
   * Cancels the Stripe subscription, in the account it lives in, with a final invoice for usage
   * since the last one; the caller has sent the subscription's usage first, and with `sent` says
   * what it sent: the cancel waits (USAGE_NOT_YET_COUNTED) until Stripe has counted it.
   */
  async delete(subscription: SubscriptionRef, sent?: SentUsage): Promise<SubscriptionOutcome> {
    const { api, application } = subscription;
    const apiId = await this.repository.apiId(api.uuid);
    const applicationId = await this.repository.applicationId(application.uuid);
    if (apiId === undefined || applicationId === undefined) return NOT_BILLED;
    const row = await this.repository.monetizedSubscription(apiId, applicationId);
    if (!row) return this.cancelUnrecorded(subscription, apiId, applicationId);
    const account = await this.repository.accountOf(row);
    if (!account) throw new MonetizationError('NOT_MONETIZED', `subscription ${subscription.uuid} has no connected account recorded`);
    const stripe = this.clients.forTenant(api.tenant.domain);
    const current = await this.retrieve(stripe, row.stripeSubscriptionId, account);
    if (current && !FINISHED.has(current.status)) {
      if (sent) await this.requireUsageCounted(stripe, current, account, subscription.uuid, sent);
      await this.cancel(stripe, { id: row.stripeSubscriptionId, account, tenantDomain: api.tenant.domain, subscriptionUuid: subscription.uuid });
    }
    await this.probe('stripe-subscription-cancelled');
    // The recorded account stays, marked cancelled: `reconcile usage` reads the last period from it.
    await this.repository.deleteMonetizedSubscription(row, { account, subscriptionUuid: subscription.uuid, now: this.clock().getTime() });
    return { billed: true, access: 'BLOCKED', engineSubscriptionId: row.stripeSubscriptionId };
  }

  /**
   * Delete when the subscription's billed row is missing (a subscribe killed before writing it,
   * or a compensation): Stripe subscriptions whose metadata names this Meterline subscription
   * are found in the shared customer's account (the one recorded with them, else the API's) and
   * cancelled all the same, so nothing keeps billing a subscription the gateway removes.
   */
  private async cancelUnrecorded(subscription: SubscriptionRef, apiId: number, applicationId: number): Promise<SubscriptionOutcome> {
    const { api } = subscription;
    const shared = await this.repository.sharedCustomer(applicationId, api.provider, api.tenant.id);
    if (!shared) return NOT_BILLED; // the workflow makes the shared customer's row before any Stripe subscription
    const accounts = new Set(await this.repository.recordedAccountsOf(subscription.uuid));
    const apiAccount = await this.repository.connectedAccountOfApi(apiId);
    if (apiAccount) accounts.add(apiAccount);
    if (accounts.size === 0) return NOT_BILLED;
    const stripe = this.clients.forTenant(api.tenant.domain);
    let cancelled: string | null = null;
    for (const account of accounts) {
      const found = await findInStripe('list the subscriptions of a customer', { account }, () =>
        this.earlierAttempts(stripe, shared.customerId, account, subscription.uuid),
      );
      for (const s of found ?? []) {
        if (!FINISHED.has(s.status)) {
          await this.cancel(stripe, { id: s.id, account, tenantDomain: api.tenant.domain, subscriptionUuid: subscription.uuid });
          cancelled = s.id;
        }
        await this.repository.forgetSubscriptionAccount(s.id);
      }
    }
    return cancelled === null ? NOT_BILLED : { billed: true, access: 'BLOCKED', engineSubscriptionId: cancelled };
  }

  /** Live Stripe subscriptions made by Meterline for the tenant, in every account its APIs are or were monetized with. */
  async listLive(tenant: TenantRef): Promise<EngineSubscriptionFound[]> {
    const accounts = await this.repository.connectedAccountsOfTenant(tenant.domain);
    if (accounts.length === 0) return [];
    const stripe = this.clients.forTenant(tenant.domain);
    const found: EngineSubscriptionFound[] = [];
    for (const account of accounts) {
      await callStripe('list the subscriptions of a connected account', { account }, async () => {
        for await (const s of stripe.subscriptions.list({ status: 'all', limit: 100 }, { stripeAccount: account })) {
          const uuid = s.metadata?.meterline_subscription_uuid;
          if (!uuid || s.metadata?.meterline_tenant !== tenant.domain || FINISHED.has(s.status)) continue;
          found.push({
            engineSubscriptionId: s.id,
            account,
            tenantDomain: tenant.domain,
            subscriptionUuid: uuid,
            apiUuid: s.metadata.meterline_api_uuid ?? null,
            applicationUuid: s.metadata.meterline_application_uuid ?? null,
            status: s.status,
          });
        }
      });
    }
    return found;
  }

  /** Cancels a subscription `listLive` found, with a final invoice; its billed row goes, its recorded account stays marked cancelled. */
  async cancelFound(found: EngineSubscriptionFound): Promise<void> {
    if (found.account === null) throw new MonetizationError('NOT_FOUND', `Stripe subscription ${found.engineSubscriptionId} has no connected account`);
    const stripe = this.clients.forTenant(found.tenantDomain);
    const current = await this.retrieve(stripe, found.engineSubscriptionId, found.account);
    if (current && !FINISHED.has(current.status)) {
      await this.cancel(stripe, { id: found.engineSubscriptionId, account: found.account, tenantDomain: found.tenantDomain, subscriptionUuid: found.subscriptionUuid });
    }
    await this.repository.forgetStripeSubscription(found.engineSubscriptionId, { subscriptionUuid: found.subscriptionUuid, now: this.clock().getTime() });
  }

  /**
   * Throws USAGE_NOT_YET_COUNTED while the meter's event summaries for the subscription's customer
   * over its current period (what `usageAsBilled` reads) count less than Meterline sent stamped
   * in that range: the final invoice of a cancel made now would miss the difference. Usage
   * stamped before the period is on the renewal invoice and does not matter here.
   */
  private async requireUsageCounted(stripe: Stripe, current: Stripe.Subscription, account: string, subscriptionUuid: string, sent: SentUsage): Promise<void> {
    const item = current.items.data.find((i) => i.price.recurring?.usage_type === 'metered' && i.price.recurring.meter);
    const meter = item?.price.recurring?.meter;
    if (!item || !meter) return;
    const now = this.clock().getTime();
    const from = Math.floor(item.current_period_start / MINUTE) * MINUTE;
    const to = (Math.floor(now / 1000 / MINUTE) + 1) * MINUTE + FUTURE_STAMPS_SECONDS;
    const ours = await sent(new Date(from * 1000), new Date(to * 1000));
    if (ours.quantity === 0) return;
    const customer = typeof current.customer === 'string' ? current.customer : current.customer.id;
    const counted = await countedOnMeter(stripe, { account, meter, customer, from, to }, { account, subscription: subscriptionUuid });
    if (counted >= ours.quantity) return;
    const context = { subscription: subscriptionUuid, meter, sent: ours.quantity, counted };
    if (ours.lastSentAt === null || now - ours.lastSentAt.getTime() > USAGE_COUNTING_PATIENCE_MS) {
      this.logger.warn(context, 'cancelling although Stripe has not counted all usage sent for the period long ago; its final invoice may miss it (see meterline reconcile usage)');
      return;
    }
    throw new MonetizationError(
      'USAGE_NOT_YET_COUNTED',
      `Subscription ${subscriptionUuid} was not cancelled: its last usage is still being counted by the billing engine ` +
        `(${counted} of the ${ours.quantity} units sent for the current period counted so far), and its final invoice must include it. ` +
        `It is still active and billed; try again in ${USAGE_COUNTING_RETRY_AFTER_SECONDS} seconds.`,
      context,
      { retryAfterSeconds: USAGE_COUNTING_RETRY_AFTER_SECONDS },
    );
  }

  /**
   * Cancels with a final invoice: fixed fees are charged in advance and not refunded; metered
   * usage since the last invoice is invoiced now.
   */
  private async cancel(stripe: Stripe, target: { id: string; account: string; tenantDomain: string; subscriptionUuid: string }): Promise<void> {
    await callStripe('cancel the subscription', { account: target.account, subscription: target.subscriptionUuid }, () =>
      sendPastStoredErrors(idempotencyKey(target.tenantDomain, 'subscription', target.subscriptionUuid, 'cancel', target.id), (key) =>
        stripe.subscriptions.cancel(target.id, { invoice_now: true, prorate: false }, { stripeAccount: target.account, idempotencyKey: key }),
      ),
    );
  }

  /**
   * Reuses a live Stripe subscription an earlier attempt created (found by its metadata, which
   * outlives Stripe's 24 h idempotency window); otherwise creates one. After a compensating
   * cancel the key names the cancelled predecessor, so a retry creates a fresh subscription
   * instead of replaying the cancelled one.
   */
  private async findOrCreate(
    stripe: Stripe,
    input: {
      subscription: SubscriptionRef;
      account: string;
      plan: { planId: string; productId: string };
      shared: { customerId: string; defaultPaymentMethod: string | null };
    },
  ): Promise<Stripe.Subscription> {
    const { subscription, account, plan, shared } = input;
    const earlier = await this.earlierAttempts(stripe, shared.customerId, account, subscription.uuid);
    const live = earlier.find((s) => !FINISHED.has(s.status));
    if (live) return live;
    const predecessor = earlier[0]?.id ?? 'first';
    const payByCard = shared.defaultPaymentMethod !== null;
    const pricing = subscription.policy.pricing!;
    // The setup fee rides on the create: on the first invoice only, and with the subscription's own
    // idempotency key, so a retry cannot charge it twice (see setupFeeItem).
    const setupFee = setupFeeItem(pricing, subscription.policy.name, plan.productId);
    const params: Stripe.SubscriptionCreateParams = {
      customer: shared.customerId,
      items: [{ price: plan.planId }, ...optional(baseFeeItem(pricing, subscription.policy.name, plan.productId))],
      ...(setupFee ? { add_invoice_items: [setupFee] } : {}),
      ...(payByCard
        ? { collection_method: 'charge_automatically', default_payment_method: shared.defaultPaymentMethod! }
        : { collection_method: 'send_invoice', days_until_due: this.options.days_until_due }),
      metadata: {
        meterline_subscription_uuid: subscription.uuid,
        meterline_api_uuid: subscription.api.uuid,
        meterline_application_uuid: subscription.application.uuid,
        meterline_tenant: subscription.api.tenant.domain,
      },
    };
    const findLive = async () =>
      (await this.earlierAttempts(stripe, shared.customerId, account, subscription.uuid)).find((s) => !FINISHED.has(s.status));
    return callStripe('create the subscription', { account, subscription: subscription.uuid }, () =>
      sendPastStoredErrors<Stripe.Subscription>(
        idempotencyKey(subscription.api.tenant.domain, 'subscription', subscription.uuid, 'create', predecessor),
        (key) => stripe.subscriptions.create(params, { stripeAccount: account, idempotencyKey: key }),
        findLive,
      ),
    );
  }

  private async earlierAttempts(stripe: Stripe, customer: string, account: string, subscriptionUuid: string): Promise<Stripe.Subscription[]> {
    return callStripe('list the subscriptions of a customer', { account }, async () => {
      const found: Stripe.Subscription[] = [];
      for await (const s of stripe.subscriptions.list({ customer, status: 'all', limit: 100 }, { stripeAccount: account })) {
        if (s.metadata?.meterline_subscription_uuid === subscriptionUuid) found.push(s);
      }
      return found;
    });
  }

  /** Compensation; if it fails too, a retry of the workflow finds the subscription and adopts it. */
  private async cancelQuietly(stripe: Stripe, id: string, account: string, subscriptionUuid: string): Promise<void> {
    try {
      await stripe.subscriptions.cancel(id, { prorate: false }, { stripeAccount: account });
    } catch (error) {
      this.logger.error({ err: error, subscription: subscriptionUuid, stripeSubscription: id }, 'could not cancel an unrecorded Stripe subscription');
    }
  }

  private retrieve(stripe: Stripe, id: string, account: string): Promise<Stripe.Subscription | undefined> {
    return findInStripe('retrieve the subscription', { account }, () => stripe.subscriptions.retrieve(id, {}, { stripeAccount: account }));
  }

  private async require<T>(lookup: Promise<T | undefined>, what: string): Promise<T> {
    const value = await lookup;
    if (value === undefined) throw new MonetizationError('NOT_FOUND', `${what} does not exist`);
    return value;
  }
}

function optional<T>(value: T | undefined): T[] {
  return value === undefined ? [] : [value];
}
