import { randomUUID } from 'node:crypto';
import type { ApplicationsRepository } from './applications.repository';
import { GatewayError } from './errors';
import type { ApplicationInput, ApplicationRecord } from './model';
import type { SubscribersRepository } from './subscribers.repository';
import type { SubscriberIdentity, SubscriptionsService } from './subscriptions.service';
import { utcTimestamp } from '../domain/time';

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

  async delete(caller: SubscriberIdentity, uuid: string): Promise<void> {
    const application = await this.get(caller, uuid);
    await this.subscriptions.removeAllOfApplication(application.id, caller.tenant);
    await this.applications.delete(application.id);
  }
}
