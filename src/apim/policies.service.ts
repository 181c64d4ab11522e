import { createHash, randomUUID } from 'node:crypto';
import type { SubscriptionPolicy, TenantRef } from '../domain/model';
import { isUniqueViolation } from '../db/errors';
import type { Logger } from '../logger';
import type { Monetization } from '../monetization/monetization';
import { emit } from '../notifications/emit';
import { silentNotifier, type Notifier } from '../notifications/events';
import { GatewayError } from './errors';
import { checkPolicyPrices } from './policy-prices';
import type { PolicyInput, PolicyRecord } from './model';
import type { PoliciesRepository } from './policies.repository';
import type { ApisRepository } from './apis.repository';
import type { SubscriptionsRepository } from './subscriptions.repository';

export function toSubscriptionPolicy(policy: PolicyRecord): SubscriptionPolicy {
  return { uuid: policy.uuid, name: policy.name, tenant: policy.tenant, billingPlan: policy.billingPlan, pricing: policy.pricing };
}

/**
 * Subscription policies and their billing plans, in WSO2's order: the policy row is written
 * first, then the engine makes the plan. The engine needs the committed row (its plan mapping
 * references the policy), so the two cannot share a transaction; instead a failed engine call is
 * compensated: a created row is removed, an updated row restored, so the row always describes
 * what the engine holds and the same request can simply be retried.
 *
 * Deleting runs the other way round: the engine archives the plan first, then the row goes.
 * A policy that an API offers or a subscription uses cannot be deleted (409).
 */
export class PoliciesService {
  constructor(
    private readonly repository: PoliciesRepository,
    private readonly engine: Monetization,
    private readonly logger: Logger,
    private readonly apis: Pick<ApisRepository, 'offersPolicy' | 'refsOfTenant'>,
    private readonly subscriptions: Pick<SubscriptionsRepository, 'anyOnTier'>,
    /** Told plan.created / plan.failed for COMMERCIAL policies (issue 18). */
    private readonly notifier: Notifier = silentNotifier,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async create(tenant: TenantRef, input: PolicyInput): Promise<PolicyRecord> {
    checkPolicyPrices(input.pricing, this.engine.capabilities);
    if (await this.repository.findByName(tenant, input.name)) {
      throw new GatewayError('CONFLICT', `A subscription policy named ${input.name} already exists`, { field: 'policyName' });
    }
    const policy: PolicyRecord = { ...input, uuid: randomUUID(), tenant };
    try {
      await this.repository.insert(tenant, policy.uuid, input);
    } catch (error) {
      // A concurrent request with the same name won the unique key.
      if (isUniqueViolation(error) && (await this.repository.findByName(tenant, input.name))) {
        throw new GatewayError('CONFLICT', `A subscription policy named ${input.name} already exists`, { field: 'policyName' });
      }
      throw error;
    }
    try {
      await this.engine.createBillingPlan(toSubscriptionPolicy(policy));
    } catch (error) {
      await this.compensate('remove the policy row after the billing plan failed', () => this.repository.delete(tenant, policy.uuid));
      await this.planFailed(policy, 'created', error);
      throw error;
    }
    await this.planMade(policy, 'created');
    return policy;
  }

  async list(tenant: TenantRef): Promise<PolicyRecord[]> {
    return this.repository.list(tenant);
  }

  async get(tenant: TenantRef, uuid: string): Promise<PolicyRecord> {
    const policy = await this.repository.findByUuid(tenant, uuid);
    if (!policy) throw GatewayError.notFound(`Subscription policy ${uuid}`);
    return policy;
  }

  async update(tenant: TenantRef, uuid: string, input: PolicyInput): Promise<PolicyRecord> {
    checkPolicyPrices(input.pricing, this.engine.capabilities);
    const previous = await this.get(tenant, uuid);
    if (input.name !== previous.name) {
      // APIs and subscriptions refer to a policy by its name.
      throw GatewayError.invalid('policyName', `cannot be changed (the policy is ${previous.name})`);
    }
    const updated: PolicyRecord = { ...input, uuid, tenant };
    await this.repository.update(tenant, uuid, input);
    try {
      await this.engine.updateBillingPlan(toSubscriptionPolicy(updated));
    } catch (error) {
      await this.compensate('restore the policy row after the billing plan update failed', () => this.repository.update(tenant, uuid, previous));
      await this.planFailed(updated, 'updated', error);
      throw error;
    }
    await this.planMade(updated, 'updated');
    return updated;
  }

  async delete(tenant: TenantRef, uuid: string): Promise<void> {
    const policy = await this.get(tenant, uuid);
    if (await this.isInUse(tenant, policy.name)) {
      throw new GatewayError('CONFLICT', `Subscription policy ${policy.name} is offered by an API or used by a subscription; remove it from them first`);
    }
    await this.engine.deleteBillingPlan(toSubscriptionPolicy(policy));
    await this.repository.delete(tenant, uuid);
  }

  /** Whether any API of the tenant offers the policy, or any subscription to its APIs is on it (asked of their owners). */
  private async isInUse(tenant: TenantRef, name: string): Promise<boolean> {
    if (await this.apis.offersPolicy(tenant, name)) return true;
    const apiIds = (await this.apis.refsOfTenant(tenant.domain)).map((api) => api.id);
    return this.subscriptions.anyOnTier(apiIds, name);
  }

  /**
   * plan.created for a COMMERCIAL policy the engine now bills. The id names the policy and the
   * plan's content, so an update that changes the price is told again and a retried request is not.
   */
  private async planMade(policy: PolicyRecord, action: 'created' | 'updated'): Promise<void> {
    if (policy.billingPlan !== 'COMMERCIAL') return;
    const name = policy.displayName ?? policy.name;
    await emit(
      this.notifier,
      {
        id: `plan.created:${policy.tenant.domain}:${policy.uuid}:${planDigest(policy)}`,
        type: 'plan.created',
        tenantDomain: policy.tenant.domain,
        occurredAt: this.clock(),
        summary: `Billing plan for subscription policy ${name} was ${action}${pricingText(policy)}.`,
        data: { action, ...planFacts(policy) },
      },
      this.logger,
    );
  }

  /** plan.failed with the engine's reason; keyed by the policy's name (a failed create leaves no UUID behind) and content. */
  private async planFailed(policy: PolicyRecord, action: 'created' | 'updated', error: unknown): Promise<void> {
    if (policy.billingPlan !== 'COMMERCIAL') return;
    const reason = error instanceof Error ? error.message : String(error);
    await emit(
      this.notifier,
      {
        id: `plan.failed:${policy.tenant.domain}:${policy.name}:${planDigest(policy)}`,
        type: 'plan.failed',
        tenantDomain: policy.tenant.domain,
        occurredAt: this.clock(),
        summary: `Billing plan for subscription policy ${policy.displayName ?? policy.name} could not be ${action}: ${reason}`,
        data: { action, ...planFacts(policy), reason },
      },
      this.logger,
    );
  }

  private async compensate(what: string, undo: () => Promise<void>): Promise<void> {
    try {
      await undo();
    } catch (error) {
      this.logger.error({ failure: error instanceof Error ? error.message : String(error) }, `could not ${what}`);
    }
  }
}

/** The policy's facts for a notification, flat. */
function planFacts(policy: PolicyRecord): Record<string, string | null> {
  const pricing = policy.pricing;
  return {
    policyId: policy.uuid,
    policyName: policy.name,
    policyDisplayName: policy.displayName,
    billingPlan: policy.billingPlan,
    plan: pricing?.plan ?? null,
    currency: pricing?.currency ?? null,
    billingCycle: pricing?.billingCycle ?? null,
    fixedPrice: pricing?.fixedPrice ?? null,
    pricePerRequest: pricing?.plan === 'DYNAMICRATE' ? pricing.pricePerRequest : null,
  };
}

function pricingText(policy: PolicyRecord): string {
  const pricing = policy.pricing;
  if (!pricing) return '';
  const currency = pricing.currency.toUpperCase();
  if (pricing.plan === 'DYNAMICRATE') return ` (${pricing.pricePerRequest} ${currency} a request${pricing.fixedPrice ? ` plus ${pricing.fixedPrice} ${currency}` : ''}, ${pricing.billingCycle})`;
  return ` (${pricing.fixedPrice} ${currency}, ${pricing.billingCycle})`;
}

/** A short digest of what the engine bills by (plan kind and pricing), for deterministic event ids. */
function planDigest(policy: PolicyRecord): string {
  return createHash('sha256').update(JSON.stringify([policy.billingPlan, policy.pricing])).digest('hex').slice(0, 12);
}
