import { createHash, randomUUID } from 'node:crypto';
import type { AdditionalAttribute } from '../config/schema';
import type { ApiRef, SubscriptionPolicy, TenantRef } from '../domain/model';
import type { ApiMonetizationState, ApiMonetizationStateRepository } from './api-monetization.repository';
import { MonetizationError, type ApiRevenue, type Monetization } from '../monetization/monetization';
import type { Logger } from '../logger';
import { emit } from '../notifications/emit';
import { silentNotifier, type Notifier } from '../notifications/events';
import type { ApisRepository } from './apis.repository';
import { GatewayError } from './errors';
import type { ApiInput, ApiRecord, ApiState } from './model';
import type { PoliciesRepository } from './policies.repository';
import type { SubscriptionsRepository } from './subscriptions.repository';
import { toSubscriptionPolicy } from './policies.service';
import { utcTimestamp } from '../domain/time';

/** WSO2's lifecycle actions that Meterline knows, and the state each leads to from where. */
export const LIFECYCLE_ACTIONS = {
  Publish: { from: ['CREATED', 'PROTOTYPED'], to: 'PUBLISHED' },
  'Deploy as a Prototype': { from: ['CREATED'], to: 'PROTOTYPED' },
  'Demote to Created': { from: ['PUBLISHED', 'PROTOTYPED'], to: 'CREATED' },
  Block: { from: ['PUBLISHED'], to: 'BLOCKED' },
  'Re-Publish': { from: ['BLOCKED'], to: 'PUBLISHED' },
  Deprecate: { from: ['PUBLISHED'], to: 'DEPRECATED' },
  Retire: { from: ['DEPRECATED'], to: 'RETIRED' },
} as const satisfies Record<string, { from: readonly ApiState[]; to: ApiState }>;
export type LifecycleAction = keyof typeof LIFECYCLE_ACTIONS;

export interface ApiWithMonetization extends ApiRecord {
  monetization: ApiMonetizationState;
}

/**
 * Who acts on an API. WSO2 lets an API's provider change it (lifecycle, monetization and the
 * connected account in its properties) and an admin (`apim:admin`) act for any provider; other
 * publishers of the tenant may view it. Meterline applies the same rule to the API's money:
 * its revenue, invoices, subscriptions and their pending invoices.
 */
export interface ApiActor {
  tenant: TenantRef;
  /** The caller's user name, compared with the API's provider. */
  subject: string;
  /** The caller holds `apim:admin`. */
  admin: boolean;
}

/** Whether the actor may change the API and read its money: its provider, or an admin. */
export function managesApi(actor: ApiActor, api: ApiRecord): boolean {
  return actor.admin || api.provider === actor.subject;
}

export function toApiRef(api: ApiRecord): ApiRef {
  return { uuid: api.uuid, name: api.name, version: api.version, provider: api.provider, tenant: api.tenant };
}

/**
 * Publisher operations on APIs: create (with tiers), list, lifecycle, and monetization with
 * WSO2's rules — only PUBLISHED APIs, properties required, the configured required attributes
 * present. The engine acts first; ML_API_MONETIZATION records the result only after it
 * succeeded, so a failed call leaves the API as it was and can be retried.
 */
export class ApisService {
  constructor(
    private readonly apis: ApisRepository,
    private readonly policies: PoliciesRepository,
    private readonly monetizationState: ApiMonetizationStateRepository,
    private readonly engine: Monetization,
    private readonly attributes: readonly AdditionalAttribute[],
    private readonly clock: () => Date,
    private readonly subscriptions: Pick<SubscriptionsRepository, 'keysOf'>,
    /** Told monetization.enabled (issue 18). */
    private readonly notifier: Notifier = silentNotifier,
    private readonly logger: Pick<Logger, 'warn'> = { warn: () => undefined },
  ) {}

  async create(tenant: TenantRef, input: ApiInput, createdBy: string): Promise<ApiWithMonetization> {
    await this.requirePolicies(tenant, input.policies);
    const clash = await this.apis.findClash(tenant, input);
    if (clash === 'name') throw new GatewayError('CONFLICT', `An API named ${input.name} with version ${input.version} already exists`, { field: 'name' });
    if (clash === 'context') throw new GatewayError('CONFLICT', `An API with context ${input.context} already exists`, { field: 'context' });
    const uuid = randomUUID();
    await this.apis.insert(tenant, uuid, input, createdBy, utcTimestamp(this.clock()));
    return this.get(tenant, uuid);
  }

  /**
   * WSO2's updateAPI for the fields Meterline keeps: the display name and the tiers (`policies`),
   * by the API's provider or an admin. As in WSO2, name, version, context, provider, type and
   * lifecycle state are not changed by an update (the body's values are ignored). Tiers absent
   * from the body are kept; every tier must be a subscription policy of the tenant (400 naming
   * it), and a PUBLISHED API keeps at least one. On a monetized API the engine is asked first to
   * price the new tier list (it makes the plans new COMMERCIAL tiers need, finding those it has),
   * so a subscription on a tier added here is billed; when it fails, nothing changes.
   */
  async update(actor: ApiActor, uuid: string, change: { displayName?: string | null; policies?: readonly string[] | null }): Promise<ApiWithMonetization> {
    const api = await this.getManaged(actor, uuid);
    const policies = change.policies ? [...new Set(change.policies)] : api.policies;
    await this.requirePolicies(actor.tenant, policies);
    if (policies.length === 0 && api.status === 'PUBLISHED') {
      throw GatewayError.invalid('policies', `API ${api.name} ${api.version} is PUBLISHED and must offer at least one subscription policy`);
    }
    const tiersChanged = policies.length !== api.policies.length || policies.some((name) => !api.policies.includes(name));
    if (tiersChanged && api.monetization.enabled) {
      const records = (await this.policies.findByNames(actor.tenant, policies)).map(toSubscriptionPolicy);
      await this.engine.enableMonetization({ api: toApiRef(api), policies: records, properties: api.monetization.properties });
    }
    const displayName = change.displayName ?? api.displayName ?? api.name;
    await this.apis.update(api.id, { displayName, policies }, actor.subject, utcTimestamp(this.clock()));
    return this.get(actor.tenant, uuid);
  }

  private async requirePolicies(tenant: TenantRef, names: readonly string[]): Promise<void> {
    const known = new Set((await this.policies.findByNames(tenant, names)).map((p) => p.name));
    const index = names.findIndex((name) => !known.has(name));
    if (index >= 0) throw GatewayError.invalid(`policies[${index}]`, `there is no subscription policy named ${names[index]}`);
  }

  async list(tenant: TenantRef, page: { limit: number; offset: number }): Promise<{ total: number; apis: ApiRecord[] }> {
    return this.apis.list(tenant, page);
  }

  async get(tenant: TenantRef, uuid: string): Promise<ApiWithMonetization> {
    const api = await this.apis.findByUuid(tenant, uuid);
    if (!api) throw GatewayError.notFound(`API ${uuid}`);
    const monetization = (await this.monetizationState.get(api.id)) ?? { enabled: false, properties: {} };
    return { ...api, monetization };
  }

  /**
   * The API, when the actor may change it and read its money (`managesApi`); 404 when the
   * tenant has no such API, 403 (WSO2's FORBIDDEN) when it is another provider's.
   */
  async getManaged(actor: ApiActor, uuid: string): Promise<ApiWithMonetization> {
    const api = await this.get(actor.tenant, uuid);
    if (!managesApi(actor, api)) throw forbidden(uuid);
    return api;
  }

  /** As `getManaged`, for the API a subscription of the tenant is to; 404 when there is no such subscription. */
  async getManagedBySubscription(actor: ApiActor, subscriptionUuid: string): Promise<ApiRecord> {
    const subscription = await this.subscriptions.keysOf(subscriptionUuid);
    const api = subscription ? await this.apis.findById(actor.tenant, subscription.apiId) : undefined;
    if (!api) throw GatewayError.notFound(`Subscription ${subscriptionUuid}`);
    if (!managesApi(actor, api)) throw forbidden(api.uuid);
    return api;
  }

  async changeLifecycle(actor: ApiActor, uuid: string, action: LifecycleAction): Promise<ApiRecord> {
    const api = await this.getManaged(actor, uuid);
    const transition = LIFECYCLE_ACTIONS[action];
    if (!(transition.from as readonly ApiState[]).includes(api.status)) {
      throw GatewayError.invalid('action', `${action} is not allowed for an API in state ${api.status}`);
    }
    if (transition.to === 'PUBLISHED' && api.policies.length === 0) {
      throw GatewayError.invalid('action', `API ${api.name} ${api.version} offers no subscription policy; add one before publishing`);
    }
    await this.apis.setStatus(api.id, transition.to, actor.subject, utcTimestamp(this.clock()));
    return { ...api, status: transition.to };
  }

  async configureMonetization(actor: ApiActor, uuid: string, request: { enabled: boolean; properties: Record<string, string> }): Promise<void> {
    const api = await this.getManaged(actor, uuid);
    if (api.status !== 'PUBLISHED') {
      throw new GatewayError('INVALID_API_STATE_MONETIZATION', `Monetization can be configured only for PUBLISHED APIs; API ${api.name} ${api.version} is ${api.status}`);
    }
    if (Object.keys(request.properties).length === 0) {
      throw new GatewayError('PARAMETER_NOT_PROVIDED', 'properties: the monetization properties must not be empty', { field: 'properties' });
    }
    const properties = this.withAttributeDefaults(request.properties);
    if (request.enabled) this.requireAttributes(properties);
    const policies = (await this.policies.findByNames(actor.tenant, api.policies)).map(toSubscriptionPolicy);
    const monetizationRequest = { api: toApiRef(api), policies, properties };
    if (request.enabled) await this.engine.enableMonetization(monetizationRequest);
    else await this.engine.disableMonetization(monetizationRequest);
    await this.monetizationState.save(api.id, { enabled: request.enabled, properties });
    if (request.enabled && !api.monetization.enabled) await this.monetizationEnabled(api, policies, properties);
  }

  /**
   * monetization.enabled, when an API goes from not monetized to monetized (saving the properties
   * of a monetized API again tells nobody). The id names the API and what it is monetized with
   * (tiers, their pricing, the properties): enabling it again as it was is told once.
   */
  private async monetizationEnabled(api: ApiWithMonetization, policies: readonly SubscriptionPolicy[], properties: Record<string, string>): Promise<void> {
    const at = this.clock();
    const digest = createHash('sha256')
      .update(JSON.stringify([policies.map((p) => [p.name, p.billingPlan, p.pricing]), Object.entries(properties).sort()]))
      .digest('hex')
      .slice(0, 12);
    const tiers = policies.map((p) => `${p.name}${p.billingPlan === 'COMMERCIAL' ? ' (billed)' : ''}`).join(', ');
    await emit(
      this.notifier,
      {
        id: `monetization.enabled:${api.tenant.domain}:${api.uuid}:${digest}`,
        type: 'monetization.enabled',
        tenantDomain: api.tenant.domain,
        occurredAt: at,
        summary: `Monetization of API ${api.name} ${api.version} was enabled${tiers ? ` (tiers: ${tiers})` : ''}.`,
        data: {
          apiId: api.uuid,
          apiName: api.name,
          apiVersion: api.version,
          provider: api.provider,
          tiers: policies.map((p) => p.name).join(','),
          billedTiers: policies.filter((p) => p.billingPlan === 'COMMERCIAL').map((p) => p.name).join(','),
        },
      },
      this.logger,
    );
  }

  /** WSO2's getAPIMonetization: whether monetization is on, and tier name → plan id. */
  async monetizationStatus(tenant: TenantRef, uuid: string): Promise<{ enabled: boolean; plans: Record<string, string> }> {
    const api = await this.get(tenant, uuid);
    const plans = api.monetization.enabled ? await this.engine.getMonetizedPoliciesToPlanMapping(toApiRef(api)) : {};
    return { enabled: api.monetization.enabled, plans };
  }

  async revenue(actor: ApiActor, uuid: string): Promise<ApiRevenue> {
    const api = await this.getManaged(actor, uuid);
    if (!api.monetization.enabled) throw new MonetizationError('NOT_MONETIZED', `Monetization is not enabled for API ${api.name} ${api.version}`);
    return this.engine.getTotalRevenue(toApiRef(api));
  }

  private withAttributeDefaults(properties: Record<string, string>): Record<string, string> {
    const result = { ...properties };
    for (const attribute of this.attributes) {
      if (attribute.default !== undefined && (result[attribute.name] ?? '').trim() === '') result[attribute.name] = attribute.default;
    }
    return result;
  }

  private requireAttributes(properties: Record<string, string>): void {
    const missing = this.attributes.filter((a) => a.required && (properties[a.name] ?? '').trim() === '');
    if (missing.length === 0) return;
    const problems = missing.map((a) => ({ field: `properties.${a.name}`, message: `${a.display_name} is required` }));
    throw new GatewayError('PARAMETER_NOT_PROVIDED', `properties.${missing[0]!.name}: ${missing[0]!.display_name} is required`, {
      field: problems[0]!.field,
      problems,
    });
  }
}

/** WSO2's answer to a user acting on an API that is not theirs (its RestApiUtil's "You don't have permission..."). */
function forbidden(apiUuid: string): GatewayError {
  return new GatewayError(
    'FORBIDDEN',
    `You don't have permission to access the API with Id ${apiUuid}: only its provider or an admin (apim:admin) can change it or see its revenue, subscriptions and invoices`,
  );
}
