import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Knex } from 'knex';
import type { SubscriptionRef } from '../domain/model';
import type { Logger } from '../logger';
import { MonetizationError, type Monetization } from '../monetization/monetization';
import { BillingCycles } from './billing-cycles';
import { EventStore } from './event-store';
import { JobStore, type Failure, type JobRow, type Wso2Status } from './job-store';
import type { PublisherOptions } from './options';
import { forEachConcurrently, Pacer } from './pacer';
import { RecordStore, type NewRecord, type UsageRecord } from './record-store';
import type { SubscriptionLookup } from './subscription-lookup';
import { spanOfHour, splitAtPeriodBoundaries, usageIdentifier, type CycleSpec } from './windows';

/** Stripe accepts meter events up to 35 days old; keep a margin for clock drift. */
const ENGINE_MAX_AGE_MS = 35 * 86_400_000 - 10 * 60_000;
/** Stripe remembers an identifier for at least 24 h; past this, a re-send might bill twice. */
const IDENTIFIER_MEMORY_MS = 23 * 3_600_000;
const MAX_FAILURES_LISTED = 200;

export interface PublisherDependencies {
  db: Knex;
  engine: Monetization;
  lookup: SubscriptionLookup;
  logger: Logger;
  clock: () => Date;
  options: PublisherOptions;
  /** Days WSO2's first "last publish time" lies in the past (`publish_duration_days`). */
  lookBackDays: number;
  /** This process, as named in the lease (default host:pid:random). */
  owner?: string;
}

export type StartResult = { started: true; runId: string; resumedFrom: string | null } | { started: false; holder: JobRow };

export interface RunSummary {
  runId: string;
  outcome: Exclude<Wso2Status, 'INPROGRESS'>;
  recordsSent: number;
  eventsPublished: number;
  failures: Failure[];
}

class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

/**
 * The usage publisher. One job at a time across every process sharing the database (a lease in
 * ML_USAGE_PUBLISH_JOB, claimed atomically and renewed while the job runs). A job:
 * 1. freezes billable events into usage records, one transaction per chunk of subscriptions:
 *    the events are marked frozen and the records (window, quantity, identifier) written
 *    together, so a crash leaves either both or neither;
 * 2. sends every PENDING record (this run's and any an earlier run left) to the engine with its
 *    identifier, paced, several subscriptions at a time but one call at a time per subscription
 *    (per customer and meter), and marks it SENT in the transaction that counts the progress.
 * A crash between a send and its mark re-sends the same identifier later, which the engine drops.
 */
export class UsagePublisher {
  readonly owner: string;
  private readonly jobs: JobStore;
  private readonly events: EventStore;
  private readonly records: RecordStore;
  private readonly cycles: BillingCycles;
  private running: Promise<RunSummary> | undefined;
  private stopping = false;

  constructor(private readonly deps: PublisherDependencies) {
    this.owner = (deps.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`).slice(0, 200);
    this.jobs = new JobStore(deps.db);
    this.events = new EventStore(deps.db);
    this.records = new RecordStore(deps.db);
    this.cycles = new BillingCycles(deps.db, deps.engine);
  }

  /** Starts a job in the background unless one is running (here or in another process). */
  async start(): Promise<StartResult> {
    const now = this.now();
    await this.jobs.ensureRows(now, this.deps.lookBackDays);
    const runId = randomUUID();
    const claim = await this.jobs.claim({ owner: this.owner, runId, now, leaseMs: this.leaseMs });
    if (!claim.claimed) return { started: false, holder: claim.holder };
    if (claim.resumedFrom) this.deps.logger.warn({ runId, resumedFrom: claim.resumedFrom }, 'resuming a usage publish job whose process stopped');
    this.deps.logger.info({ runId }, 'usage publish job started');
    const run = this.run(runId).finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return { started: true, runId, resumedFrom: claim.resumedFrom };
  }

  /**
   * Freezes pending usage into records without sending anything (under the lease, like a job):
   * what a job's first phase does. For benchmarks and for inspecting what the next job will send.
   */
  async freezeOnly(): Promise<{ frozen: boolean }> {
    const now = this.now();
    await this.jobs.ensureRows(now, this.deps.lookBackDays);
    const runId = randomUUID();
    const claim = await this.jobs.claim({ owner: this.owner, runId, now, leaseMs: this.leaseMs });
    if (!claim.claimed) return { frozen: false };
    const state = { lost: false, failures: [] as Failure[] };
    try {
      await this.freezeAll(runId, now, new Pacer(this.deps.options.requests_per_second), state);
    } finally {
      await this.jobs.finish({ owner: this.owner, runId, now: this.now(), outcome: state.failures.length ? 'UNSUCCESSFULL' : 'SUCCESSFULL', publishedUpTo: null });
    }
    return { frozen: true };
  }

  /** The job this process runs, if any. */
  current(): Promise<RunSummary> | undefined {
    return this.running;
  }

  /** Asks the running job to stop after the calls in flight; its records stay for the next job. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running?.catch(() => undefined);
  }

  private get leaseMs(): number {
    return this.deps.options.lease_seconds * 1000;
  }

  private now(): number {
    return this.deps.clock().getTime();
  }

  private async run(runId: string): Promise<RunSummary> {
    const state = { lost: false, failures: [] as Failure[], sent: 0, events: 0 };
    const renewal = setInterval(() => {
      this.jobs.renew(this.deps.db, this.owner, runId, this.now() + this.leaseMs).then(
        (held) => {
          if (!held) state.lost = true;
        },
        (error: unknown) => this.deps.logger.warn({ err: error, runId }, 'could not renew the usage publisher lease'),
      );
    }, Math.max(50, this.leaseMs / 3));
    renewal.unref();
    const pacer = new Pacer(this.deps.options.requests_per_second);
    let outcome: RunSummary['outcome'] = 'FAILED';
    let cutoff: number | null = null;
    try {
      cutoff = this.now();
      await this.freezeAll(runId, cutoff, pacer, state);
      await this.jobs.setProgress(this.deps.db, runId, { phase: 'PUBLISHING' });
      await this.publishPending(runId, pacer, state);
      if (state.lost) throw new LeaseLostError('the lease expired and another process took the job over');
      outcome = state.failures.length === 0 && !this.stopping ? 'SUCCESSFULL' : 'UNSUCCESSFULL';
      if (this.stopping) state.failures.push({ subscription: '*', reason: 'stopped by shutdown; the rest is published by the next job' });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      state.failures.push({ subscription: '*', reason: `the job failed: ${reason}` });
      this.deps.logger.error({ err: error, runId }, 'usage publish job failed');
      outcome = 'FAILED';
    } finally {
      clearInterval(renewal);
    }
    try {
      await this.jobs.setFailures(runId, state.failures.slice(0, MAX_FAILURES_LISTED));
      const released = await this.jobs.finish({
        owner: this.owner,
        runId,
        now: this.now(),
        outcome,
        publishedUpTo: outcome === 'SUCCESSFULL' ? cutoff : null,
      });
      if (!released) this.deps.logger.warn({ runId }, 'usage publish job ended after losing its lease');
    } catch (error) {
      this.deps.logger.error({ err: error, runId }, 'could not record the end of the usage publish job; its lease will expire');
    }
    this.deps.logger.info({ runId, outcome, recordsSent: state.sent, eventsPublished: state.events, failures: state.failures.length }, 'usage publish job ended');
    return { runId, outcome, recordsSent: state.sent, eventsPublished: state.events, failures: state.failures };
  }

  // --- 1. freezing ---------------------------------------------------------------------------

  private async freezeAll(runId: string, cutoff: number, pacer: Pacer, state: { lost: boolean; failures: Failure[] }): Promise<void> {
    const subscriptions = await this.events.subscriptionsWithPendingUsage();
    const cycles = await this.cycles.known(subscriptions);
    const unknown = subscriptions.filter((uuid) => !cycles.has(uuid));
    const refs = await this.deps.lookup.subscriptionRefs(unknown);
    const skipped = new Set<string>();
    await forEachConcurrently(unknown, this.deps.options.concurrency, async (uuid) => {
      const ref = refs.get(uuid);
      if (!ref || state.lost || this.stopping) return; // no subscription: one window per span, reported when sent
      try {
        await pacer.slot();
        const cycle = await this.cycles.fetch(ref, this.now());
        if (cycle) cycles.set(uuid, cycle);
      } catch (error) {
        skipped.add(uuid);
        state.failures.push({ subscription: uuid, reason: `could not read the billing cycle: ${describe(error)}` });
      }
    });
    const freezable = subscriptions.filter((uuid) => !skipped.has(uuid));
    const chunk = this.deps.options.freeze_chunk;
    for (let i = 0; i < freezable.length; i += chunk) {
      if (state.lost || this.stopping) return;
      await this.freezeChunk(runId, freezable.slice(i, i + chunk), cutoff, cycles);
    }
  }

  private async freezeChunk(runId: string, subscriptions: readonly string[], cutoff: number, cycles: ReadonlyMap<string, CycleSpec>): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      // The lease check is the transaction's first statement: a job that lost its lease never freezes.
      if (!(await this.jobs.renew(tx, this.owner, runId, this.now() + this.leaseMs))) throw new LeaseLostError('lost the lease while freezing');
      const batch = await this.jobs.nextBatch(tx, this.owner, runId);
      if (batch === undefined) throw new LeaseLostError('lost the lease while freezing');
      const frozen = await this.events.freeze(tx, subscriptions, cutoff, batch);
      if (frozen === 0) return;
      const records = await this.recordsOfBatch(tx, batch, cycles);
      await this.records.insert(tx, records);
    });
  }

  /** Cuts the batch's usage into windows: aligned spans of `window_hours`, split at period ends. */
  private async recordsOfBatch(tx: Knex.Transaction, batch: number, cycles: ReadonlyMap<string, CycleSpec>): Promise<NewRecord[]> {
    const windowHours = this.deps.options.window_hours;
    const spans = new Map<string, { subscriptionUuid: string; apiUuid: string; hour: number; quantity: number; firstEventSeq: number }>();
    for (const hour of await this.events.frozenHours(tx, batch)) {
      const key = `${hour.subscriptionUuid}\u0000${Math.floor(hour.hour / windowHours)}`;
      const span = spans.get(key);
      if (!span) spans.set(key, { ...hour });
      else {
        span.quantity += hour.quantity;
        span.firstEventSeq = Math.min(span.firstEventSeq, hour.firstEventSeq);
      }
    }
    const createdAt = this.now();
    const cut = [...spans.values()].map((span) => ({
      span,
      windows: splitAtPeriodBoundaries(spanOfHour(span.hour, windowHours), cycles.get(span.subscriptionUuid) ?? null),
    }));
    // Windows cut at a period boundary are summed from their events, fetched in one query.
    const cutHours = new Set<number>();
    for (const { span, windows } of cut) {
      if (windows.length === 1) continue;
      const first = Math.floor(span.hour / windowHours) * windowHours;
      for (let h = first; h < first + windowHours; h += 1) cutHours.add(h);
    }
    const cutEvents = new Map<string, Array<{ time: number; quantity: number; seq: number }>>();
    if (cutHours.size > 0) {
      for (const e of await this.events.frozenEventsInHours(tx, batch, [...cutHours])) {
        const list = cutEvents.get(e.subscriptionUuid) ?? [];
        list.push(e);
        cutEvents.set(e.subscriptionUuid, list);
      }
    }
    const records: NewRecord[] = [];
    for (const { span, windows } of cut) {
      for (const window of windows) {
        let content: { quantity: number; firstEventSeq: number } | null = { quantity: span.quantity, firstEventSeq: span.firstEventSeq };
        if (windows.length > 1) {
          const inside = (cutEvents.get(span.subscriptionUuid) ?? []).filter((e) => e.time >= window.start && e.time < window.end);
          content = inside.length === 0 ? null : { quantity: inside.reduce((sum, e) => sum + e.quantity, 0), firstEventSeq: Math.min(...inside.map((e) => e.seq)) };
        }
        if (!content || content.quantity <= 0) continue;
        records.push({
          subscriptionUuid: span.subscriptionUuid,
          apiUuid: span.apiUuid,
          windowStart: window.start,
          windowEnd: window.end,
          firstEventSeq: content.firstEventSeq,
          freezeBatch: batch,
          quantity: content.quantity,
          identifier: usageIdentifier({ subscriptionUuid: span.subscriptionUuid, apiUuid: span.apiUuid, window, firstEventSeq: content.firstEventSeq }),
          createdAt,
        });
      }
    }
    return records;
  }

  // --- 2. sending ----------------------------------------------------------------------------

  private async publishPending(runId: string, pacer: Pacer, state: { lost: boolean; failures: Failure[]; sent: number; events: number }): Promise<void> {
    const bySubscription = new Map<string, UsageRecord[]>();
    for (const record of await this.records.pending()) {
      const list = bySubscription.get(record.subscriptionUuid) ?? [];
      list.push(record);
      bySubscription.set(record.subscriptionUuid, list);
    }
    await this.jobs.setProgress(this.deps.db, runId, { subscriptionsTotal: bySubscription.size });
    const refs = await this.deps.lookup.subscriptionRefs([...bySubscription.keys()]);
    await forEachConcurrently([...bySubscription], this.deps.options.concurrency, async ([uuid, records]) => {
      if (state.lost || this.stopping) return;
      const failures = await this.publishSubscription(runId, refs.get(uuid), records, pacer, state);
      for (const reason of failures) state.failures.push({ subscription: uuid, reason });
      await this.jobs.countSubscription(runId, failures.length > 0 ? state.failures.slice(0, MAX_FAILURES_LISTED) : null);
    });
  }

  /** One subscription's records, in window order, one call at a time. Returns why any failed. */
  private async publishSubscription(
    runId: string,
    subscription: SubscriptionRef | undefined,
    records: readonly UsageRecord[],
    pacer: Pacer,
    state: { lost: boolean; sent: number; events: number },
  ): Promise<string[]> {
    const failures: string[] = [];
    for (const record of records) {
      if (state.lost || this.stopping) break;
      const now = this.now();
      const window = `${new Date(record.windowStart).toISOString()}–${new Date(record.windowEnd).toISOString()}`;
      if (!subscription) {
        const reason = `usage of ${window} (${record.quantity} calls) not billed: the subscription no longer exists`;
        await this.records.markClosed(record.id, 'NOT_BILLED', reason);
        failures.push(reason);
        continue;
      }
      if (record.windowStart < now - ENGINE_MAX_AGE_MS) {
        const reason = `usage of ${window} (${record.quantity} calls) is older than the 35 days the billing engine accepts; it was not sent`;
        await this.records.markClosed(record.id, 'EXPIRED', reason);
        failures.push(reason);
        continue;
      }
      if (record.firstAttemptAt !== null && now - record.firstAttemptAt > IDENTIFIER_MEMORY_MS) {
        const reason =
          `usage of ${window} (${record.quantity} calls, identifier ${record.identifier}) was first sent more than 23 h ago without a confirmation; ` +
          'the engine may have forgotten its identifier, so it is not re-sent: check the meter event summaries, then requeue it or leave it';
        await this.records.markClosed(record.id, 'UNCERTAIN', reason);
        failures.push(reason);
        continue;
      }
      const result = await this.send(runId, subscription, record, pacer);
      if (result === 'sent') {
        state.sent += 1;
        state.events += record.quantity;
        continue;
      }
      failures.push(result.reason);
      if (!result.closed) break; // keep the subscription's windows in order: the rest waits for the next job
    }
    return failures;
  }

  private async send(runId: string, subscription: SubscriptionRef, record: UsageRecord, pacer: Pacer): Promise<'sent' | { reason: string; closed: boolean }> {
    await this.records.noteAttempt(record, this.now());
    for (let attempt = 0; ; attempt += 1) {
      await pacer.slot();
      try {
        const outcome = await this.deps.engine.reportUsage({
          subscription,
          quantity: record.quantity,
          windowStart: new Date(record.windowStart),
          windowEnd: new Date(record.windowEnd),
          identifier: record.identifier,
        });
        if (!outcome.sent) {
          const reason = `usage of ${record.quantity} calls not billed: ${outcome.reason}`;
          await this.records.markClosed(record.id, 'NOT_BILLED', reason);
          return { reason, closed: true };
        }
        await this.deps.db.transaction(async (tx) => {
          await this.records.markSent(tx, record.id, this.now());
          await this.jobs.countSent(tx, runId, record.quantity);
        });
        return 'sent';
      } catch (error) {
        const retryable = error instanceof MonetizationError && error.retryable;
        if (retryable && attempt < this.deps.options.retries && !this.stopping) {
          await sleep(this.deps.options.retry_delay_ms * 2 ** attempt);
          continue;
        }
        const reason = describe(error);
        await this.records.noteError(record.id, reason);
        return { reason: `could not send usage of ${record.quantity} calls (${record.identifier}): ${reason}`, closed: false };
      }
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof MonetizationError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
