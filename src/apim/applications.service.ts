import { randomUUID } from 'node:crypto';
import type { ApplicationsRepository } from './applications.repository';
import { GatewayError } from './errors';
import type { ApplicationInput, ApplicationRecord } from './model';
import type { SubscribersRepository } from './subscribers.repository';
import type { SubscriberIdentity, SubscriptionsService } from './subscriptions.service';
import { utcTimestamp } from '../domain/time';

/** The application WSO2 API Manager creates for every subscriber on first sign-in (APIConstants.DEFAULT_APPLICATION_NAME). */
export const DEFAULT_APPLICATION = 'DefaultApplication';

export interface ApplicationWithCount extends ApplicationRecord {
  subscriptionCount: number;
}

/**
 * Developer-portal applications, always the caller's own: the subscriber row is created on first
 * use from the token's subject (and email), in the token's tenant. Deleting an application first
 * ends each of its subscriptions through the subscription workflow, so no billing subscription
 * outlives the application.
 */
export class ApplicationsService {
  constructor(
    private readonly applications: ApplicationsRepository,
    private readonly subscribers: SubscribersRepository,
    private readonly subscriptions: SubscriptionsService,
    private readonly clock: () => Date,
  ) {}

  async create(caller: SubscriberIdentity, input: ApplicationInput): Promise<ApplicationWithCount> {
    const now = utcTimestamp(this.clock());
    const owner = await this.subscribers.ensure(caller.tenant, caller.subject, caller.email, now);
    if (await this.applications.findOwnedByName(owner, input.name)) {
      throw new GatewayError('CONFLICT', `You already have an application named ${input.name}`, { field: 'name' });
    }
    const uuid = randomUUID();
    await this.applications.insert(owner, uuid, input, now);
    return { ...(await this.applications.findOwned(owner, uuid))!, subscriptionCount: 0 };
  }

  /**
   * WSO2's update: the name (unique among the owner's applications), throttling policy,
   * description and token type are replaced.
   */
  async update(caller: SubscriberIdentity, uuid: string, input: ApplicationInput): Promise<ApplicationWithCount> {
    const current = await this.get(caller, uuid);
    const owner = (await this.subscribers.find(caller.tenant, caller.subject))!;
    const clash = input.name === current.name ? undefined : await this.applications.findOwnedByName(owner, input.name);
    if (clash) throw new GatewayError('CONFLICT', `You already have an application named ${input.name}`, { field: 'name' });
    await this.applications.update(owner, current.id, input, utcTimestamp(this.clock()));
    return this.get(caller, uuid);
  }

  async list(caller: SubscriberIdentity, filter: { name?: string; limit: number; offset: number }): Promise<{ total: number; applications: ApplicationWithCount[] }> {
    const owner = await this.subscribers.find(caller.tenant, caller.subject);
    if (!owner) return { total: 0, applications: [] };
    const { total, applications } = await this.applications.listOwned(owner, filter);
    const counts = await this.subscriptions.countsByApplication(applications.map((a) => a.id));
    return { total, applications: applications.map((a) => ({ ...a, subscriptionCount: counts.get(a.id) ?? 0 })) };
  }

  async get(caller: SubscriberIdentity, uuid: string): Promise<ApplicationWithCount> {
    const owner = await this.subscribers.find(caller.tenant, caller.subject);
    const application = owner ? await this.applications.findOwned(owner, uuid) : undefined;
    if (!application) throw GatewayError.notFound(`Application ${uuid}`);
    const counts = await this.subscriptions.countsByApplication([application.id]);
    return { ...application, subscriptionCount: counts.get(application.id) ?? 0 };
  }

  /**
   * Deletes an application Meterline may delete: never one WSO2 API Manager made and manages —
   * its DefaultApplication, or any application with OAuth keys in WSO2's Key Manager (deleting the
   * row would drop WSO2's key mappings with it and orphan the OAuth clients). Those are refused
   * (409) before anything is cancelled; they are deleted in WSO2's Developer Portal.
   */
  async delete(caller: SubscriberIdentity, uuid: string): Promise<void> {
    const application = await this.get(caller, uuid);
    if (application.name === DEFAULT_APPLICATION) {
      throw new GatewayError(
        'CONFLICT',
        `${DEFAULT_APPLICATION} is the application WSO2 API Manager creates for each subscriber, with its OAuth client; Meterline does not delete it. Delete it in WSO2's Developer Portal.`,
      );
    }
    if (await this.applications.hasOAuthKeys(application.id)) {
      throw new GatewayError(
        'CONFLICT',
        `Application ${application.name} has OAuth keys in WSO2's Key Manager; Meterline does not delete it, as its OAuth clients would be left behind. Delete it in WSO2's Developer Portal.`,
      );
    }
    await this.subscriptions.removeAllOfApplication(application.id, caller.tenant);
    await this.applications.delete(application.id);
  }
}
