import type Stripe from 'stripe';
import type { TenantRef } from '../../src/domain/model';
import {
  MonetizationError,
  type EngineCustomerFound,
  type EngineCustomerListing,
  type EngineCustomerRepair,
  type TenantDirectory,
} from '../../src/monetization/monetization';
import { accountOption } from './archive';
import { callStripe, findInStripe } from './stripe.errors';
import type { StripeClients } from './stripe.clients';
import type { StripeRepository } from './stripe.repository';

const FINISHED = new Set<Stripe.Subscription.Status>(['canceled', 'incomplete_expired']);

/** A decision, and for ADOPT the write that carries it out (it needs what the decision looked up). */
interface Assessment {
  owner: string;
  plan: EngineCustomerRepair;
  adopt?: () => Promise<'ADOPTED' | 'TAKEN'>;
}

/** A platform record whose customer the platform account never had: a changed platform key, a restored database? Not Meterline's to decide. */
const PLATFORM_NEVER_HAD_IT = "the tenant's platform account has never had this customer (was the platform key changed to another Stripe account?)";

const leave = (reason: string, needsHuman: boolean): EngineCustomerRepair => ({ action: 'LEAVE', reason, needsHuman });

/**
 * `meterline reconcile`'s customer pass for Stripe: compares the customers Meterline made
 * (metadata `meterline_tenant` plus `meterline_subscriber` in the platform account, or
 * `meterline_application`/`meterline_provider` in a connected account, as `CustomersService`
 * sets them) with AM_MONETIZATION_PLATFORM_CUSTOMERS and AM_MONETIZATION_SHARED_CUSTOMERS, both
 * ways. Accounts are listed in full with auto-pagination and filtered by metadata: the customer
 * search API is not available for connected accounts everywhere and is only eventually
 * consistent, and a customer without an e-mail cannot be found by the list's e-mail filter.
 */
export class CustomerReconcileService {
  constructor(
    private readonly clients: StripeClients,
    private readonly repository: StripeRepository,
    private readonly tenants: TenantDirectory,
  ) {}

  async list(tenant: TenantRef): Promise<EngineCustomerListing> {
    if (!this.clients.hasBilling(tenant.domain)) return { customers: [], unlisted: [] };
    const stripe = this.clients.forTenant(tenant.domain);
    const accounts = await this.repository.connectedAccountsOfTenant(tenant.domain);
    const platformRows = await this.repository.platformCustomersOfTenant(tenant.id);
    const sharedRows = await this.repository.sharedCustomersOfTenant(tenant.id);
    const recorded = new Set([...platformRows, ...sharedRows].map((row) => row.customerId));
    const seen = new Set<string>();
    const customers: EngineCustomerFound[] = [];
    const unlisted: EngineCustomerListing['unlisted'] = [];

    for (const account of [null, ...accounts]) {
      const role = account === null ? 'PLATFORM' : 'SHARED';
      let made: Stripe.Customer[];
      try {
        made = await this.meterlineCustomers(stripe, tenant.domain, role, account);
      } catch (error) {
        if (!(error instanceof MonetizationError)) throw error;
        unlisted.push({ account, reason: error.message });
        continue;
      }
      for (const customer of made) {
        seen.add(customer.id);
        if (recorded.has(customer.id)) continue;
        const { owner, plan } = await this.assessUnrecorded(stripe, tenant, customer, role, account);
        customers.push({ kind: 'UNRECORDED_ENGINE_CUSTOMER', engineCustomerId: customer.id, account, role, tenantDomain: tenant.domain, owner, created: new Date(customer.created * 1000), plan });
      }
    }

    const listed = (account: string | null) => !unlisted.some((u) => u.account === account);
    if (listed(null)) {
      for (const row of platformRows) {
        if (seen.has(row.customerId)) continue;
        const state = await this.retrieveState(stripe, row.customerId, undefined);
        if (state === 'EXISTS' || state === 'UNREACHABLE') continue; // EXISTS: created after the listing
        const plan = state === 'DELETED' ? await this.assessDangling('PLATFORM', row.id, null) : leave(PLATFORM_NEVER_HAD_IT, true);
        customers.push(this.dangling(tenant, row.customerId, null, 'PLATFORM', `subscriber ${row.userId}`, plan));
      }
    }
    const reachable = accounts.filter(listed);
    for (const row of sharedRows) {
      if (seen.has(row.customerId)) continue;
      const where = await this.accountThatDeleted(stripe, row.customerId, reachable);
      if (where === 'EXISTS' || where === 'UNKNOWN' || (where === null && unlisted.length > 0)) continue; // it may live in an account not listed
      const owner = `application ${row.applicationUuid} of provider ${row.provider}`;
      customers.push(this.dangling(tenant, row.customerId, where, 'SHARED', owner, await this.assessDangling('SHARED', row.id, where, accounts)));
    }
    return { customers, unlisted };
  }

  /** Decides again on today's state (see `Monetization.repairEngineCustomer`), then acts. */
  async repair(found: EngineCustomerFound): Promise<EngineCustomerRepair> {
    const tenant = this.tenants.find(found.tenantDomain);
    if (!tenant) throw new MonetizationError('BILLING_NOT_CONFIGURED', `tenant ${found.tenantDomain} is not configured ([[tenants]])`);
    const stripe = this.clients.forTenant(tenant.domain);
    return found.kind === 'UNRECORDED_ENGINE_CUSTOMER' ? this.repairUnrecorded(stripe, tenant, found) : this.repairDangling(stripe, tenant, found);
  }

  private async repairUnrecorded(stripe: Stripe, tenant: TenantRef, found: EngineCustomerFound): Promise<EngineCustomerRepair> {
    const account = found.account ?? undefined;
    const customer = await this.retrieve(stripe, found.engineCustomerId, account);
    if (customer === 'GONE') return leave('it no longer exists in Stripe', false);
    if (await this.recordOf(found.engineCustomerId, found.role, tenant.id)) return leave('Meterline recorded it meanwhile', false);
    const { plan, adopt } = await this.assessUnrecorded(stripe, tenant, customer, found.role, found.account);
    if (plan.action === 'ADOPT' && adopt) {
      return (await adopt()) === 'ADOPTED' ? plan : leave('another customer was recorded for its owner meanwhile; the next run decides', false);
    }
    if (plan.action === 'DELETE') {
      await findInStripe('delete an orphan customer', { account, customer: customer.id }, () => stripe.customers.del(customer.id, {}, accountOption(account)));
    }
    return plan;
  }

  private async repairDangling(stripe: Stripe, tenant: TenantRef, found: EngineCustomerFound): Promise<EngineCustomerRepair> {
    const record = await this.recordOf(found.engineCustomerId, found.role, tenant.id);
    if (!record) return leave('the record is gone already', false);
    const accounts = await this.repository.connectedAccountsOfTenant(tenant.domain);
    const state = found.role === 'PLATFORM' ? await this.retrieveState(stripe, found.engineCustomerId, undefined) : await this.accountThatDeleted(stripe, found.engineCustomerId, accounts);
    if (state === 'EXISTS') return leave('the customer exists in Stripe after all', false);
    if (state === 'UNREACHABLE' || state === 'UNKNOWN') return leave('Stripe could not be asked whether the customer exists', false);
    if (state === 'MISSING') return leave(PLATFORM_NEVER_HAD_IT, true);
    const plan = await this.assessDangling(found.role, record.id, found.role === 'PLATFORM' ? null : state, accounts);
    if (plan.action !== 'FORGET_RECORD') return plan;
    if (found.role === 'PLATFORM') await this.repository.forgetPlatformCustomer(record.id);
    else await this.repository.forgetSharedCustomer(record.id);
    return plan;
  }

  /** The account's customers whose metadata says Meterline made them for this tenant in this role. */
  private meterlineCustomers(stripe: Stripe, tenantDomain: string, role: 'PLATFORM' | 'SHARED', account: string | null): Promise<Stripe.Customer[]> {
    const ownerKey = role === 'PLATFORM' ? 'meterline_subscriber' : 'meterline_application';
    return callStripe('list the customers of an account', { account }, async () => {
      const customers: Stripe.Customer[] = [];
      for await (const customer of stripe.customers.list({ limit: 100 }, accountOption(account ?? undefined))) {
        if (customer.metadata?.meterline_tenant === tenantDomain && customer.metadata[ownerKey]) customers.push(customer);
      }
      return customers;
    });
  }

  private async assessUnrecorded(
    stripe: Stripe,
    tenant: TenantRef,
    customer: Stripe.Customer,
    role: 'PLATFORM' | 'SHARED',
    account: string | null,
  ): Promise<Assessment> {
    const owned = role === 'PLATFORM' ? await this.platformOwner(tenant, customer) : await this.sharedOwner(tenant, customer, account!);
    if (owned.adopt) return { owner: owned.owner, plan: { action: 'ADOPT', reason: owned.why, needsHuman: false }, adopt: owned.adopt };
    const where = accountOption(account ?? undefined);
    const live = await callStripe('list the subscriptions of a customer', { account, customer: customer.id }, async () => {
      const subscriptions: Stripe.Subscription[] = [];
      for await (const s of stripe.subscriptions.list({ customer: customer.id, status: 'all', limit: 100 }, where)) {
        if (!FINISHED.has(s.status)) subscriptions.push(s);
      }
      return subscriptions;
    });
    if (live.length > 0) {
      const held: string[] = [];
      for (const s of live) {
        const uuid = s.metadata?.meterline_subscription_uuid;
        if (!uuid || (await this.repository.gatewaySubscriptionExists(uuid))) held.push(s.id);
      }
      const ids = live.map((s) => s.id).join(', ');
      return held.length === 0
        ? { owner: owned.owner, plan: leave(`it has live subscription(s) ${ids} whose Meterline subscription is gone: left to the orphan-subscription pass; deleted once it has cancelled them`, false) }
        : { owner: owned.owner, plan: leave(`it has live subscription(s) ${held.join(', ')} that no orphan pass cancels (a Meterline subscription still names them, or none does)`, true) };
    }
    if (customer.balance !== 0) return { owner: owned.owner, plan: leave(`it has a balance of ${customer.balance} (minor units)`, true) };
    const open = await callStripe('list the open invoices of a customer', { account, customer: customer.id }, () =>
      stripe.invoices.list({ customer: customer.id, status: 'open', limit: 1 }, where),
    );
    if (open.data.length > 0) return { owner: owned.owner, plan: leave(`it has open invoice(s), e.g. ${open.data[0]!.id}`, true) };
    return { owner: owned.owner, plan: { action: 'DELETE', reason: `nothing in Meterline refers to it (${owned.why}) and it has no live subscription, open invoice or balance`, needsHuman: false } };
  }

  /** The subscriber a platform customer's metadata names, and whether it can be recorded for them. */
  private async platformOwner(tenant: TenantRef, customer: Stripe.Customer): Promise<{ owner: string; why: string; adopt?: Assessment['adopt'] }> {
    const userId = customer.metadata.meterline_subscriber!;
    const owner = `subscriber ${userId}`;
    const subscriberId = await this.repository.subscriberId(userId, tenant.id);
    if (subscriberId === undefined) return { owner, why: `subscriber ${userId} does not exist` };
    const row = await this.repository.platformCustomer(subscriberId, tenant.id);
    if (row) return { owner, why: `subscriber ${userId} has platform customer ${row.customerId} recorded` };
    return {
      owner,
      why: `subscriber ${userId} exists and has no platform customer recorded`,
      adopt: () =>
        this.insertOrCompare(
          () => this.repository.insertPlatformCustomer(subscriberId, tenant.id, customer.id),
          async () => (await this.repository.platformCustomer(subscriberId, tenant.id))?.customerId,
          customer.id,
        ),
    };
  }

  /** The application and provider a shared customer's metadata names, and whether it can be recorded for them. */
  private async sharedOwner(tenant: TenantRef, customer: Stripe.Customer, account: string): Promise<{ owner: string; why: string; adopt?: Assessment['adopt'] }> {
    const applicationUuid = customer.metadata.meterline_application!;
    const provider = customer.metadata.meterline_provider;
    const owner = `application ${applicationUuid} of provider ${provider ?? '(not named)'}`;
    const applicationId = await this.repository.applicationId(applicationUuid);
    if (applicationId === undefined) return { owner, why: `application ${applicationUuid} does not exist` };
    // Shared customers made before meterline_provider was set cannot be tied to a provider; the
    // subscribe that needs one makes a new one, so this one is of no use to anyone.
    if (!provider) return { owner, why: 'its metadata names no API provider, so no record can name it' };
    const row = await this.repository.sharedCustomer(applicationId, provider, tenant.id);
    if (row) return { owner, why: `the application has shared customer ${row.customerId} recorded for provider ${provider}` };
    // The record names no account: a subscribe looks for the customer in the account the
    // provider's API is monetized with, so one recorded elsewhere would block it (CONFLICT).
    const providerAccounts = await this.repository.connectedAccountsOfProvider(provider, tenant.domain);
    if (!providerAccounts.includes(account)) {
      return { owner, why: `provider ${provider} monetizes its APIs with ${providerAccounts.join(', ') || 'no connected account'}, not ${account}` };
    }
    const parentCustomer = customer.metadata.meterline_platform_customer;
    return {
      owner,
      why: `application ${applicationUuid} exists and has no shared customer recorded for provider ${provider}`,
      adopt: async () => {
        const parent = parentCustomer ? await this.repository.platformCustomerRowOf(parentCustomer, tenant.id) : undefined;
        return this.insertOrCompare(
          () => this.repository.insertSharedCustomer(applicationId, provider, tenant.id, customer.id, parent?.id ?? null),
          async () => (await this.repository.sharedCustomer(applicationId, provider, tenant.id))?.customerId,
          customer.id,
        );
      },
    };
  }

  /** A dangling record may be forgotten only when no billed subscription was charged through it. */
  private async assessDangling(role: 'PLATFORM' | 'SHARED', rowId: number, account: string | null, accounts: string[] = []): Promise<EngineCustomerRepair> {
    if (role === 'SHARED' && account === null) {
      return leave(`Stripe has no such customer in any connected account Meterline uses for the tenant (${accounts.join(', ') || 'none'}); it may live in one Meterline no longer knows`, true);
    }
    const used = role === 'PLATFORM' ? await this.repository.billedSubscriptionsOfPlatformCustomer(rowId) : await this.repository.billedSubscriptionsOfSharedCustomer(rowId);
    if (used.length > 0) return leave(`billed subscription(s) ${used.join(', ')} still use it`, true);
    const next = role === 'PLATFORM' ? "the subscriber's next subscribe makes a new platform customer" : "the application's next subscribe makes a new shared customer";
    return { action: 'FORGET_RECORD', reason: `no billed subscription uses it; ${next}`, needsHuman: false };
  }

  private dangling(tenant: TenantRef, customerId: string, account: string | null, role: 'PLATFORM' | 'SHARED', owner: string, plan: EngineCustomerRepair): EngineCustomerFound {
    return { kind: 'DANGLING_CUSTOMER_RECORD', engineCustomerId: customerId, account, role, tenantDomain: tenant.domain, owner, created: null, plan };
  }

  private recordOf(customerId: string, role: 'PLATFORM' | 'SHARED', tenantId: number): Promise<{ id: number } | undefined> {
    return role === 'PLATFORM' ? this.repository.platformCustomerRowOf(customerId, tenantId) : this.repository.sharedCustomerRowOf(customerId, tenantId);
  }

  /**
   * The connected account in which Stripe answers that the customer was deleted, `EXISTS` when
   * one holds it, `UNKNOWN` when an account could not be asked, or null when none knows it (a
   * record's account is not stored, so each is asked).
   */
  private async accountThatDeleted(stripe: Stripe, customerId: string, accounts: string[]): Promise<string | null | 'EXISTS' | 'UNKNOWN'> {
    let deletedIn: string | null = null;
    let unknown = false;
    for (const account of accounts) {
      const state = await this.retrieveState(stripe, customerId, account);
      if (state === 'EXISTS') return 'EXISTS';
      if (state === 'DELETED') deletedIn ??= account;
      if (state === 'UNREACHABLE') unknown = true;
    }
    return deletedIn ?? (unknown ? 'UNKNOWN' : null);
  }

  /**
   * Stripe answers a retrieve of a deleted customer with `deleted: true`; `resource_missing`
   * means the account never had it. UNREACHABLE: the platform key may not act on the account.
   */
  private async retrieveState(stripe: Stripe, customerId: string, account: string | undefined): Promise<'EXISTS' | 'DELETED' | 'MISSING' | 'UNREACHABLE'> {
    let customer;
    try {
      customer = await findInStripe('retrieve a customer', { customerId, account }, () => stripe.customers.retrieve(customerId, {}, accountOption(account)));
    } catch (error) {
      if (error instanceof MonetizationError && error.code === 'ENGINE_AUTHENTICATION_FAILED') return 'UNREACHABLE';
      throw error;
    }
    if (!customer) return 'MISSING';
    return customer.deleted ? 'DELETED' : 'EXISTS';
  }

  private async retrieve(stripe: Stripe, customerId: string, account: string | undefined): Promise<Stripe.Customer | 'GONE'> {
    const customer = await findInStripe('retrieve a customer', { customerId, account }, () => stripe.customers.retrieve(customerId, {}, accountOption(account)));
    return customer && !customer.deleted ? customer : 'GONE';
  }

  /** Records the customer; when a concurrent subscribe recorded one first (unique key), compares. */
  private async insertOrCompare(insert: () => Promise<number>, recordedNow: () => Promise<string | undefined>, customerId: string): Promise<'ADOPTED' | 'TAKEN'> {
    try {
      await insert();
      return 'ADOPTED';
    } catch (error) {
      const now = await recordedNow();
      if (now === customerId) return 'ADOPTED';
      if (now !== undefined) return 'TAKEN';
      throw error;
    }
  }
}
