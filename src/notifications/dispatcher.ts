import type { Logger } from '../logger';
import { DeliveryFailedError, type ChannelKind, type ChannelSender } from './channel';
import type { ClaimedDelivery, NotificationsRepository } from './notifications.repository';

export interface DispatcherOptions {
  /** Attempts before a delivery is DEAD (`[apim.monetization.notifications] max_attempts`). */
  maxAttempts: number;
  /** The wait after the first failed attempt; it doubles after each further one (default 30 s). */
  baseDelayMs?: number;
  /** The longest wait between attempts (default 1 h). */
  maxDelayMs?: number;
  /** Deliveries taken per claim (default 50). */
  batchSize?: number;
  /** How long a claim holds its deliveries: longer than the whole batch's sends may take (default 2 min). */
  leaseMs?: number;
  /** How long DELIVERED deliveries are kept before a run deletes them (`keep_delivered_days`; default 30 days). */
  keepDeliveredMs?: number;
}

/** What one run did. */
export interface DispatchResult {
  delivered: number;
  failed: number;
  dead: number;
}

const DEFAULTS = { baseDelayMs: 30_000, maxDelayMs: 3_600_000, batchSize: 50, leaseMs: 120_000, keepDeliveredMs: 30 * 86_400_000 };
/** Old deliveries are deleted at most this often per process, this many per statement. */
const PRUNE_EVERY_MS = 3_600_000;
const PRUNE_BATCH = 1_000;

/**
 * The wait before attempt `attempts + 1`, after `attempts` failed ones (≥ 1): base · 2^(attempts−1),
 * at most `max` (30 s, 1 min, 2 min, … 1 h).
 */
export function backoffDelay(attempts: number, baseMs: number = DEFAULTS.baseDelayMs, maxMs: number = DEFAULTS.maxDelayMs): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
}

/**
 * Sends what the outbox holds: claims due deliveries under a lease (so two processes never send
 * one delivery at once), sends each through its channel kind's sender, and records the outcome:
 * DELIVERED; FAILED, due again after an exponential backoff; DEAD after `maxAttempts` attempts or
 * at once when the sender says another attempt cannot help. DELIVERED ones older than
 * `keepDeliveredMs` are deleted (at most once an hour per process); FAILED and DEAD ones stay
 * until retried. Time comes from the injected clock.
 */
export class NotificationDispatcher {
  private readonly senders: ReadonlyMap<ChannelKind, ChannelSender>;
  private readonly options: Required<DispatcherOptions>;
  private lastPrunedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly repository: NotificationsRepository,
    senders: readonly ChannelSender[],
    private readonly clock: () => Date,
    private readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>,
    options: DispatcherOptions,
  ) {
    this.senders = new Map(senders.map((sender) => [sender.kind, sender]));
    this.options = { ...DEFAULTS, ...options };
  }

  /** Sends every delivery due now, batch after batch, until none is left; for the schedule, the CLI and tests. */
  async runOnce(): Promise<DispatchResult> {
    const result: DispatchResult = { delivered: 0, failed: 0, dead: 0 };
    for (;;) {
      const claimed = await this.repository.claimDue(this.clock(), this.options.batchSize, this.options.leaseMs);
      if (claimed.length === 0) break;
      for (const delivery of claimed) result[await this.deliver(delivery)] += 1;
    }
    await this.pruneDelivered();
    return result;
  }

  /** Deletes the DELIVERED deliveries older than `keepDeliveredMs`, if the last prune of this process was an hour ago or more; answers how many. */
  async pruneDelivered(): Promise<number> {
    const now = this.clock().getTime();
    if (now - this.lastPrunedAt < PRUNE_EVERY_MS) return 0;
    this.lastPrunedAt = now;
    const before = new Date(now - this.options.keepDeliveredMs);
    let deleted = 0;
    for (;;) {
      const batch = await this.repository.pruneDelivered(before, PRUNE_BATCH);
      deleted += batch;
      if (batch < PRUNE_BATCH) break;
    }
    if (deleted > 0) this.logger.info({ deleted, before: before.toISOString() }, 'old delivered notifications deleted');
    return deleted;
  }

  private async deliver(delivery: ClaimedDelivery): Promise<keyof DispatchResult> {
    const sender = this.senders.get(delivery.channel.kind);
    let failure: { message: string; retryable: boolean };
    try {
      if (!sender) throw new DeliveryFailedError(`no sender for channels of kind ${delivery.channel.kind} in this process`, true);
      await sender.send(delivery.event, delivery.channel);
      await this.repository.markDelivered(delivery, this.clock());
      return 'delivered';
    } catch (error) {
      failure = error instanceof DeliveryFailedError ? { message: error.message, retryable: error.retryable } : { message: error instanceof Error ? error.message : String(error), retryable: true };
    }
    const attempts = delivery.attempts + 1;
    const now = this.clock();
    const dead = !failure.retryable || attempts >= this.options.maxAttempts;
    const nextAttemptAt = dead ? now : new Date(now.getTime() + backoffDelay(attempts, this.options.baseDelayMs, this.options.maxDelayMs));
    await this.repository.markFailed(delivery, { status: dead ? 'DEAD' : 'FAILED', nextAttemptAt, error: failure.message });
    const facts = { delivery: delivery.id, event: delivery.eventId, channel: delivery.channel.name, attempts, failure: failure.message };
    if (dead) this.logger.error(facts, 'notification delivery is DEAD (retry it over REST once the channel works)');
    else this.logger.warn({ ...facts, nextAttemptAt: nextAttemptAt.toISOString() }, 'notification delivery failed; it will be tried again');
    return dead ? 'dead' : 'failed';
  }
}

/**
 * `meterline serve`: runs the dispatcher every `intervalMs`, one run at a time in this process
 * (several processes may run at once: the lease keeps each delivery to one). Returns a stop
 * function that waits for a run in flight.
 */
export function scheduleDispatch(dispatcher: NotificationDispatcher, intervalMs: number, logger: Pick<Logger, 'info' | 'error'>): () => Promise<void> {
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = dispatcher
      .runOnce()
      .then(() => undefined)
      .catch((error: unknown) => logger.error({ err: error }, 'notification dispatch failed; the next run tries again'))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  tick();
  logger.info({ intervalMs }, 'notification dispatch scheduled');
  return async () => {
    clearInterval(timer);
    await running;
  };
}
