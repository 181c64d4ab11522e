import type Stripe from 'stripe';
import type { SubscriptionRef } from '../../src/domain/model';
import { MonetizationError, type SubscriptionOutcome } from '../../src/monetization/monetization';
import type { Logger } from '../../src/logger';
import type { CustomersService } from './customers.service';
import { idempotencyKey } from './idempotency';
import type { StripeClients } from './stripe.clients';
import type { StripeOptions } from './stripe.options';
import { callStripe, findInStripe } from './stripe.errors';
import { baseFeeItem } from './pricing';
import type { StripeRepository } from './stripe.repository';

const NOT_BILLED: SubscriptionOutcome = { billed: false, access: 'UNBLOCKED', engineSubscriptionId: null };
const FINISHED = new Set<Stripe.Subscription.Status>(['canceled', 'incomplete_expired']);

/**
 * The subscription workflows. Create: customers, then a Stripe subscription in the publisher's
 * connected account, then the account it lives in (ML_ENGINE_SUBSCRIPTION), then the
 * AM_MONETIZATION_SUBSCRIPTIONS row. Everything later (usage, cancel, previews, invoices) uses
 * the recorded account. Each step is idempotent and
 * looks for what an earlier attempt already made, so a retry after a failure at any step
 * finishes the job; if the final row cannot be written, the Stripe subscription is cancelled so
 * nobody is billed for a subscription the gateway does not know.
 */
export class SubscriptionsService {
  constructor(
    private readonly clients: StripeClients,
    private readonly repository: StripeRepository,
    private readonly customers: CustomersService,
    private readonly options: StripeOptions,
    private readonly logger: Logger,
    private readonly clock: () => Date,
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
    // The account is recorded before the row that makes the subscription billed: usage, cancel,
    // previews and invoices go to this account even if the API's properties name another later.
    await this.repository.recordSubscriptionAccount({
      stripeSubscriptionId: stripeSubscription.id,
      account,
      subscriptionUuid: subscription.uuid,
      now: this.clock().getTime(),
    });

    try {
      await this.repository.insertMonetizedSubscription({
        applicationId,
        apiId,
        tenantId: api.tenant.id,
        stripeSubscriptionId: stripeSubscription.id,
        sharedCustomerRowId: shared.rowId,
      });
    } catch (error) {
      const concurrent = await this.repository.monetizedSubscription(apiId, applicationId);
      if (concurrent?.stripeSubscriptionId === stripeSubscription.id) {
        return { billed: true, access: 'UNBLOCKED', engineSubscriptionId: stripeSubscription.id };
      }
      await this.cancelQuietly(stripe, stripeSubscription.id, account, subscription.uuid);
      await this.repository.forgetSubscriptionAccount(stripeSubscription.id).catch(() => undefined);
      throw error;
    }
    return { billed: true, access: 'UNBLOCKED', engineSubscriptionId: stripeSubscription.id };
  }

  /**
   * Cancels the Stripe subscription, in the account it lives in, with a final invoice for usage
   * since the last one; the caller has sent the subscription's usage first.
   */
  async delete(subscription: SubscriptionRef): Promise<SubscriptionOutcome> {
    const { api, application } = subscription;
    const apiId = await this.repository.apiId(api.uuid);
    const applicationId = await this.repository.applicationId(application.uuid);
    if (apiId === undefined || applicationId === undefined) return NOT_BILLED;
    const row = await this.repository.monetizedSubscription(apiId, applicationId);
    if (!row) return NOT_BILLED;
    const account = await this.repository.accountOf(row);
    if (!account) throw new MonetizationError('NOT_MONETIZED', `subscription ${subscription.uuid} has no connected account recorded`);
    const stripe = this.clients.forTenant(api.tenant.domain);
    const current = await this.retrieve(stripe, row.stripeSubscriptionId, account);
    if (current && !FINISHED.has(current.status)) {
      await callStripe('cancel the subscription', { account, subscription: subscription.uuid }, () =>
        stripe.subscriptions.cancel(
          row.stripeSubscriptionId,
          // Fixed fees are charged in advance and not refunded; metered usage since the last
          // invoice is invoiced now.
          { invoice_now: true, prorate: false },
          { stripeAccount: account, idempotencyKey: idempotencyKey(api.tenant.domain, 'subscription', subscription.uuid, 'cancel', row.stripeSubscriptionId) },
        ),
      );
    }
    await this.repository.deleteMonetizedSubscription(row);
    return { billed: true, access: 'BLOCKED', engineSubscriptionId: row.stripeSubscriptionId };
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
    return callStripe('create the subscription', { account, subscription: subscription.uuid }, () =>
      stripe.subscriptions.create(
        {
          customer: shared.customerId,
          items: [{ price: plan.planId }, ...optional(baseFeeItem(subscription.policy.pricing!, subscription.policy.name, plan.productId))],
          ...(payByCard
            ? { collection_method: 'charge_automatically', default_payment_method: shared.defaultPaymentMethod! }
            : { collection_method: 'send_invoice', days_until_due: this.options.days_until_due }),
          metadata: {
            meterline_subscription_uuid: subscription.uuid,
            meterline_api_uuid: subscription.api.uuid,
            meterline_application_uuid: subscription.application.uuid,
            meterline_tenant: subscription.api.tenant.domain,
          },
        },
        {
          stripeAccount: account,
          idempotencyKey: idempotencyKey(subscription.api.tenant.domain, 'subscription', subscription.uuid, 'create', predecessor),
        },
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
