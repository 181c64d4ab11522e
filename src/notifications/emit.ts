import { currencyExponent } from '../domain/money';
import type { SubscriptionRef } from '../domain/model';
import type { Logger } from '../logger';
import type { NotificationEvent, Notifier } from './events';

/**
 * Hands an event to the notifier so that telling never hurts the billing action that emitted it:
 * a notifier that throws (synchronously or by rejecting) is logged and ignored, and the caller
 * only waits for the notifier to record the event (the outbox writes a row), never for a delivery.
 * Call it after the action's transaction committed, so a rolled-back fact is never told.
 */
export async function emit(notifier: Notifier, event: NotificationEvent, logger: Pick<Logger, 'warn'>): Promise<void> {
  try {
    await notifier.notify(event);
  } catch (error) {
    logger.warn({ event: event.id, type: event.type, failure: error instanceof Error ? error.message : String(error) }, 'could not record a notification; the action went on');
  }
}

/** An amount in minor units as an exact decimal string in the currency's major unit (`1999` usd → `"19.99"`, `1500` kwd → `"1.500"`). */
export function decimalAmount(minor: bigint, currency: string): string {
  const digits = currencyExponent(currency);
  if (digits <= 0) return minor.toString();
  const negative = minor < 0n;
  const text = (negative ? -minor : minor).toString().padStart(digits + 1, '0');
  return `${negative ? '-' : ''}${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

/** The subscription an event concerns, by its UUID, with names (API, application, tier) and its subscriber; undefined when it is gone. */
export type DescribeSubscription = (subscriptionUuid: string) => Promise<SubscriptionRef | undefined>;

/** "app1 to Hello API 1.0.0 (Gold)": how a person recognises a subscription. */
export function subscriptionLabel(subscription: SubscriptionRef): string {
  return `${subscription.application.name} to ${subscription.api.name} ${subscription.api.version} (${subscription.policy.name})`;
}

/** A subscription's facts for an event's `data`, flat. */
export function subscriptionFacts(subscription: SubscriptionRef): Record<string, string> {
  return {
    subscriptionId: subscription.uuid,
    apiId: subscription.api.uuid,
    apiName: subscription.api.name,
    apiVersion: subscription.api.version,
    applicationId: subscription.application.uuid,
    applicationName: subscription.application.name,
    policyName: subscription.policy.name,
    subscriber: subscription.subscriber.userId,
  };
}
