import type { Logger } from '../logger';

/** A timer the trigger waits with; injected so tests fire it without sleeping. */
export interface Timer {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** The process's timers (unref'd: a waiting trigger never keeps the process alive). */
export const processTimer: Timer = {
  set: (callback, ms) => setTimeout(callback, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface PeriodEndTriggerDependencies {
  /** The first end of a billing period strictly after `after` (epoch ms); null when none is known. */
  nextPeriodEnd(after: number): Promise<number | null>;
  /** Starts a publish job; false when a job is already running (here or in another process). */
  publish(): Promise<boolean>;
  /** How long after a period ends the engine still invoices its usage (`periodUsageGraceMs`). */
  graceMs: number;
  clock: () => Date;
  logger: Logger;
  timer?: Timer;
}

/** How long after a period end the job starts: the period's last usage has reached the source by then. */
export const AFTER_PERIOD_END_MS = 60_000;
/** While another job holds the lease, ask again this often (within the grace period). */
export const BUSY_RETRY_MS = 30_000;
/** The longest single wait: subscriptions billed for the first time meanwhile are picked up by then. */
export const MAX_WAIT_MS = 10 * 60_000;

/**
 * Runs the usage publisher right after each billing period end of the subscriptions it bills, so
 * the period's last window reaches the engine while the engine still puts it on that period's
 * invoice (its `periodUsageGraceMs`: Stripe keeps the renewal invoice a draft for an hour). The
 * cron schedule alone could miss that hour. Period ends that fall before a job starts are served
 * by it together (the job freezes and sends everything settled by then). A publisher that is
 * busy is asked again every BUSY_RETRY_MS until the grace period is half over; a window that still
 * misses its invoice is reported by the publisher (state MISSED).
 */
export class PeriodEndTrigger {
  private readonly timer: Timer;
  /** Period ends up to here are served (or given up on). */
  private servedUpTo: number;
  private notBefore = 0;
  private handle: unknown;
  private tick: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: PeriodEndTriggerDependencies) {
    this.timer = deps.timer ?? processTimer;
    // A period that ended less than half the grace period ago (say, during a restart) is still served.
    this.servedUpTo = this.now() - Math.min(deps.graceMs / 2, MAX_WAIT_MS * 3);
  }

  /** Plans the first run; resolves once it is planned. */
  start(): Promise<void> {
    this.tick = this.plan();
    return this.tick;
  }

  /** Resolves when the run or planning under way (if any) is done: for tests and for stopping. */
  idle(): Promise<void> {
    return this.tick;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.handle !== undefined) this.timer.clear(this.handle);
    this.handle = undefined;
    await this.tick;
  }

  private now(): number {
    return this.deps.clock().getTime();
  }

  private arm(ms: number): void {
    if (this.stopped) return;
    this.handle = this.timer.set(() => {
      this.handle = undefined;
      this.tick = this.fireDue().then(() => this.plan());
    }, Math.max(0, ms));
  }

  private async plan(): Promise<void> {
    if (this.stopped) return;
    try {
      const end = await this.deps.nextPeriodEnd(this.servedUpTo);
      const due = end === null ? Number.POSITIVE_INFINITY : Math.max(end + AFTER_PERIOD_END_MS, this.notBefore);
      this.arm(Math.min(due - this.now(), MAX_WAIT_MS));
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'could not read the billing periods; the period-end publish is planned again later');
      this.arm(BUSY_RETRY_MS);
    }
  }

  /** Starts a job if a period end is due (a wait may also end early, at MAX_WAIT_MS, only to plan again). */
  private async fireDue(): Promise<void> {
    if (this.stopped) return;
    const now = this.now();
    try {
      const end = await this.deps.nextPeriodEnd(this.servedUpTo);
      if (end === null || now < end + AFTER_PERIOD_END_MS || now < this.notBefore) return;
      if (await this.deps.publish()) {
        this.deps.logger.info({ periodEnd: new Date(end).toISOString() }, 'usage publish started after a billing period end');
        this.servedUpTo = Math.max(end, now - AFTER_PERIOD_END_MS);
        return;
      }
      if (now < end + this.deps.graceMs / 2) {
        this.notBefore = now + BUSY_RETRY_MS;
        return;
      }
      // The running job will send what it froze; a window it could not send in time is reported as MISSED.
      this.deps.logger.warn({ periodEnd: new Date(end).toISOString() }, 'a usage publish job ran through half the period-end grace period; not starting another');
      this.servedUpTo = end;
    } catch (error) {
      this.deps.logger.error({ err: error }, 'usage publish after a billing period end could not start');
      this.notBefore = now + BUSY_RETRY_MS;
    }
  }
}
