import type { Knex } from 'knex';
import type { CoreApiMonetization, CoreRecords, EngineStore } from '../../src/monetization/monetization';
import { insertReturningId } from '../../src/db/insert-returning-id';
import { upsertRow } from '../../src/db/upsert';

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

/** A Stripe subscription the engine cancelled, as it keeps it after the cancel (ML_ENGINE_SUBSCRIPTION). */
export interface CancelledSubscriptionRow {
  stripeSubscriptionId: string;
  account: string;
  subscriptionUuid: string;
  /** Epoch ms. */
  cancelledAt: number;
}

const ENGINE_SUBSCRIPTION = 'ML_ENGINE_SUBSCRIPTION';

/**
 * The Stripe engine's records: the one module that reads and writes its own tables, WSO2's
 * monetization tables (`AM_MONETIZATION`, `AM_POLICY_PLAN_MAPPING`, `AM_MONETIZATION_*`) and
 * `ML_ENGINE_SUBSCRIPTION` (the account of each billed subscription; kept after a cancel, marked
 * with CANCELLED_AT, so `reconcile usage` can still read the last period), through `db`, the engine's
 * store. Whatever it needs of the core's tables (APIs, applications, subscribers, subscriptions,
 * an API's monetization properties) it asks `core`, never by SQL.
 */
export class StripeRepository {
  constructor(
    private readonly db: EngineStore,
    private readonly core: CoreRecords,
  ) {}

  // --- core ids (asked of the core) ------------------------------------------------------------

  async apiId(apiUuid: string): Promise<number | undefined> {
    return (await this.core.apiByUuid(apiUuid))?.id;
  }

  async apiRow(apiUuid: string): Promise<{ uuid: string; name: string; version: string; provider: string } | undefined> {
    const api = await this.core.apiByUuid(apiUuid);
    return api ? { uuid: api.uuid, name: api.name, version: api.version, provider: api.provider } : undefined;
  }

  applicationId(applicationUuid: string): Promise<number | undefined> {
    return this.core.applicationIdOf(applicationUuid);
  }

  subscriberId(userId: string, tenantId: number): Promise<number | undefined> {
    return this.core.subscriberIdOf(userId, tenantId);
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
    // An adopted WSO2 table allows a NULL tier (docs/database.md "Adopting an existing install"): no tier's plan.
    const rows = await this.db('AM_MONETIZATION').where({ API_ID: apiId }).whereNotNull('TIER_NAME').select('TIER_NAME', 'STRIPE_PRODUCT_ID', 'STRIPE_PLAN_ID');
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
    const monetization = await this.core.apiMonetization(apiId);
    return monetization?.enabled ? connectedAccountOf(monetization) : undefined;
  }

  /** The connected account an API was last monetized with, enabled or not (live subscriptions stay there). */
  async connectedAccountOfApi(apiId: number): Promise<string | undefined> {
    const monetization = await this.core.apiMonetization(apiId);
    return monetization ? connectedAccountOf(monetization) : undefined;
  }

  async deleteApiPlans(apiId: number): Promise<void> {
    await this.db('AM_MONETIZATION').where({ API_ID: apiId }).delete();
  }

  /**
   * The monetized APIs of a tenant that sell a tier, with the connected account each was
   * monetized with (so a policy's price change can be carried to every copy).
   */
  async monetizedApisOfTier(tenantDomain: string, tierName: string): Promise<MonetizedApiRow[]> {
    const enabled = new Map((await this.core.apiMonetizationsOfTenant(tenantDomain)).filter((m) => m.enabled).map((m) => [m.api.id, m]));
    if (enabled.size === 0) return [];
    const rows = await this.db('AM_MONETIZATION').where({ TIER_NAME: tierName }).whereIn('API_ID', [...enabled.keys()]).orderBy('API_ID').select('API_ID', 'STRIPE_PRODUCT_ID', 'STRIPE_PLAN_ID');
    return rows.flatMap((row) => {
      const monetization = enabled.get(Number(row.API_ID));
      const account = monetization ? connectedAccountOf(monetization) : undefined;
      if (!monetization || !account) return [];
      return [
        {
          apiId: Number(row.API_ID),
          apiUuid: monetization.api.uuid,
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
    const rows = await this.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ TENANT_ID: tenantId }).orderBy('ID').select('ID', 'CUSTOMER_ID', 'SUBSCRIBER_ID');
    const users = await this.core.subscriberUserIdsOf(rows.map((row) => Number(row.SUBSCRIBER_ID)));
    return rows.flatMap((row) => {
      const userId = users.get(Number(row.SUBSCRIBER_ID));
      return userId === undefined ? [] : [{ id: Number(row.ID), customerId: String(row.CUSTOMER_ID), userId }];
    });
  }

  /** Every shared-customer record of a tenant. */
  async sharedCustomersOfTenant(tenantId: number): Promise<SharedCustomerRecord[]> {
    const rows = await this.db('AM_MONETIZATION_SHARED_CUSTOMERS').where({ TENANT_ID: tenantId }).orderBy('ID').select('ID', 'SHARED_CUSTOMER_ID', 'APPLICATION_ID', 'API_PROVIDER');
    const applications = await this.core.applicationUuidsOf(rows.map((row) => Number(row.APPLICATION_ID)));
    return rows.flatMap((row) => {
      const applicationUuid = applications.get(Number(row.APPLICATION_ID));
      return applicationUuid === undefined ? [] : [{ id: Number(row.ID), customerId: String(row.SHARED_CUSTOMER_ID), applicationUuid, provider: String(row.API_PROVIDER) }];
    });
  }

  /** The shared-customer record naming a Stripe customer, if any. */
  async sharedCustomerRowOf(customerId: string, tenantId: number): Promise<SharedCustomerRecord | undefined> {
    return (await this.sharedCustomersOfTenant(tenantId)).find((row) => row.customerId === customerId);
  }

  /** Whether the gateway has a subscription (AM_SUBSCRIPTION) with this UUID. */
  async gatewaySubscriptionExists(subscriptionUuid: string): Promise<boolean> {
    return (await this.core.subscriptionByUuid(subscriptionUuid)) !== undefined;
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
    return row ? (await this.withSubscriptionUuids([row]))[0] : undefined;
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
    const rows = await this.subscriptionQuery().where({ 'ms.SUBSCRIBED_API_ID': apiId }).orderBy('ms.ID');
    return this.withSubscriptionUuids(rows);
  }

  /** The Stripe subscription recorded for a gateway subscription (through its API and application, asked of the core). */
  async monetizedSubscriptionByUuid(subscriptionUuid: string): Promise<MonetizedSubscriptionRow | undefined> {
    const subscription = await this.core.subscriptionByUuid(subscriptionUuid);
    return subscription ? this.monetizedSubscription(subscription.apiId, subscription.applicationId) : undefined;
  }

  /**
   * `monetizedSubscriptionByUuid` and `accountOf` for many gateway subscriptions (by UUID, as
   * stored), in a few queries: the subscriptions asked of the core at once, their rows read in one
   * query per 400 pairs (their APIs IN (...) and applications IN (...), other pairs' rows dropped
   * here: SQLite plans an OR of 400 pairs far slower), and the account of each API whose rows have
   * none recorded once. Only
   * subscriptions with a row and an account are answered.
   */
  async billedSubscriptionsByUuids(subscriptionUuids: readonly string[]): Promise<Map<string, { stripeSubscriptionId: string; account: string }>> {
    const billed = new Map<string, { stripeSubscriptionId: string; account: string }>();
    if (subscriptionUuids.length === 0) return billed;
    if (!this.core.subscriptionsByUuids) {
      for (const uuid of new Set(subscriptionUuids)) {
        const row = await this.monetizedSubscriptionByUuid(uuid);
        const account = row ? await this.accountOf(row) : undefined;
        if (row && account) billed.set(uuid, { stripeSubscriptionId: row.stripeSubscriptionId, account });
      }
      return billed;
    }
    const subscriptions = await this.core.subscriptionsByUuids(subscriptionUuids);
    const pairKey = (apiId: unknown, applicationId: unknown) => `${Number(apiId)}:${Number(applicationId)}`;
    const wanted = new Map([...subscriptions.values()].map((s) => [pairKey(s.apiId, s.applicationId), s]));
    const pairs = [...wanted.values()].sort((a, b) => a.apiId - b.apiId || a.applicationId - b.applicationId);
    // The row `monetizedSubscription` reads for each pair (the first by ID when there were several).
    const rows = new Map<string, Record<string, unknown>>();
    for (let i = 0; i < pairs.length; i += 400) {
      const part = pairs.slice(i, i + 400);
      const found = (await this.subscriptionQuery()
        .whereIn('ms.SUBSCRIBED_API_ID', [...new Set(part.map((s) => s.apiId))])
        .whereIn('ms.SUBSCRIBED_APPLICATION_ID', [...new Set(part.map((s) => s.applicationId))])
        .orderBy('ms.ID')) as Array<Record<string, unknown>>;
      for (const row of found) {
        const key = pairKey(row.SUBSCRIBED_API_ID, row.SUBSCRIBED_APPLICATION_ID);
        if (wanted.has(key) && !rows.has(key)) rows.set(key, row);
      }
    }
    const apiAccounts = new Map<number, Promise<string | undefined>>();
    for (const [uuid, s] of subscriptions) {
      const found = rows.get(pairKey(s.apiId, s.applicationId));
      if (!found) continue;
      // The pair's gateway UUID is not needed here; `accountOf` reads only the account and API.
      const row = toSubscriptionRow(found, null);
      let account: string | undefined = row.recordedAccount ?? undefined;
      if (account === undefined) {
        if (!apiAccounts.has(row.apiId)) apiAccounts.set(row.apiId, this.connectedAccountOfApi(row.apiId));
        account = await apiAccounts.get(row.apiId);
      }
      if (account) billed.set(uuid, { stripeSubscriptionId: row.stripeSubscriptionId, account });
    }
    return billed;
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

  /**
   * The subscription is cancelled in Stripe: its AM_MONETIZATION_SUBSCRIPTIONS row goes (it no
   * longer bills, and its application may subscribe to the API again) and its recorded account
   * stays, marked cancelled, with the Meterline subscription it billed (`cancelledSubscriptionOf`).
   * A row WSO2 wrote has no recorded account: the one it lived in is recorded now.
   */
  async deleteMonetizedSubscription(row: MonetizedSubscriptionRow, input: { account: string; subscriptionUuid: string; now: number }): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx('AM_MONETIZATION_SUBSCRIPTIONS').where({ ID: row.id }).delete();
      await markCancelled(tx, { stripeSubscriptionId: row.stripeSubscriptionId, ...input });
    });
  }

  /**
   * The Stripe subscription the engine cancelled for a Meterline subscription (the latest, if
   * ever more than one), with its account; undefined when none was cancelled by the engine.
   */
  async cancelledSubscriptionOf(subscriptionUuid: string): Promise<CancelledSubscriptionRow | undefined> {
    const row = await this.db(ENGINE_SUBSCRIPTION)
      .where({ SUBSCRIPTION_UUID: subscriptionUuid })
      .whereNotNull('CANCELLED_AT')
      .orderBy([{ column: 'CANCELLED_AT', order: 'desc' }, { column: 'ENGINE_SUBSCRIPTION_ID', order: 'desc' }])
      .first('ENGINE_SUBSCRIPTION_ID', 'ENGINE_ACCOUNT', 'SUBSCRIPTION_UUID', 'CANCELLED_AT');
    return row
      ? { stripeSubscriptionId: String(row.ENGINE_SUBSCRIPTION_ID), account: String(row.ENGINE_ACCOUNT), subscriptionUuid: String(row.SUBSCRIPTION_UUID), cancelledAt: Number(row.CANCELLED_AT) }
      : undefined;
  }

  /** The accounts recorded for the Stripe subscriptions of a Meterline subscription (normally one). */
  async recordedAccountsOf(subscriptionUuid: string): Promise<string[]> {
    const rows = await this.db(ENGINE_SUBSCRIPTION).where({ SUBSCRIPTION_UUID: subscriptionUuid }).distinct('ENGINE_ACCOUNT');
    return rows.map((row: { ENGINE_ACCOUNT: unknown }) => String(row.ENGINE_ACCOUNT));
  }

  /** Every connected account a tenant's APIs are or were monetized with, and every account recorded for its subscriptions' Stripe subscriptions. */
  async connectedAccountsOfTenant(tenantDomain: string): Promise<string[]> {
    const monetizations = await this.core.apiMonetizationsOfTenant(tenantDomain);
    const accounts = new Set(monetizations.flatMap((m) => connectedAccountOf(m) ?? []));
    const ofTenant = await this.core.subscriptionUuidsOfTenant(tenantDomain);
    const recorded = await this.db(ENGINE_SUBSCRIPTION).whereNotNull('SUBSCRIPTION_UUID').distinct('SUBSCRIPTION_UUID', 'ENGINE_ACCOUNT');
    for (const row of recorded) if (ofTenant.has(String(row.SUBSCRIPTION_UUID))) accounts.add(String(row.ENGINE_ACCOUNT));
    return [...accounts].sort();
  }

  /** The connected accounts an API provider's APIs in a tenant are or were last monetized with: where its applications' shared customers live. */
  async connectedAccountsOfProvider(provider: string, tenantDomain: string): Promise<string[]> {
    const monetizations = (await this.core.apiMonetizationsOfTenant(tenantDomain)).filter((m) => m.api.provider === provider);
    return [...new Set(monetizations.flatMap((m) => connectedAccountOf(m) ?? []))].sort();
  }

  /**
   * A Stripe subscription cancelled as an orphan (its Meterline subscription is gone): its billed
   * row goes; its recorded account, if any, stays marked cancelled, as after an unsubscribe (usage
   * may have been sent for it). One never recorded as billed keeps nothing.
   */
  async forgetStripeSubscription(stripeSubscriptionId: string, input: { subscriptionUuid: string; now: number }): Promise<void> {
    await this.db.transaction(async (tx) => {
      const billed = await tx('AM_MONETIZATION_SUBSCRIPTIONS').where({ SUBSCRIPTION_ID: stripeSubscriptionId }).first('ID');
      await tx('AM_MONETIZATION_SUBSCRIPTIONS').where({ SUBSCRIPTION_ID: stripeSubscriptionId }).delete();
      if (billed) {
        await tx(ENGINE_SUBSCRIPTION).where({ ENGINE_SUBSCRIPTION_ID: stripeSubscriptionId }).whereNull('CANCELLED_AT').update({ CANCELLED_AT: input.now });
        await tx(ENGINE_SUBSCRIPTION).where({ ENGINE_SUBSCRIPTION_ID: stripeSubscriptionId }).whereNull('SUBSCRIPTION_UUID').update({ SUBSCRIPTION_UUID: input.subscriptionUuid });
      } else {
        await tx(ENGINE_SUBSCRIPTION).where({ ENGINE_SUBSCRIPTION_ID: stripeSubscriptionId }).whereNull('CANCELLED_AT').delete();
      }
    });
  }

  /**
   * Forgets the account recorded for a Stripe subscription that was never recorded as billed; a
   * cancelled subscription's (`deleteMonetizedSubscription`) stays.
   */
  async forgetSubscriptionAccount(stripeSubscriptionId: string): Promise<void> {
    await this.db(ENGINE_SUBSCRIPTION).where({ ENGINE_SUBSCRIPTION_ID: stripeSubscriptionId }).whereNull('CANCELLED_AT').delete();
  }

  private subscriptionQuery() {
    return this.db('AM_MONETIZATION_SUBSCRIPTIONS as ms')
      .join('AM_MONETIZATION_SHARED_CUSTOMERS as sc', 'sc.ID', 'ms.SHARED_CUSTOMER_ID')
      .leftJoin(`${ENGINE_SUBSCRIPTION} as e`, 'e.ENGINE_SUBSCRIPTION_ID', 'ms.SUBSCRIPTION_ID')
      .select('ms.ID', 'ms.SUBSCRIBED_API_ID', 'ms.SUBSCRIBED_APPLICATION_ID', 'ms.SUBSCRIPTION_ID', 'ms.SHARED_CUSTOMER_ID', 'sc.SHARED_CUSTOMER_ID as CUSTOMER', 'e.ENGINE_ACCOUNT');
  }

  /** The rows with the UUID of the gateway subscription of each (API, application) pair, asked of the core. */
  private async withSubscriptionUuids(rows: Array<Record<string, unknown>>): Promise<MonetizedSubscriptionRow[]> {
    const pairOf = (row: Record<string, unknown>) => ({ apiId: Number(row.SUBSCRIBED_API_ID), applicationId: Number(row.SUBSCRIBED_APPLICATION_ID) });
    const uuids = await this.core.subscriptionUuidsOf(rows.map(pairOf));
    return rows.map((row) => toSubscriptionRow(row, uuids.get(`${pairOf(row).apiId}:${pairOf(row).applicationId}`) ?? null));
  }
}

function toSubscriptionRow(row: Record<string, unknown>, subscriptionUuid: string | null): MonetizedSubscriptionRow {
  return {
    id: Number(row.ID),
    apiId: Number(row.SUBSCRIBED_API_ID),
    subscriptionUuid,
    stripeSubscriptionId: String(row.SUBSCRIPTION_ID),
    sharedCustomerRowId: Number(row.SHARED_CUSTOMER_ID),
    sharedCustomerId: String(row.CUSTOMER),
    recordedAccount: row.ENGINE_ACCOUNT === null || row.ENGINE_ACCOUNT === undefined ? null : String(row.ENGINE_ACCOUNT),
  };
}

/**
 * Marks the recorded account of a cancelled Stripe subscription (recording it, with the
 * Meterline subscription, when WSO2 wrote the billed row and nothing was recorded).
 */
async function markCancelled(tx: Knex.Transaction, input: { stripeSubscriptionId: string; account: string; subscriptionUuid: string; now: number }): Promise<void> {
  const key = { ENGINE_SUBSCRIPTION_ID: input.stripeSubscriptionId };
  const recorded = await tx(ENGINE_SUBSCRIPTION).where(key).first('SUBSCRIPTION_UUID', 'CANCELLED_AT');
  if (!recorded) {
    await tx(ENGINE_SUBSCRIPTION).insert({ ...key, ENGINE_ACCOUNT: input.account, SUBSCRIPTION_UUID: input.subscriptionUuid, CREATED_AT: input.now, CANCELLED_AT: input.now });
    return;
  }
  const update: Record<string, unknown> = {};
  if (recorded.CANCELLED_AT === null || recorded.CANCELLED_AT === undefined) update.CANCELLED_AT = input.now;
  if (recorded.SUBSCRIPTION_UUID === null || recorded.SUBSCRIPTION_UUID === undefined) update.SUBSCRIPTION_UUID = input.subscriptionUuid;
  if (Object.keys(update).length > 0) await tx(ENGINE_SUBSCRIPTION).where(key).update(update);
}

/** The connected account in an API's monetization properties (parsed by the core). */
function connectedAccountOf(monetization: CoreApiMonetization): string | undefined {
  const account = monetization.properties.ConnectedAccountKey;
  return account !== undefined && account.length > 0 ? account : undefined;
}
