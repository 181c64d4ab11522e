import type Stripe from 'stripe';
import type { ApiRef, SubscriptionPolicy } from '../../src/domain/model';
import { MonetizationError, type MonetizationChange, type MonetizationRequest } from '../../src/monetization/monetization';
import { accountOption, archivePrice, archiveProduct, findPrice, findProduct, reactivatePrice, reactivateProduct } from './archive';
import { sendPastStoredErrors } from './retry';
import { contentDigest, idempotencyKey } from './idempotency';
import { apiMeterEventName, ensureMeter } from './meters';
import { updatePlanItems } from './change-plan';
import { priceMatches, priceParams } from './pricing';
import type { StripeClients } from './stripe.clients';
import { callStripe, findInStripe, isResourceMissing } from './stripe.errors';
import type { MonetizedSubscriptionRow, StripeRepository } from './stripe.repository';

export const CONNECTED_ACCOUNT_KEY = 'ConnectedAccountKey';
const ACCOUNT_ID = /^acct_[A-Za-z0-9]+$/;

type CommercialPolicy = SubscriptionPolicy & { pricing: NonNullable<SubscriptionPolicy['pricing']> };

function isCommercial(policy: SubscriptionPolicy): policy is CommercialPolicy {
  return policy.billingPlan === 'COMMERCIAL' && policy.pricing !== null;
}

/**
 * An API's copies of its tiers' plans in the publisher's connected account: one Product per API
 * and one Price per COMMERCIAL tier, recorded in AM_MONETIZATION. Metered tiers share the API's
 * Billing Meter.
 */
export class ApiPlanCopies {
  constructor(
    private readonly clients: StripeClients,
    private readonly repository: StripeRepository,
    private readonly clock: () => Date,
  ) {}

  async enable(request: MonetizationRequest): Promise<MonetizationChange> {
    const { api } = request;
    const account = connectedAccountFrom(request.properties);
    const stripe = this.clients.forTenant(api.tenant.domain);
    const apiId = await this.requireApiId(api);
    const previousAccount = await this.repository.monetizedAccountOfApi(apiId);
    if (previousAccount && previousAccount !== account) {
      throw new MonetizationError(
        'CONFLICT',
        `API ${api.name} ${api.version} is monetized with connected account ${previousAccount}; disable monetization before switching to ${account}`,
      );
    }
    await this.refuseIfLiveElsewhere(api, apiId, account);
    await this.verifyAccount(stripe, account);

    const commercial = request.policies.filter(isCommercial);
    const existing = await this.repository.apiPlans(apiId);
    const notes: string[] = [];
    if (commercial.length === 0) notes.push('the API offers no COMMERCIAL tier: nothing is billed until one is added');

    let changed = false;
    const plans: Record<string, string> = {};
    if (commercial.length > 0) {
      const product = await this.ensureProduct(stripe, api, account, existing[0]?.productId);
      for (const policy of commercial) {
        const current = existing.find((row) => row.tierName === policy.name);
        const price = await this.ensureTierPrice(stripe, { api, apiId, account, policy, productId: product.id, currentPriceId: current?.planId });
        if (price.id !== current?.planId) changed = true;
        plans[policy.name] = price.id;
      }
    }
    // Tiers the API no longer sells, or that are no longer COMMERCIAL.
    for (const row of existing.filter((r) => !(r.tierName in plans))) {
      await archivePrice(stripe, row.planId, account);
      await this.repository.deleteApiPlan(apiId, row.tierName);
      changed = true;
    }
    const meteredPlans = Object.fromEntries(commercial.filter((p) => p.pricing.plan === 'DYNAMICRATE').map((p) => [p.name, plans[p.name]!]));
    const adopted = await this.moveAdoptedSubscriptions(stripe, { api, apiId, account, plans: meteredPlans, previous: existing });
    if (adopted.moved > 0) {
      changed = true;
      notes.push(`${adopted.moved} subscription(s) adopted from WSO2 moved from their legacy per-request price to the tier's metered price`);
    }
    notes.push(...adopted.notes);
    return { enabled: true, plans, changed, notes };
  }

  async disable(request: MonetizationRequest): Promise<MonetizationChange> {
    const { api } = request;
    const apiId = await this.requireApiId(api);
    const rows = await this.repository.apiPlans(apiId);
    const account = (await this.repository.monetizedAccountOfApi(apiId)) ?? request.properties[CONNECTED_ACCOUNT_KEY];
    const live = await this.repository.monetizedSubscriptionsOfApi(apiId);
    const notes =
      live.length > 0
        ? [`${live.length} live subscription(s) keep running and are billed until they are cancelled; new subscriptions are free`]
        : [];
    if (rows.length === 0) return { enabled: false, plans: {}, changed: false, notes };
    if (!account) throw new MonetizationError('INVALID_MONETIZATION_PROPERTIES', `${CONNECTED_ACCOUNT_KEY} is required to disable monetization`);
    const stripe = this.clients.forTenant(api.tenant.domain);
    for (const row of rows) await archivePrice(stripe, row.planId, account);
    for (const productId of new Set(rows.map((r) => r.productId))) await archiveProduct(stripe, productId, account);
    await this.repository.deleteApiPlans(apiId);
    return { enabled: false, plans: {}, changed: true, notes };
  }

  async mapping(api: ApiRef): Promise<Record<string, string>> {
    const apiId = await this.repository.apiId(api.uuid);
    if (apiId === undefined) return {};
    return Object.fromEntries((await this.repository.apiPlans(apiId)).map((row) => [row.tierName, row.planId]));
  }

  /** A policy's price changed: replace each monetized API's copy whose price differs. */
  async repriceTier(policy: SubscriptionPolicy): Promise<number> {
    if (!isCommercial(policy)) return 0;
    const stripe = this.clients.forTenant(policy.tenant.domain);
    const copies = await this.repository.monetizedApisOfTier(policy.tenant.domain, policy.name);
    let updated = 0;
    for (const copy of copies) {
      const api = await this.apiRefOf(copy.apiUuid, policy);
      const price = await this.ensureTierPrice(stripe, {
        api,
        apiId: copy.apiId,
        account: copy.connectedAccount,
        policy,
        productId: copy.productId,
        currentPriceId: copy.planId,
      });
      if (price.id !== copy.planId) updated += 1;
    }
    return updated;
  }

  /** A policy became FREE: its copies stop being sold. */
  async withdrawTier(policy: SubscriptionPolicy): Promise<number> {
    const copies = await this.repository.monetizedApisOfTier(policy.tenant.domain, policy.name);
    if (copies.length === 0) return 0;
    const stripe = this.clients.forTenant(policy.tenant.domain);
    for (const copy of copies) {
      await archivePrice(stripe, copy.planId, copy.connectedAccount);
      await this.repository.deleteApiPlan(copy.apiId, policy.name);
    }
    return copies.length;
  }

  private async ensureTierPrice(
    stripe: Stripe,
    input: { api: ApiRef; apiId: number; account: string; policy: CommercialPolicy; productId: string; currentPriceId: string | undefined },
  ): Promise<Stripe.Price> {
    const { api, apiId, account, policy, productId, currentPriceId } = input;
    const meterId =
      policy.pricing.plan === 'DYNAMICRATE'
        ? (await ensureMeter(stripe, { account, eventName: apiMeterEventName(api.uuid), displayName: `${api.name} ${api.version} requests` })).id
        : undefined;
    const wanted = priceParams(policy.pricing, policy.name);
    const current = currentPriceId ? await this.retrievePrice(stripe, currentPriceId, account) : undefined;
    if (current && current.active && current.product === productId && priceMatches(current, wanted, meterId)) return current;

    const params: Stripe.PriceCreateParams = {
      ...wanted,
      product: productId,
      recurring: { ...wanted.recurring!, ...(meterId ? { meter: meterId } : {}) },
      metadata: { meterline_api_uuid: api.uuid, meterline_policy_uuid: policy.uuid, meterline_tier: policy.name },
    };
    const created = await callStripe('create the price of an API tier', { api: api.uuid, tier: policy.name, account }, () =>
      sendPastStoredErrors(
        idempotencyKey(api.tenant.domain, 'api', api.uuid, account, 'tier', policy.uuid, 'price', contentDigest(params)),
        (key) => stripe.prices.create(params, { stripeAccount: account, idempotencyKey: key }),
        () => findPrice(stripe, params, (price) => priceMatches(price, wanted, meterId), account),
      ),
    );
    const price = await reactivatePrice(stripe, created, account);
    await this.repository.saveApiPlan(apiId, { tierName: policy.name, productId, planId: price.id });
    if (current && current.id !== price.id) await archivePrice(stripe, current.id, account);
    return price;
  }

  /**
   * WSO2's Stripe plugin billed per-request (DYNAMICRATE) tiers with legacy metered prices: no
   * Billing Meter, usage reported as usage records, which Stripe removed in 2025-03-31.basil
   * (https://docs.stripe.com/changelog/basil/2025-03-31/deprecate-legacy-usage-based-billing). A
   * subscription WSO2 made (its row has no account recorded in ML_ENGINE_SUBSCRIPTION) would
   * never bill the meter events Meterline sends. When the API is monetized again here, each such
   * subscription's legacy item gets its tier's metered price (`plans`, of the DYNAMICRATE tiers)
   * in place, the way a change of business plan is sent (`updatePlanItems`): same subscription,
   * same item, same cycle; no other item touched (a fixed part is neither removed nor added: the
   * subscriber keeps the terms WSO2 sold, and a base fee WSO2 never charged is not added), and no
   * prorations (a metered item is billed in arrears, there is nothing to prorate). Then the
   * account is recorded for the row, which marks it as taken over: a second enable skips it
   * without asking Stripe. A retry after a crash between the swap and the record finds the item
   * on the metered price and only records.
   *
   * The legacy item's tier: the tier whose plan copy (AM_MONETIZATION, before this enable replaced
   * it) the item's price was, else the tier named by the price's nickname (WSO2 copies the policy
   * name there). Cancelled subscriptions are left, with a note.
   */
  private async moveAdoptedSubscriptions(
    stripe: Stripe,
    input: { api: ApiRef; apiId: number; account: string; plans: Readonly<Record<string, string>>; previous: readonly { tierName: string; planId: string }[] },
  ): Promise<{ moved: number; notes: string[] }> {
    const { api, apiId, account, plans, previous } = input;
    // A row without a gateway subscription is an orphan, for `reconcile`, not for billing.
    const adopted = (await this.repository.monetizedSubscriptionsOfApi(apiId)).filter(
      (row): row is MonetizedSubscriptionRow & { subscriptionUuid: string } => row.recordedAccount === null && row.subscriptionUuid !== null,
    );
    const tierOfPrice = new Map(previous.map((row) => [row.planId, row.tierName]));
    const notes: string[] = [];
    let moved = 0;
    for (const row of adopted) {
      const subscription = row.subscriptionUuid;
      const context = { account, subscription };
      const current = await findInStripe('read an adopted subscription', context, () =>
        stripe.subscriptions.retrieve(row.stripeSubscriptionId, {}, { stripeAccount: account }),
      );
      if (!current || current.status === 'canceled' || current.status === 'incomplete_expired') {
        notes.push(`subscription ${subscription} adopted from WSO2 is ${current ? current.status : 'missing'} in Stripe (${row.stripeSubscriptionId}): left as it is`);
        continue;
      }
      const swaps = current.items.data.flatMap((item) => {
        if (!isLegacyMetered(item.price)) return [];
        const tier = tierOfPrice.get(item.price.id) ?? item.price.nickname ?? undefined;
        const target = tier === undefined ? undefined : plans[tier];
        return target !== undefined && target !== item.price.id ? [{ item, tier: tier!, target }] : [];
      });
      const unknown = current.items.data.filter((item) => isLegacyMetered(item.price) && !swaps.some((s) => s.item.id === item.id));
      if (unknown.length > 0) {
        notes.push(`subscription ${subscription} adopted from WSO2 has a legacy per-request price with no DYNAMICRATE tier here (${unknown.map((i) => i.price.id).join(', ')}): it bills no usage until it is changed`);
        continue;
      }
      if (swaps.length > 0) {
        await updatePlanItems(stripe, {
          tenant: api.tenant.domain,
          subscription,
          account,
          current,
          items: swaps.map((s) => ({ id: s.item.id, price: s.target })),
          prorations: 'none',
          intent: 'adopt-metered',
          target: swaps.map((s) => s.target).join(','),
        });
        moved += 1;
      }
      await this.repository.recordSubscriptionAccount({ stripeSubscriptionId: row.stripeSubscriptionId, account, subscriptionUuid: subscription, now: this.clock().getTime() });
    }
    return { moved, notes };
  }

  private async ensureProduct(stripe: Stripe, api: ApiRef, account: string, productId: string | undefined): Promise<Stripe.Product> {
    if (productId) {
      const existing = await findInStripe('retrieve the product of an API', { account }, () =>
        stripe.products.retrieve(productId, {}, accountOption(account)),
      );
      if (existing) return reactivateProduct(stripe, existing, account);
    }
    const metadata = { meterline_api_uuid: api.uuid, meterline_tenant: api.tenant.domain };
    const created = await callStripe('create the product of an API', { api: api.uuid, account }, () =>
      sendPastStoredErrors(
        idempotencyKey(api.tenant.domain, 'api', api.uuid, account, 'product'),
        (key) => stripe.products.create({ name: `${api.name}-${api.version}-${api.provider}`, metadata }, { stripeAccount: account, idempotencyKey: key }),
        () => findProduct(stripe, metadata, account),
      ),
    );
    return reactivateProduct(stripe, created, account);
  }

  /**
   * An API's billed subscriptions live in the account they were created in, and stay billed
   * there after monetization is disabled. Enabling with another account while any of them is
   * live is refused, naming them: they would go on being billed in the old account while the
   * API's products moved, so they are cancelled first.
   */
  private async refuseIfLiveElsewhere(api: ApiRef, apiId: number, account: string): Promise<void> {
    const elsewhere: Array<{ id: string; account: string }> = [];
    for (const row of await this.repository.monetizedSubscriptionsOfApi(apiId)) {
      const own = await this.repository.accountOf(row);
      // No account known: a row adopted from WSO2, whose account this call is giving (docs/database.md).
      if (own !== undefined && own !== account) elsewhere.push({ id: row.subscriptionUuid ?? row.stripeSubscriptionId, account: own ?? 'unknown' });
    }
    if (elsewhere.length === 0) return;
    const accounts = [...new Set(elsewhere.map((s) => s.account))].join(', ');
    throw new MonetizationError(
      'CONFLICT',
      `API ${api.name} ${api.version} has ${elsewhere.length} live billed subscription(s) in connected account ${accounts}: ` +
        `${elsewhere.map((s) => s.id).join(', ')}; cancel them before monetizing the API with ${account}`,
      { subscriptions: elsewhere.map((s) => s.id) },
    );
  }

  private async verifyAccount(stripe: Stripe, account: string): Promise<void> {
    let found: Stripe.Account;
    try {
      found = await callStripe('retrieve the connected account', { account }, () => stripe.accounts.retrieve(account));
    } catch (error) {
      if (isResourceMissing(error) || (error instanceof MonetizationError && error.code === 'ENGINE_AUTHENTICATION_FAILED')) {
        throw new MonetizationError(
          'INVALID_MONETIZATION_PROPERTIES',
          `${CONNECTED_ACCOUNT_KEY} ${account} is not a connected account of this tenant's Stripe platform`,
          { account },
        );
      }
      throw error;
    }
    const lacks = chargeBlockers(found);
    if (lacks.length > 0) {
      throw new MonetizationError('CONFLICT', `connected account ${account} cannot take card payments yet: ${lacks.join('; ')}`, { account });
    }
  }

  /** With its tiers, which Stripe includes only when asked (`expand[]=tiers`), so a tiered price can be compared. */
  private retrievePrice(stripe: Stripe, priceId: string, account: string): Promise<Stripe.Price | undefined> {
    return findInStripe('retrieve a price', { priceId, account }, () => stripe.prices.retrieve(priceId, { expand: ['tiers'] }, { stripeAccount: account }));
  }

  private async requireApiId(api: ApiRef): Promise<number> {
    const apiId = await this.repository.apiId(api.uuid);
    if (apiId === undefined) throw new MonetizationError('NOT_FOUND', `API ${api.uuid} does not exist`);
    return apiId;
  }

  private async apiRefOf(apiUuid: string, policy: SubscriptionPolicy): Promise<ApiRef> {
    const row = await this.repository.apiRow(apiUuid);
    if (!row) throw new MonetizationError('NOT_FOUND', `API ${apiUuid} does not exist`);
    return { ...row, tenant: policy.tenant };
  }
}

/** A metered price without a Billing Meter: WSO2's plugin made them, Stripe bills no meter events on them. */
function isLegacyMetered(price: Stripe.Price): boolean {
  return price.recurring?.usage_type === 'metered' && !price.recurring.meter;
}

export function connectedAccountFrom(properties: Readonly<Record<string, string>>): string {
  const account = properties[CONNECTED_ACCOUNT_KEY]?.trim();
  if (!account) {
    throw new MonetizationError('INVALID_MONETIZATION_PROPERTIES', `${CONNECTED_ACCOUNT_KEY} is required to monetize an API with Stripe`, {
      field: CONNECTED_ACCOUNT_KEY,
    });
  }
  if (!ACCOUNT_ID.test(account)) {
    throw new MonetizationError(
      'INVALID_MONETIZATION_PROPERTIES',
      `${CONNECTED_ACCOUNT_KEY} must be a Stripe connected account id (acct_...), got "${account}"`,
      { field: CONNECTED_ACCOUNT_KEY },
    );
  }
  return account;
}

/**
 * What keeps a connected account from taking the subscriptions' direct charges: Stripe refuses
 * them while `charges_enabled` is false or the `card_payments` capability is not `active`
 * (onboarding unfinished: https://docs.stripe.com/connect/account-capabilities,
 * https://docs.stripe.com/api/accounts/object). An account that reports no card_payments
 * capability at all is judged by `charges_enabled` alone.
 */
export function chargeBlockers(account: Stripe.Account): string[] {
  const lacks: string[] = [];
  if (account.charges_enabled === false) lacks.push('charges_enabled is false');
  const cardPayments = account.capabilities?.card_payments;
  if (cardPayments !== undefined && cardPayments !== 'active') lacks.push(`capability card_payments is ${cardPayments}`);
  return lacks;
}
