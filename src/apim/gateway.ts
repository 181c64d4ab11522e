import type { Knex } from 'knex';
import type { AdditionalAttribute, MeterlineConfig } from '../config/schema';
import type { Billing } from '../billing/billing';
import type { Logger } from '../logger';
import { ApiMonetizationStateRepository } from './api-monetization.repository';
import type { Monetization } from '../monetization/monetization';
import { ApisRepository } from './apis.repository';
import { ApisService } from './apis.service';
import { ApplicationsRepository } from './applications.repository';
import { ApplicationsService } from './applications.service';
import { PoliciesRepository } from './policies.repository';
import { PoliciesService } from './policies.service';
import { SubscribersRepository } from './subscribers.repository';
import { SubscriptionsRepository } from './subscriptions.repository';
import { SubscriptionsService, type SubscriptionUsagePublisher } from './subscriptions.service';

/** The gateway's services, as the REST API uses them. */
export interface Gateway {
  policies: PoliciesService;
  apis: ApisService;
  applications: ApplicationsService;
  subscriptions: SubscriptionsService;
  /** `[[apim.monetization.additional_attributes]]`: what publishers fill in to monetize an API. */
  monetizationAttributes: readonly AdditionalAttribute[];
}

export interface GatewayDependencies {
  db: Knex;
  /** Invoice records and payment standing; subscribing records billed subscriptions there. */
  billing?: Billing;
  engine: Monetization;
  /** The usage publisher: a subscription's usage is sent before it is cancelled. */
  usage?: SubscriptionUsagePublisher;
  config: MeterlineConfig;
  logger: Logger;
  clock?: () => Date;
}

export function createGateway({ db, engine, usage, config, logger, billing, clock = () => new Date() }: GatewayDependencies): Gateway {
  const policiesRepository = new PoliciesRepository(db);
  const apisRepository = new ApisRepository(db);
  const applicationsRepository = new ApplicationsRepository(db);
  const subscribersRepository = new SubscribersRepository(db);
  const attributes = config.apim.monetization.additional_attributes;
  const subscriptions = new SubscriptionsService(
    new SubscriptionsRepository(db),
    apisRepository,
    applicationsRepository,
    subscribersRepository,
    policiesRepository,
    engine,
    logger,
    clock,
    billing?.records,
    usage,
  );
  return {
    policies: new PoliciesService(policiesRepository, engine, logger),
    apis: new ApisService(apisRepository, policiesRepository, new ApiMonetizationStateRepository(db), engine, attributes, clock),
    applications: new ApplicationsService(applicationsRepository, subscribersRepository, subscriptions, clock),
    subscriptions,
    monetizationAttributes: attributes,
  };
}
