import type { ApiActor, ApisService } from './apis.service';
import type { SubscriptionsRepository } from './subscriptions.repository';
import { utcTimestamp } from '../domain/time';

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
    private readonly subscriptions: Pick<SubscriptionsRepository, 'setBlockState'>,
    private readonly clock: () => Date,
  ) {}

  async block(actor: ApiActor, subscriptionUuid: string, state: BlockState): Promise<void> {
    await this.apis.getManagedBySubscription(actor, subscriptionUuid);
    await this.subscriptions.setBlockState(subscriptionUuid, state, actor.subject, utcTimestamp(this.clock()));
  }

  async unblock(actor: ApiActor, subscriptionUuid: string): Promise<void> {
    await this.apis.getManagedBySubscription(actor, subscriptionUuid);
    await this.subscriptions.setBlockState(subscriptionUuid, 'UNBLOCKED', actor.subject, utcTimestamp(this.clock()));
  }
}
