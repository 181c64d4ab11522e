import type { Logger } from '../logger';
import type { NotificationEvent, Notifier } from './events';
import type { NotificationsRepository } from './notifications.repository';

/**
 * The {@link Notifier} services are given: records one PENDING delivery of the event per enabled
 * channel of its tenant that gets its type (the outbox; the dispatcher sends them). Recording the
 * same event again adds nothing (one delivery per channel and event id). Never throws: a failure
 * to record is logged, and the billing action that emitted the event goes on.
 */
export class OutboxNotifier implements Notifier {
  constructor(
    private readonly repository: NotificationsRepository,
    private readonly clock: () => Date,
    private readonly logger: Pick<Logger, 'warn' | 'debug'>,
  ) {}

  async notify(event: NotificationEvent): Promise<void> {
    try {
      const channels = await this.repository.channelsFor(event.tenantDomain, event.type);
      if (channels.length === 0) return;
      const recorded = await this.repository.recordDeliveries(
        event,
        channels.map((channel) => channel.id),
        this.clock(),
      );
      this.logger.debug({ event: event.id, type: event.type, channels: channels.length, recorded }, 'notification recorded');
    } catch (error) {
      this.logger.warn({ event: event.id, type: event.type, failure: error instanceof Error ? error.message : String(error) }, 'could not record a notification; it is lost');
    }
  }
}
