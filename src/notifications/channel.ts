import type { NotificationEvent } from './events';

/**
 * The channel sender port (issue 18): one sender per channel kind delivers an event to one
 * configured channel. The dispatcher owns retries, backoff and the outbox; a sender makes one
 * attempt and says, by throwing {@link DeliveryFailedError}, whether another attempt could help.
 */
export type ChannelKind = 'webhook' | 'teams' | 'slack' | 'email';

export const CHANNEL_KINDS: readonly ChannelKind[] = ['webhook', 'teams', 'slack', 'email'];

/** What a sender needs to know about a channel (no tenant, no event filter: the outbox decided). */
export interface ChannelTarget {
  id: string;
  kind: ChannelKind;
  name: string;
  /** A URL (webhook, teams, slack) or a comma-separated e-mail address list (email). */
  target: string;
  /** The webhook signing secret (`whsec_<base64>`); null for kinds that do not sign. */
  secret: string | null;
}

export interface ChannelSender {
  readonly kind: ChannelKind;
  /**
   * Delivers `event` to `channel` once. Resolves when the receiver accepted it; throws
   * {@link DeliveryFailedError} otherwise (any other error is treated as retryable).
   */
  send(event: NotificationEvent, channel: ChannelTarget): Promise<void>;
}

/**
 * A delivery attempt that did not succeed. `retryable` false (e.g. a 4xx other than 408/429, a
 * malformed target) sends the delivery straight to DEAD; true schedules another attempt.
 */
export class DeliveryFailedError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'DeliveryFailedError';
  }
}
