import type { ApiActor, ApisService } from './apis.service';
import type { SubscriptionsRepository } from './subscriptions.repository';
import { utcTimestamp } from '../domain/time';
import type { Logger } from '../logger';
import { emit, subscriptionFacts, subscriptionLabel, type DescribeSubscription } from '../notifications/emit';
import type { Notifier } from '../notifications/events';

/** Where the publisher's blocks and unblocks are told (issue 18); without it nobody is. */
export interface BlockingNotifications {
  notifier: Notifier;
  describe: DescribeSubscription;
  logger: Pick<Logger, 'warn'>;
}

/** WSO2's block states: the subscription refused everywhere, or on production keys only. */
export const BLOCK_STATES = ['BLOCKED', 'PROD_ONLY_BLOCKED'] as const;
export type BlockState = (typeof BLOCK_STATES)[number];

/**
 * The publisher's block and unblock of a subscription (WSO2's blockSubscription and
 * unBlockSubscription): AM_SUBSCRIPTION.SUB_STATUS becomes BLOCKED or PROD_ONLY_BLOCKED, then
 * UNBLOCKED, as WSO2 writes it, so a WSO2 gateway sharing the database enforces it too. Only the
 * API's provider or an admin may do it (403 for other publishers, 404 for a subscription of
 * another tenant or none).
 *
 * What a block does, as in WSO2: Meterline's access check refuses the subscription's calls (billed
 * or not), and nothing else changes. The billing subscription is not cancelled or paused (WSO2's
 * monetization does not act on blocks either): the publisher blocks a subscriber, the subscriber
 * unsubscribes to stop paying. Billing's own access decisions (held until paid, blocked after a
 * failed payment's grace) no longer overwrite SUB_STATUS while the block stands; the unblock sets
 * UNBLOCKED, and billing's next decision applies from there (the access check itself always asks
 * billing's records for a billed subscription, so a subscription still awaiting payment stays
 * refused after an unblock).
 */
export class SubscriptionBlockingService {
  constructor(
    private readonly apis: Pick<ApisService, 'getManagedBySubscription'>,
    private readonly subscriptions: Pick<SubscriptionsRepository, 'setBlockState' | 'keysOf'>,
    private readonly clock: () => Date,
    private readonly notifications?: BlockingNotifications,
  ) {}

  async block(actor: ApiActor, subscriptionUuid: string, state: BlockState): Promise<void> {
    await this.apis.getManagedBySubscription(actor, subscriptionUuid);
    await this.setState(actor, subscriptionUuid, state);
  }

  async unblock(actor: ApiActor, subscriptionUuid: string): Promise<void> {
    await this.apis.getManagedBySubscription(actor, subscriptionUuid);
    await this.setState(actor, subscriptionUuid, 'UNBLOCKED');
  }

  /**
   * Writes the state and, when it changed, tells subscription.blocked / unblocked. A publisher's
   * block has no id of its own: the event's id names the state and the time recorded with it
   * (AM_SUBSCRIPTION.UPDATED_TIME), and repeating a block that stands tells nothing.
   */
  private async setState(actor: ApiActor, subscriptionUuid: string, state: BlockState | 'UNBLOCKED'): Promise<void> {
    const at = this.clock();
    const before = this.notifications ? (await this.subscriptions.keysOf(subscriptionUuid))?.status : undefined;
    const recorded = utcTimestamp(at);
    await this.subscriptions.setBlockState(subscriptionUuid, state, actor.subject, recorded);
    const told = this.notifications;
    if (!told || before === state) return;
    const wasBlocked = before === 'BLOCKED' || before === 'PROD_ONLY_BLOCKED';
    if (state === 'UNBLOCKED' && !wasBlocked) return;
    const subscription = await told.describe(subscriptionUuid).catch(() => undefined);
    if (!subscription) return;
    const tenant = actor.tenant.domain;
    const type = state === 'UNBLOCKED' ? 'subscription.unblocked' : 'subscription.blocked';
    const how = state === 'PROD_ONLY_BLOCKED' ? 'blocked on production keys' : state === 'BLOCKED' ? 'blocked' : 'unblocked';
    await emit(
      told.notifier,
      {
        id: `${type}:${tenant}:${subscriptionUuid}:publisher:${state}:${recorded}`,
        type,
        tenantDomain: tenant,
        occurredAt: at,
        summary: `Subscription of ${subscriptionLabel(subscription)} was ${how} by ${actor.subject}.`,
        data: { ...subscriptionFacts(subscription), status: state, by: actor.subject, cause: 'publisher' },
        subscriberEmail: subscription.subscriber.email,
      },
      told.logger,
    );
  }
}
