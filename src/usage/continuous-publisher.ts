import type { Logger } from '../logger';
import { processTimer, type Timer } from './period-end-trigger';
import type { RunSummary, StartResult } from './publisher';

/** What the loop drives: the usage publisher's job (`UsagePublisher`), nothing else of it. */
export interface PublishJobs {
  /** Starts a job unless one runs here or in another process (the lease decides); an idle job logs at debug. */
  start(options: { quietWhenIdle: boolean }): Promise<StartResult>;
  /** The job this process runs, if any. */
  current(): Promise<RunSummary> | undefined;
  /** Asks the running job to stop after the calls in flight (for good: the process is shutting down). */
  stop(): Promise<void>;
}

export interface ContinuousPublisherDependencies {
  jobs: PublishJobs;
  /** From one job's start to the next one's (`interval_seconds`); a longer job is followed at once. */
  intervalMs: number;
  logger: Logger;
  /** Measures how long a job took; the process's monotonic clock unless a test injects one. */
  now?: () => number;
  timer?: Timer;
}

/** What one turn of the loop did. */
export type TickOutcome =
  | { ran: true; summary: RunSummary }
  /** Another process (or a job started here by hand) holds the lease: its job sends this usage. */
  | { ran: false; reason: 'busy' | 'stopped' | 'failed' };

/**
 * Continuous publishing (`[apim.monetization.usage_publisher] mode = "continuous"`): runs the
 * usage publisher's job over and over, one every `interval_seconds`. Each job freezes everything
 * the source has settled since the last one into records and sends them, paced at the engine's
 * rate, so a call's usage reaches the engine about one interval plus the sending time after it
 * is settled. Exactly once as for any job: the records and their identifiers are the job's, and
 * the job's lease lets one process publish at a time, so several instances running this loop
 * take turns instead of sending twice. The loop never overlaps itself: the next turn is planned
 * only after the previous job ended.
 */
export class ContinuousPublisher {
  private readonly timer: Timer;
  private readonly now: () => number;
  private handle: unknown;
  private turn: Promise<TickOutcome> | undefined;
  private stopped = false;
  private started = false;

  constructor(private readonly deps: ContinuousPublisherDependencies) {
    this.timer = deps.timer ?? processTimer;
    this.now = deps.now ?? (() => performance.now());
  }

  /** Starts the loop: the first job at once, then one per interval. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.deps.logger.info({ intervalMs: this.deps.intervalMs }, 'continuous usage publishing started');
    this.plan(0);
  }

  /**
   * One turn: starts a job and waits for it to end. Runs alone (a turn asked for while one runs
   * waits for it and answers its outcome). What the timer calls; tests call it directly.
   */
  tick(): Promise<TickOutcome> {
    if (this.turn) return this.turn;
    const turn = this.runTurn().finally(() => {
      this.turn = undefined;
    });
    this.turn = turn;
    return turn;
  }

  /**
   * Stops planning turns; a job in flight stops after its calls in flight (what it did not send
   * stays PENDING for the next job, in this process or another). Resolves when it has ended.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.handle !== undefined) this.timer.clear(this.handle);
    this.handle = undefined;
    if (this.turn) {
      await this.deps.jobs.stop();
      await this.turn;
    }
    this.deps.logger.info('continuous usage publishing stopped');
  }

  private async runTurn(): Promise<TickOutcome> {
    if (this.stopped) return { ran: false, reason: 'stopped' };
    try {
      const start = await this.deps.jobs.start({ quietWhenIdle: true });
      if (!start.started) return { ran: false, reason: 'busy' };
      const job = this.deps.jobs.current();
      if (!job) return { ran: false, reason: 'failed' };
      return { ran: true, summary: await job };
    } catch (error) {
      // A database hiccup: logged, and the next turn tries again.
      this.deps.logger.error({ err: error }, 'continuous usage publishing could not start a job');
      return { ran: false, reason: 'failed' };
    }
  }

  private plan(delayMs: number): void {
    if (this.stopped) return;
    this.handle = this.timer.set(() => {
      this.handle = undefined;
      const began = this.now();
      void this.tick().then((outcome) => {
        if (outcome.ran && outcome.summary.outcome !== 'SUCCESSFULL') {
          this.deps.logger.warn({ runId: outcome.summary.runId, outcome: outcome.summary.outcome, failures: outcome.summary.failures.length }, 'continuous usage publish job left usage for the next turn');
        }
        this.plan(Math.max(0, this.deps.intervalMs - (this.now() - began)));
      });
    }, delayMs);
  }
}
