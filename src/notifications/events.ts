/**
 * What Meterline tells people about billing (issue 18): the events, in Meterline's own words, that
 * the notification channels (signed webhook, MS Teams, Slack, e-mail) deliver. The core's services
 * emit them through a {@link Notifier}; they never wait for a delivery, and a failed delivery
 * never fails the billing action that emitted it.
 */
export const NOTIFICATION_EVENT_TYPES = [
  'plan.created',
  'plan.failed',
  'monetization.enabled',
  'subscription.approved',
  'subscription.failed',
  'subscription.on_hold',
  'subscription.blocked',
  'subscription.unblocked',
  'invoice.issued',
  'invoice.paid',
  'invoice.payment_failed',
  'usage.publish_failed',
  'usage.records_uncertain',
  'spend.threshold_reached',
  'spend.cap_reached',
] as const;
export type NotificationEventType = (typeof NOTIFICATION_EVENT_TYPES)[number];

/** A fact worth telling; the same fact always has the same `id`, so it is delivered once per channel. */
export interface NotificationEvent {
  /**
   * Deterministic: derived from what happened (type, tenant, subscription or invoice or job id,
   * threshold, period), never from a clock reading or a counter, so emitting the same fact twice
   * (a retried workflow, a replayed webhook) records one delivery per channel.
   */
  readonly id: string;
  readonly type: NotificationEventType;
  readonly tenantDomain: string;
  /** When it happened (the caller's clock). */
  readonly occurredAt: Date;
  /** One sentence a person reads: "Subscription of app1 to Hello API (Gold) was approved." */
  readonly summary: string;
  /**
   * The facts, flat, for receivers and message cards: e.g. subscriptionId, apiName, policyName,
   * applicationName, invoiceId, currency, amount (exact decimal string), reason. No secrets.
   */
  readonly data: Readonly<Record<string, string | number | boolean | null>>;
  /** The subscriber's e-mail address when the event concerns one subscriber and it is known. */
  readonly subscriberEmail?: string | null;
}

/** Emits events. `notify` records the event for delivery and returns; it never throws. */
export interface Notifier {
  notify(event: NotificationEvent): Promise<void>;
}

/** For compositions and tests without notifications. */
export const silentNotifier: Notifier = { notify: async () => undefined };
