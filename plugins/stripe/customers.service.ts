import type Stripe from 'stripe';
import type { SubscriptionRef } from '../../src/domain/model';
import { MonetizationError } from '../../src/monetization/monetization';
import { accountOption } from './archive';
import { idempotencyKey } from './idempotency';
import { usableCustomerEmail } from './customer-email';
import { sendPastStoredErrors } from './retry';
import { callStripe, findInStripe } from './stripe.errors';
import type { StripeRepository } from './stripe.repository';
import { isUniqueViolation } from '../../src/db/errors';

export interface PlatformCustomer {
  rowId: number;
  customer: Stripe.Customer;
}

export interface SharedCustomer {
  rowId: number;
  customerId: string;
  /** The payment method cloned from the platform customer, when there was one to clone. */
  defaultPaymentMethod: string | null;
}

/**
 * The subscriber as a customer of the tenant's platform account, and, per application and API
 * provider, a shared customer in the provider's connected account linked to it. No test card is
 * ever attached: a saved payment method is cloned from the platform customer when it has one;
 * without one the subscription is invoiced (`send_invoice`) and paid on Stripe's hosted page.
 */
export class CustomersService {
  constructor(
    private readonly repository: StripeRepository,
    /** After each step has taken effect (see `WorkflowProbe`); tests stop a workflow there. */
    private readonly probe: (step: string) => Promise<void> = async () => undefined,
  ) {}

  async ensurePlatformCustomer(stripe: Stripe, subscription: SubscriptionRef, subscriberId: number): Promise<PlatformCustomer> {
    const { tenant } = subscription.api;
    const { userId } = subscription.subscriber;
    // A malformed address would make Stripe refuse the customer (email_invalid): it is left out.
    const email = usableCustomerEmail(subscription.subscriber.email);
    const row = await this.repository.platformCustomer(subscriberId, tenant.id);
    if (row) {
      const customer = await this.retrieveCustomer(stripe, row.customerId);
      if (!customer) {
        throw new MonetizationError('ENGINE_REJECTED', `platform customer ${row.customerId} of ${userId} no longer exists in Stripe`, {
          customer: row.customerId,
        });
      }
      return { rowId: row.id, customer };
    }
    const metadata = { meterline_subscriber: userId, meterline_tenant: tenant.domain };
    const customer =
      (await this.findEarlierCustomer(stripe, email, metadata)) ??
      (await callStripe('create the platform customer', { subscriber: userId }, () =>
        sendPastStoredErrors(
          idempotencyKey(tenant.domain, 'subscriber', userId, 'platform-customer'),
          (key) => stripe.customers.create({ ...(email ? { email } : {}), description: `Customer for ${userId}`, metadata }, { idempotencyKey: key }),
          () => this.findEarlierCustomer(stripe, email, metadata, undefined, { evenWithoutEmail: true }),
        ),
      ));
    await this.probe('platform-customer-created');
    const rowId = await this.insertOrReuse(
      () => this.repository.insertPlatformCustomer(subscriberId, tenant.id, customer.id),
      async () => (await this.repository.platformCustomer(subscriberId, tenant.id))?.id,
    );
    await this.probe('platform-customer-recorded');
    return { rowId, customer };
  }

  async ensureSharedCustomer(
    stripe: Stripe,
    input: { subscription: SubscriptionRef; applicationId: number; account: string; platform: PlatformCustomer },
  ): Promise<SharedCustomer> {
    const { subscription, applicationId, account, platform } = input;
    const { tenant, provider } = subscription.api;
    const row = await this.repository.sharedCustomer(applicationId, provider, tenant.id);
    if (row) {
      const customer = await this.retrieveCustomer(stripe, row.customerId, account);
      if (!customer) {
        throw new MonetizationError(
          'CONFLICT',
          `shared customer ${row.customerId} of application ${subscription.application.name} is not in connected account ${account}: provider ${provider} monetizes APIs with more than one connected account`,
        );
      }
      return { rowId: row.id, customerId: customer.id, defaultPaymentMethod: defaultPaymentMethodOf(customer) };
    }

    const email = platform.customer.email;
    const identity = { meterline_application: subscription.application.uuid, meterline_provider: provider, meterline_tenant: tenant.domain };
    const customer =
      (await this.findEarlierCustomer(stripe, email, identity, account)) ??
      (await callStripe('create the shared customer', { account, application: subscription.application.uuid }, () =>
        sendPastStoredErrors(
          idempotencyKey(tenant.domain, 'application', subscription.application.uuid, 'provider', provider, account, 'shared-customer'),
          (key) =>
            stripe.customers.create(
              {
                ...(email ? { email } : {}),
                description: `Shared customer for ${subscription.application.name}/${subscription.subscriber.userId}`,
                metadata: { meterline_platform_customer: platform.customer.id, ...identity },
              },
              { stripeAccount: account, idempotencyKey: key },
            ),
          () => this.findEarlierCustomer(stripe, email, identity, account, { evenWithoutEmail: true }),
        ),
      ));
    await this.probe('shared-customer-created');
    const defaultPaymentMethod = await this.clonePaymentMethod(stripe, platform.customer, customer, account);
    const rowId = await this.insertOrReuse(
      () => this.repository.insertSharedCustomer(applicationId, provider, tenant.id, customer.id, platform.rowId),
      async () => (await this.repository.sharedCustomer(applicationId, provider, tenant.id))?.id,
    );
    await this.probe('shared-customer-recorded');
    return { rowId, customerId: customer.id, defaultPaymentMethod };
  }

  /**
   * Clones the platform customer's default payment method into the connected account. A clone an
   * earlier attempt made and attached (found by its metadata, which outlives Stripe's 24 h key
   * window) is reused, so a retry a day later does not clone the card again.
   */
  private async clonePaymentMethod(
    stripe: Stripe,
    platformCustomer: Stripe.Customer,
    shared: Stripe.Customer,
    account: string,
  ): Promise<string | null> {
    const existing = defaultPaymentMethodOf(shared);
    if (existing) return existing;
    const source = defaultPaymentMethodOf(platformCustomer);
    if (!source) return null;
    const findClone = () => this.findAttachedClone(stripe, shared.id, source, account);
    let clone = await findClone();
    if (!clone) {
      const created = await callStripe('clone the payment method', { account }, () =>
        sendPastStoredErrors(
          idempotencyKey('clone', source, account, shared.id),
          (key) =>
            stripe.paymentMethods.create(
              { customer: platformCustomer.id, payment_method: source, metadata: { meterline_clone_of: source } },
              { stripeAccount: account, idempotencyKey: key },
            ),
          findClone,
        ),
      );
      clone = await callStripe('attach the payment method', { account }, () =>
        sendPastStoredErrors(idempotencyKey('attach', created.id, shared.id), (key) =>
          stripe.paymentMethods.attach(created.id, { customer: shared.id }, { stripeAccount: account, idempotencyKey: key }),
        ),
      );
    }
    await callStripe('set the default payment method', { account }, () =>
      stripe.customers.update(shared.id, { invoice_settings: { default_payment_method: clone.id } }, { stripeAccount: account }),
    );
    return clone.id;
  }

  /**
   * The customer an earlier attempt created but did not record (the process died between the
   * create and the row insert): among the account's customers with this email, the one whose
   * metadata names the same owner. Stripe's list is strongly consistent (its search is not), so a
   * customer created a moment ago is found. Without an email nothing is listed (an unfiltered list
   * is the whole account): the create's idempotency key is then the only protection, and it lasts
   * Stripe's 24 hours.
   */
  private async findEarlierCustomer(
    stripe: Stripe,
    email: string | null | undefined,
    owner: Record<string, string>,
    account?: string,
    /** After Stripe saved a server error for the create (rare): list the whole account when there is no email. */
    options: { evenWithoutEmail?: boolean } = {},
  ): Promise<Stripe.Customer | undefined> {
    if (!email && !options.evenWithoutEmail) return undefined;
    return callStripe('look for a customer an earlier attempt created', { account, ...owner }, async () => {
      for await (const customer of stripe.customers.list({ ...(email ? { email } : {}), limit: 100 }, accountOption(account))) {
        if (Object.entries(owner).every(([key, value]) => customer.metadata[key] === value)) return customer;
      }
      return undefined;
    });
  }

  /** The payment method an earlier attempt cloned from `source` and attached to the shared customer. */
  private async findAttachedClone(stripe: Stripe, customerId: string, source: string, account: string): Promise<Stripe.PaymentMethod | undefined> {
    return callStripe('look for a payment method an earlier attempt cloned', { account, customerId }, async () => {
      for await (const method of stripe.customers.listPaymentMethods(customerId, { limit: 100 }, { stripeAccount: account })) {
        if (method.metadata?.meterline_clone_of === source) return method;
      }
      return undefined;
    });
  }

  private async retrieveCustomer(stripe: Stripe, customerId: string, account?: string): Promise<Stripe.Customer | undefined> {
    const customer = await findInStripe('retrieve a customer', { customerId, account }, () =>
      stripe.customers.retrieve(customerId, {}, accountOption(account)),
    );
    return customer && !customer.deleted ? customer : undefined;
  }

  /**
   * Inserts a row; when a concurrent request inserted the same row first (unique key), reuses it.
   * Both requests used the same idempotency key, so both hold the same Stripe customer.
   */
  private async insertOrReuse(insert: () => Promise<number>, reread: () => Promise<number | undefined>): Promise<number> {
    try {
      return await insert();
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const existing = await reread();
      if (existing !== undefined) return existing;
      throw error;
    }
  }
}

function defaultPaymentMethodOf(customer: Stripe.Customer): string | null {
  const method = customer.invoice_settings?.default_payment_method;
  if (!method) return null;
  return typeof method === 'string' ? method : method.id;
}
