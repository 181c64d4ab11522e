import type { Knex } from 'knex';
import { insertReturningId } from '../../src/db/insert-returning-id';
import { upsertRow } from '../../src/db/upsert';

type Db = Knex | Knex.Transaction;

export interface PlanMapping {
  productId: string;
  planId: string;
}

export interface ApiPlanRow {
  tierName: string;
  productId: string;
  planId: string;
}

export interface MonetizedApiRow {
  apiId: number;
  apiUuid: string;
  connectedAccount: string;
  productId: string;
  planId: string;
}

export interface SharedCustomerRow {
  id: number;
  customerId: string;
  parentId: number | null;
}

export interface PlatformCustomerRecord {
  id: number;
  customerId: string;
  userId: string;
}

export interface SharedCustomerRecord {
  id: number;
  customerId: string;
  applicationUuid: string;
  provider: string;
}

export interface MonetizedSubscriptionRow {
  id: number;
  apiId: number;
  subscriptionUuid: string | null;
  stripeSubscriptionId: string;
  sharedCustomerRowId: number;
  sharedCustomerId: string;
  /**
   * The connected account the Stripe subscription lives in, as recorded when it was created
   * (ML_ENGINE_SUBSCRIPTION); null for a row Meterline did not create (WSO2 wrote it).
   */
  recordedAccount: string | null;
}

const ENGINE_SUBSCRIPTION = 'ML_ENGINE_SUBSCRIPTION';

/**
 * Every query the Stripe engine makes, over WSO2's monetization tables (`AM_MONETIZATION`,
 * `AM_POLICY_PLAN_MAPPING`, `AM_MONETIZATION_*`), the gateway tables it reads ids from, and
 * Meterline's `ML_ENGINE_SUBSCRIPTION` (the account of each billed subscription).
 */
export class StripeRepository {
  constructor(private readonly db: Knex) {}

  // --- gateway ids ---------------------------------------------------------------------------

  async apiId(apiUuid: string, db: Db = this.db): Promise<number | undefined> {
    const row = await db('AM_API').where({ API_UUID: apiUuid }).first('API_ID');
    return row ? Number(row.API_ID) : undefined;
  }

  async apiRow(apiUuid: string): Promise<{ uuid: string; name: string; version: string; provider: string } | undefined> {
    const row = await this.db('AM_API').where({ API_UUID: apiUuid }).first('API_UUID', 'API_NAME', 'API_VERSION', 'API_PROVIDER');
    if (!row) return undefined;
    return { uuid: String(row.API_UUID), name: String(row.API_NAME), version: String(row.API_VERSION), provider: String(row.API_PROVIDER) };
  }

  async applicationId(applicationUuid: string, db: Db = this.db): Promise<number | undefined> {
    const row = await db('AM_APPLICATION').where({ UUID: applicationUuid }).first('APPLICATION_ID');
    return row ? Number(row.APPLICATION_ID) : undefined;
  }

  async subscriberId(userId: string, tenantId: number, db: Db = this.db): Promise<number | undefined> {
    const row = await db('AM_SUBSCRIBER').where({ USER_ID: userId, TENANT_ID: tenantId }).first('SUBSCRIBER_ID');
    return row ? Number(row.SUBSCRIBER_ID) : undefined;
  }

  // --- policy → platform plan ----------------------------------------------------------------

  async planMapping(policyUuid: string): Promise<PlanMapping | undefined> {
    const row = await this.db('AM_POLICY_PLAN_MAPPING').where({ POLICY_UUID: policyUuid }).first('PRODUCT_ID', 'PLAN_ID');
    return row ? { productId: String(row.PRODUCT_ID), planId: String(row.PLAN_ID) } : undefined;
  }

  async savePlanMapping(policyUuid: string, mapping: PlanMapping): Promise<void> {
    await upsertRow(this.db, 'AM_POLICY_PLAN_MAPPING', { POLICY_UUID: policyUuid }, { PRODUCT_ID: mapping.productId, PLAN_ID: mapping.planId });
  }

  async deletePlanMapping(policyUuid: string): Promise<void> {
    await this.db('AM_POLICY_PLAN_MAPPING').where({ POLICY_UUID: policyUuid }).delete();
  }

  // --- API → connected-account plans -----------------------------------------------------------

  async apiPlans(apiId: number): Promise<ApiPlanRow[]> {
    const rows = await this.db('AM_MONETIZATION').where({ API_ID: apiId }).select('TIER_NAME', 'STRIPE_PRODUCT_ID', 'STRIPE_PLAN_ID');
    return rows.map((row) => ({
      tierName: String(row.TIER_NAME),
      productId: String(row.STRIPE_PRODUCT_ID),
      planId: String(row.STRIPE_PLAN_ID),
    }));
  }

  async saveApiPlan(apiId: number, plan: ApiPlanRow): Promise<void> {
    await upsertRow(
      this.db,
      'AM_MONETIZATION',
      { API_ID: apiId, TIER_NAME: plan.tierName },
      { STRIPE_PRODUCT_ID: plan.productId, STRIPE_PLAN_ID: plan.planId },
    );
  }

  async deleteApiPlan(apiId: number, tierName: string): Promise<void> {
    await this.db('AM_MONETIZATION').where({ API_ID: apiId, TIER_NAME: tierName }).delete();
  }

  /** The connected account an API is currently monetized with (from the API's saved properties). */
  async monetizedAccountOfApi(apiId: number): Promise<string | undefined> {
    const row = await this.db('ML_API_MONETIZATION').where({ API_ID: apiId, ENABLED: 1 }).first('PROPERTIES');
    return row ? connectedAccountOf(row.PROPERTIES) : undefined;
  }

  /** The connected account an API was last monetized with, enabled or not (live subscriptions stay there). */
  async connectedAccountOfApi(apiId: number): Promise<string | undefined> {
    const row = await this.db('ML_API_MONETIZATION').where({ API_ID: apiId }).first('PROPERTIES');
    return row ? connectedAccountOf(row.PROPERTIES) : undefined;
  }

  async deleteApiPlans(apiId: number): Promise<void> {
    await this.db('AM_MONETIZATION').where({ API_ID: apiId }).delete();
  }

  /**
   * The monetized APIs of a tenant that sell a tier, with the connected account each was
   * monetized with (so a policy's price change can be carried to every copy).
   */
  async monetizedApisOfTier(tenantDomain: string, tierName: string): Promise<MonetizedApiRow[]> {
    const rows = await this.db('AM_MONETIZATION as m')
      .join('AM_API as a', 'a.API_ID', 'm.API_ID')
      .join('ML_API_MONETIZATION as s', 's.API_ID', 'm.API_ID')
      .where({ 'm.TIER_NAME': tierName, 'a.ORGANIZATION': tenantDomain, 's.ENABLED': 1 })
      .select('m.API_ID', 'a.API_UUID', 's.PROPERTIES', 'm.STRIPE_PRODUCT_ID', 'm.STRIPE_PLAN_ID');
    return rows.flatMap((row) => {
      const account = connectedAccountOf(row.PROPERTIES);
      if (!account) return [];
      return [
        {
          apiId: Number(row.API_ID),
          apiUuid: String(row.API_UUID),
          connectedAccount: account,
          productId: String(row.STRIPE_PRODUCT_ID),
          planId: String(row.STRIPE_PLAN_ID),
        },
      ];
    });
  }

  // --- customers -----------------------------------------------------------------------------

  async platformCustomer(subscriberId: number, tenantId: number): Promise<{ id: number; customerId: string } | undefined> {
    const row = await this.db('AM_MONETIZATION_PLATFORM_CUSTOMERS')
      .where({ SUBSCRIBER_ID: subscriberId, TENANT_ID: tenantId })
      .first('ID', 'CUSTOMER_ID');
    return row ? { id: Number(row.ID), customerId: String(row.CUSTOMER_ID) } : undefined;
  }

  async insertPlatformCustomer(subscriberId: number, tenantId: number, customerId: string): Promise<number> {
    return insertReturningId(
      this.db,
      'AM_MONETIZATION_PLATFORM_CUSTOMERS',
      { SUBSCRIBER_ID: subscriberId, TENANT_ID: tenantId, CUSTOMER_ID: customerId },
      'ID',
    );
  }

  async sharedCustomer(applicationId: number, provider: string, tenantId: number): Promise<SharedCustomerRow | undefined> {
    const row = await this.db('AM_MONETIZATION_SHARED_CUSTOMERS')
      .where({ APPLICATION_ID: applicationId, API_PROVIDER: provider, TENANT_ID: tenantId })
      .first('ID', 'SHARED_CUSTOMER_ID', 'PARENT_CUSTOMER_ID');
    if (!row) return undefined;
    return {
      id: Number(row.ID),
      customerId: String(row.SHARED_CUSTOMER_ID),
      parentId: row.PARENT_CUSTOMER_ID === null ? null : Number(row.PARENT_CUSTOMER_ID),
    };
  }

  async insertSharedCustomer(
    applicationId: number,
    provider: string,
    tenantId: number,
    customerId: string,
    parentId: number | null,
  ): Promise<number> {
    return insertReturningId(
      this.db,
      'AM_MONETIZATION_SHARED_CUSTOMERS',
      { APPLICATION_ID: applicationId, API_PROVIDER: provider, TENANT_ID: tenantId, SHARED_CUSTOMER_ID: customerId, PARENT_CUSTOMER_ID: parentId },
      'ID',
    );
  }

  /** Every platform-customer record of a tenant, with the subscriber it belongs to. */
  async platformCustomersOfTenant(tenantId: number): Promise<PlatformCustomerRecord[]> {
    const rows = await this.db('AM_MONETIZATION_PLATFORM_CUSTOMERS as pc')
      .join('AM_SUBSCRIBER as s', 's.SUBSCRIBER_ID', 'pc.SUBSCRIBER_ID')
      .where({ 'pc.TENANT_ID': tenantId })
      .select('pc.ID', 'pc.CUSTOMER_ID', 's.USER_ID');
    return rows.map((row) => ({ id: Number(row.ID), customerId: String(row.CUSTOMER_ID), userId: String(row.USER_ID) }));
  }

  /** Every shared-customer record of a tenant. */
  async sharedCustomersOfTenant(tenantId: number): Promise<SharedCustomerRecord[]> {
    const rows = await this.db('AM_MONETIZATION_SHARED_CUSTOMERS as sc')
      .join('AM_APPLICATION as a', 'a.APPLICATION_ID', 'sc.APPLICATION_ID')
      .where({ 'sc.TENANT_ID': tenantId })
      .select('sc.ID', 'sc.SHARED_CUSTOMER_ID', 'a.UUID', 'sc.API_PROVIDER');
    return rows.map((row) => ({ id: Number(row.ID), customerId: String(row.SHARED_CUSTOMER_ID), applicationUuid: String(row.UUID), provider: String(row.API_PROVIDER) }));
  }

  /** The shared-customer record naming a Stripe customer, if any. */
  async sharedCustomerRowOf(customerId: string, tenantId: number): Promise<SharedCustomerRecord | undefined> {
    return (await this.sharedCustomersOfTenant(tenantId)).find((row) => row.customerId === customerId);
  }

  /** Whether the gateway has a subscription (AM_SUBSCRIPTION) with this UUID. */
  async gatewaySubscriptionExists(subscriptionUuid: string): Promise<boolean> {
    return (await this.db('AM_SUBSCRIPTION').where({ UUID: subscriptionUuid }).first('UUID')) !== undefined;
  }

  /** The platform-customer record naming a Stripe customer, if any. */
  async platformCustomerRowOf(customerId: string, tenantId: number): Promise<PlatformCustomerRecord | undefined> {
    return (await this.platformCustomersOfTenant(tenantId)).find((row) => row.customerId === customerId);
  }

  /** Billed subscriptions (AM_MONETIZATION_SUBSCRIPTIONS) charged through a shared-customer record. */
  async billedSubscriptionsOfSharedCustomer(sharedRowId: number): Promise<string[]> {
    const rows = await this.db('AM_MONETIZATION_SUBSCRIPTIONS').where({ SHARED_CUSTOMER_ID: sharedRowId }).select('SUBSCRIPTION_ID');
    return rows.map((row: { SUBSCRIPTION_ID: unknown }) => String(row.SUBSCRIPTION_ID));
  }

  /** Billed subscriptions charged through a shared customer whose parent is this platform-customer record. */
  async billedSubscriptionsOfPlatformCustomer(platformRowId: number): Promise<string[]> {
    const rows = await this.db('AM_MONETIZATION_SUBSCRIPTIONS as ms')
      .join('AM_MONETIZATION_SHARED_CUSTOMERS as sc', 'sc.ID', 'ms.SHARED_CUSTOMER_ID')
      .where({ 'sc.PARENT_CUSTOMER_ID': platformRowId })
      .select('ms.SUBSCRIPTION_ID');
    return rows.map((row: { SUBSCRIPTION_ID: unknown }) => String(row.SUBSCRIPTION_ID));
  }

  /**
   * Forgets a platform-customer record whose Stripe customer is gone; shared customers made
   * from it keep their own record, without a parent (the column allows none).
   */
  async forgetPlatformCustomer(platformRowId: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      const used = await tx('AM_MONETIZATION_SUBSCRIPTIONS as ms')
        .join('AM_MONETIZATION_SHARED_CUSTOMERS as sc', 'sc.ID', 'ms.SHARED_CUSTOMER_ID')
        .where({ 'sc.PARENT_CUSTOMER_ID': platformRowId })
        .first('ms.ID');
      if (used) throw new Error(`platform customer record ${platformRowId} became used by a billed subscription`);
      await tx('AM_MONETIZATION_SHARED_CUSTOMERS').where({ PARENT_CUSTOMER_ID: platformRowId }).update({ PARENT_CUSTOMER_ID: null });
      await tx('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ ID: platformRowId }).delete();
    });
  }

  /** Forgets a shared-customer record whose Stripe customer is gone and that no billed subscription uses. */
  async forgetSharedCustomer(sharedRowId: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      const used = await tx('AM_MONETIZATION_SUBSCRIPTIONS').where({ SHARED_CUSTOMER_ID: sharedRowId }).first('ID');
      if (used) throw new Error(`shared customer record ${sharedRowId} became used by a billed subscription`);
      await tx('AM_MONETIZATION_SHARED_CUSTOMERS').where({ ID: sharedRowId }).delete();
    });
  }

  // --- subscriptions -------------------------------------------------------------------------

  async monetizedSubscription(apiId: number, applicationId: number): Promise<MonetizedSubscriptionRow | undefined> {
    const row = await this.subscriptionQuery().where({ 'ms.SUBSCRIBED_API_ID': apiId, 'ms.SUBSCRIBED_APPLICATION_ID': applicationId }).first();
    return row ? toSubscriptionRow(row) : undefined;
  }

  /**
   * The billed subscription of an application to an API, by their UUIDs, and the account it
   * lives in (`accountOf`); undefined when the engine does not bill it.
   */
  async billedSubscription(apiUuid: string, applicationUuid: string): Promise<{ row: MonetizedSubscriptionRow; account: string } | undefined> {
    const apiId = await this.apiId(apiUuid);
    const applicationId = await this.applicationId(applicationUuid);
    if (apiId === undefined || applicationId === undefined) return undefined;
    const row = await this.monetizedSubscription(apiId, applicationId);
    const account = row ? await this.accountOf(row) : undefined;
    return row && account ? { row, account } : undefined;
  }

  async monetizedSubscriptionsOfApi(apiId: number): Promise<MonetizedSubscriptionRow[]> {
    const rows = await this.subscriptionQuery().where({ 'ms.SUBSCRIBED_API_ID': apiId });
    return rows.map(toSubscriptionRow);
  }

  /** The Stripe subscription recorded for a gateway subscription (through AM_SUBSCRIPTION's API and application). */
  async monetizedSubscriptionByUuid(subscriptionUuid: string): Promise<MonetizedSubscriptionRow | undefined> {
    const row = await this.subscriptionQuery().where({ 's.UUID': subscriptionUuid }).first();
    return row ? toSubscriptionRow(row) : undefined;
  }

  /**
   * The account a subscription lives in: the one recorded when it was created, else (a row
   * WSO2 wrote) the account its API was last monetized with, which an API with live
   * subscriptions cannot change (see `ApiPlanCopies.enable`).
   */
  async accountOf(row: MonetizedSubscriptionRow): Promise<string | undefined> {
    return row.recordedAccount ?? (await this.connectedAccountOfApi(row.apiId));
  }

  /** Records the account of a Stripe subscription, before the AM_MONETIZATION_SUBSCRIPTIONS row names it. */
  async recordSubscriptionAccount(input: { stripeSubscriptionId: string; account: string; subscriptionUuid: string; now: number }): Promise<void> {
    await upsertRow(
      this.db,
      ENGINE_SUBSCRIPTION,
      { ENGINE_SUBSCRIPTION_ID: input.stripeSubscriptionId },
      { ENGINE_ACCOUNT: input.account, SUBSCRIPTION_UUID: input.subscriptionUuid, CREATED_AT: input.now },
    );
  }

  async insertMonetizedSubscription(row: {
    applicationId: number;
    apiId: number;
    tenantId: number;
    stripeSubscriptionId: string;
    sharedCustomerRowId: number;
  }): Promise<number> {
    return insertReturningId(
      this.db,
      'AM_MONETIZATION_SUBSCRIPTIONS',
      {
        SUBSCRIBED_APPLICATION_ID: row.applicationId,
        SUBSCRIBED_API_ID: row.apiId,
        TENANT_ID: row.tenantId,
        SUBSCRIPTION_ID: row.stripeSubscriptionId,
        SHARED_CUSTOMER_ID: row.sharedCustomerRowId,
      },
      'ID',
    );
  }

  /** Removes the subscription's row and its recorded account (both are gone once it is cancelled). */
  async deleteMonetizedSubscription(row: MonetizedSubscriptionRow): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx('AM_MONETIZATION_SUBSCRIPTIONS').where({ ID: row.id }).delete();
      await tx(ENGINE_SUBSCRIPTION).where({ ENGINE_SUBSCRIPTION_ID: row.stripeSubscriptionId }).delete();
    });
  }

  /** The accounts recorded for the Stripe subscriptions of a Meterline subscription (normally one). */
  async recordedAccountsOf(subscriptionUuid: string): Promise<string[]> {
    const rows = await this.db(ENGINE_SUBSCRIPTION).where({ SUBSCRIPTION_UUID: subscriptionUuid }).distinct('ENGINE_ACCOUNT');
    return rows.map((row: { ENGINE_ACCOUNT: unknown }) => String(row.ENGINE_ACCOUNT));
  }

  /** Every connected account a tenant's APIs are or were monetized with, and every account recorded for its subscriptions' Stripe subscriptions. */
  async connectedAccountsOfTenant(tenantDomain: string): Promise<string[]> {
    const rows = await this.db('ML_API_MONETIZATION as s').join('AM_API as a', 'a.API_ID', 's.API_ID').where({ 'a.ORGANIZATION': tenantDomain }).select('s.PROPERTIES');
    const accounts = new Set(rows.flatMap((row: { PROPERTIES: unknown }) => connectedAccountOf(row.PROPERTIES) ?? []));
    const recorded = await this.db(`${ENGINE_SUBSCRIPTION} as e`)
      .join('AM_SUBSCRIPTION as sub', 'sub.UUID', 'e.SUBSCRIPTION_UUID')
      .join('AM_API as a', 'a.API_ID', 'sub.API_ID')
      .where({ 'a.ORGANIZATION': tenantDomain })
      .distinct('e.ENGINE_ACCOUNT');
    for (const row of recorded) accounts.add(String(row.ENGINE_ACCOUNT));
    return [...accounts].sort();
  }

  /** The connected accounts an API provider's APIs in a tenant are or were last monetized with: where its applications' shared customers live. */
  async connectedAccountsOfProvider(provider: string, tenantDomain: string): Promise<string[]> {
    const rows = await this.db('ML_API_MONETIZATION as s')
      .join('AM_API as a', 'a.API_ID', 's.API_ID')
      .where({ 'a.ORGANIZATION': tenantDomain, 'a.API_PROVIDER': provider })
      .select('s.PROPERTIES');
    return [...new Set(rows.flatMap((row: { PROPERTIES: unknown }) => connectedAccountOf(row.PROPERTIES) ?? []))].sort();
  }

  /** Forgets every row naming a Stripe subscription (cancelled as an orphan): its billed row and its recorded account. */
  async forgetStripeSubscription(stripeSubscriptionId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx('AM_MONETIZATION_SUBSCRIPTIONS').where({ SUBSCRIPTION_ID: stripeSubscriptionId }).delete();
      await tx(ENGINE_SUBSCRIPTION).where({ ENGINE_SUBSCRIPTION_ID: stripeSubscriptionId }).delete();
    });
  }

  /** Forgets the account recorded for a Stripe subscription that was never recorded as billed. */
  async forgetSubscriptionAccount(stripeSubscriptionId: string): Promise<void> {
    await this.db(ENGINE_SUBSCRIPTION).where({ ENGINE_SUBSCRIPTION_ID: stripeSubscriptionId }).delete();
  }

  private subscriptionQuery() {
    return this.db('AM_MONETIZATION_SUBSCRIPTIONS as ms')
      .join('AM_MONETIZATION_SHARED_CUSTOMERS as sc', 'sc.ID', 'ms.SHARED_CUSTOMER_ID')
      .leftJoin('AM_SUBSCRIPTION as s', function joinGatewaySubscription() {
        this.on('s.API_ID', '=', 'ms.SUBSCRIBED_API_ID').andOn('s.APPLICATION_ID', '=', 'ms.SUBSCRIBED_APPLICATION_ID');
      })
      .leftJoin(`${ENGINE_SUBSCRIPTION} as e`, 'e.ENGINE_SUBSCRIPTION_ID', 'ms.SUBSCRIPTION_ID')
      .select('ms.ID', 'ms.SUBSCRIBED_API_ID', 'ms.SUBSCRIPTION_ID', 'ms.SHARED_CUSTOMER_ID', 'sc.SHARED_CUSTOMER_ID as CUSTOMER', 's.UUID', 'e.ENGINE_ACCOUNT');
  }
}

function toSubscriptionRow(row: Record<string, unknown>): MonetizedSubscriptionRow {
  return {
    id: Number(row.ID),
    apiId: Number(row.SUBSCRIBED_API_ID),
    subscriptionUuid: row.UUID === null || row.UUID === undefined ? null : String(row.UUID),
    stripeSubscriptionId: String(row.SUBSCRIPTION_ID),
    sharedCustomerRowId: Number(row.SHARED_CUSTOMER_ID),
    sharedCustomerId: String(row.CUSTOMER),
    recordedAccount: row.ENGINE_ACCOUNT === null || row.ENGINE_ACCOUNT === undefined ? null : String(row.ENGINE_ACCOUNT),
  };
}

function connectedAccountOf(properties: unknown): string | undefined {
  if (typeof properties !== 'string') return undefined;
  try {
    const parsed = JSON.parse(properties) as Record<string, unknown>;
    const account = parsed.ConnectedAccountKey;
    return typeof account === 'string' && account.length > 0 ? account : undefined;
  } catch {
    return undefined;
  }
}
