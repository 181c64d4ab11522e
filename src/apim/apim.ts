import type { Knex } from 'knex';
import type { AdditionalAttribute } from '../config/schema';
import type { BillingRecords } from '../billing/billing-records.service';
import type { Logger } from '../logger';
import { ApiMonetizationStateRepository } from './api-monetization.repository';
import type { Monetization } from '../monetization/monetization';
import type { DescribeSubscription } from '../notifications/emit';
import { silentNotifier, type Notifier } from '../notifications/events';
import { ApisRepository } from './apis.repository';
import { ApisService } from './apis.service';
import { ApplicationsRepository } from './applications.repository';
import { ApplicationsService } from './applications.service';
import { PoliciesRepository } from './policies.repository';
import { PoliciesService } from './policies.service';
import { SubscribersRepository } from './subscribers.repository';
import { SubscriptionBlockingService } from './subscription-blocking.service';
import { SubscriptionsRepository } from './subscriptions.repository';
import { SubscriptionsService, type SubscriptionInvoicing, type SubscriptionUsagePublisher } from './subscriptions.service';

/** The API-Manager core's services (policies, APIs, applications, subscriptions), as the REST API uses them. */
export interface Apim {
  policies: PoliciesService;
  apis: ApisService;
  applications: ApplicationsService;
  subscriptions: SubscriptionsService;
  /** The publisher's block and unblock of subscriptions to its APIs. */
  subscriptionBlocking: SubscriptionBlockingService;
  /** `[[apim.monetization.additional_attributes]]`: what publishers fill in to monetize an API. */
  monetizationAttributes: readonly AdditionalAttribute[];
}

/** The API-Manager core's tables, one repository each. */
export interface ApimRepositories {
  policies: PoliciesRepository;
  apis: ApisRepository;
  applications: ApplicationsRepository;
  subscribers: SubscribersRepository;
  subscriptions: SubscriptionsRepository;
  apiMonetization: ApiMonetizationStateRepository;
}

export function createApimRepositories(db: Knex): ApimRepositories {
  const apis = new ApisRepository(db);
  const applications = new ApplicationsRepository(db);
  const subscribers = new SubscribersRepository(db);
  return {
    policies: new PoliciesRepository(db),
    apis,
    applications,
    subscribers,
    // A subscription's API, application and subscriber are asked of their owners.
    subscriptions: new SubscriptionsRepository(db, { apis, applications, subscribers }),
    apiMonetization: new ApiMonetizationStateRepository(db),
  };
}

export interface ApimDependencies {
  repositories: ApimRepositories;
  engine: Monetization;
  /** Invoice records: subscribing records billed subscriptions there. */
  billingRecords?: BillingRecords;
  /** The usage publisher: a subscription's usage is sent before it is cancelled. */
  usage?: SubscriptionUsagePublisher;
  /** Meterline's own invoices at subscribe and cancel, for an engine that leaves invoicing to it. */
  invoicing?: SubscriptionInvoicing;
  /** `[[apim.monetization.additional_attributes]]`. */
  monetizationAttributes: readonly AdditionalAttribute[];
  logger: Logger;
  clock?: () => Date;
  /** Where the services tell plans, monetization, subscribe outcomes and publisher blocks (issue 18); silent by default. */
  notifier?: Notifier;
  /** A subscription with its names, for the publisher's block and unblock events. */
  describeSubscription?: DescribeSubscription;
}

export function createApim(dependencies: ApimDependencies): Apim {
  const { repositories: r, engine, billingRecords, usage, invoicing, monetizationAttributes, logger, clock = () => new Date(), notifier = silentNotifier } = dependencies;
  const subscriptions = new SubscriptionsService(r.subscriptions, r.apis, r.applications, r.subscribers, r.policies, engine, logger, clock, billingRecords, usage, undefined, invoicing, notifier);
  const apis = new ApisService(r.apis, r.policies, r.apiMonetization, engine, monetizationAttributes, clock, r.subscriptions, notifier, logger);
  const describe = dependencies.describeSubscription;
  return {
    policies: new PoliciesService(r.policies, engine, logger, r.apis, r.subscriptions, notifier, clock),
    apis,
    applications: new ApplicationsService(r.applications, r.subscribers, subscriptions, clock),
    subscriptions,
    subscriptionBlocking: new SubscriptionBlockingService(apis, r.subscriptions, clock, describe ? { notifier, describe, logger } : undefined),
    monetizationAttributes,
  };
}
