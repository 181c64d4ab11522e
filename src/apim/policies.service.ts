import { randomUUID } from 'node:crypto';
import type { SubscriptionPolicy, TenantRef } from '../domain/model';
import { isUniqueViolation } from '../db/errors';
import type { Logger } from '../logger';
import type { Monetization } from '../monetization/monetization';
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
      throw error;
    }
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
      throw error;
    }
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

  private async compensate(what: string, undo: () => Promise<void>): Promise<void> {
    try {
      await undo();
    } catch (error) {
      this.logger.error({ failure: error instanceof Error ? error.message : String(error) }, `could not ${what}`);
    }
  }
}
