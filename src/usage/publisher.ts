import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Knex } from 'knex';
import { dialectOf } from '../db/dialect';
import type { SubscriptionRef } from '../domain/model';
import type { Logger } from '../logger';
import { SUPER_TENANT } from '../config/schema';
import { emit, subscriptionFacts, subscriptionLabel } from '../notifications/emit';
import type { Notifier } from '../notifications/events';
import { describeDuration, type UsageTimeLimits } from '../monetization/capabilities';
import { MonetizationError, type Monetization } from '../monetization/monetization';
import { BatchQueue } from './batch-queue';
import { BillingCycles } from './billing-cycles';
import { JobStore, type Failure, type JobRow, type Wso2Status } from './job-store';
import type { PublisherOptions } from './options';
import { forEachConcurrently, Pacer } from './pacer';
import { cutOffsetOf, FREEZE_CHUNK_PARTS, recordsOfRange, usageChunks, type FrozenRecord } from './freezer';
import { forEachPulled, pendingWork } from './pending-work';
import { RecordStore, type UsageRecord } from './record-store';
import { SourcePositions } from './source-positions';
import type { HourlyUsage, UsageSource } from './sources';
import type { SubscriptionLookup } from './subscription-lookup';
import { nextBoundaryAfter, type CycleSpec } from './windows';

/** Our clock and the engine's may disagree: usage is sent this much younger than the engine's limit. */
const CLOCK_DRIFT_MARGIN_MS = 10 * 60_000;
/** A record is re-sent only while the engine surely remembers its identifier: this much before it may forget. */
const IDENTIFIER_MEMORY_MARGIN_MS = 3_600_000;

/** The oldest usage (ms before now) Meterline still sends to the engine, and accepts at ingestion. */
export function oldestSendableMs(limits: UsageTimeLimits): number {
  return limits.backdatingLimitMs - CLOCK_DRIFT_MARGIN_MS;
}

/** How long after a record's first attempt a re-send is still sure not to bill twice. */
function safeResendMs(limits: UsageTimeLimits): number {
  return limits.identifierMemoryMs - IDENTIFIER_MEMORY_MARGIN_MS;
}

/**
 * Where a window stands against the close of its billing period (the period end plus the engine's
 * `periodUsageGraceMs`, after which the period's invoice takes no more usage): `open` while a send
 * surely lands on the invoice; `closing` within the clock-drift margin either side of the close
 * (the margin also covers the engine's asynchronous aggregation), when a send may land or not;
 * `closed` after it, when the engine would accept the usage but never invoice it.
 */
export function periodCloseOf(window: { windowStart: number }, cycle: CycleSpec | undefined, limits: UsageTimeLimits, now: number): { state: 'open' } | { state: 'closing' | 'closed'; periodEnd: number; closesAt: number } {
  if (!cycle || !Number.isFinite(limits.periodUsageGraceMs)) return { state: 'open' };
  const periodEnd = nextBoundaryAfter(cycle, window.windowStart);
  const closesAt = periodEnd + limits.periodUsageGraceMs;
  if (now < closesAt - CLOCK_DRIFT_MARGIN_MS) return { state: 'open' };
  return { state: now < closesAt + CLOCK_DRIFT_MARGIN_MS ? 'closing' : 'closed', periodEnd, closesAt };
}
const MAX_FAILURES_LISTED = 200;

export interface PublisherDependencies {
  db: Knex;
  engine: Monetization;
  lookup: SubscriptionLookup;
  /** Where usage is read (`[apim.monetization.usage_publisher] source`). */
  source: UsageSource;
  logger: Logger;
  clock: () => Date;
  options: PublisherOptions;
  /** Days WSO2's first "last publish time" lies in the past (`publish_duration_days`). */
  lookBackDays: number;
  /** This process, as named in the lease (default host:pid:random). */
  owner?: string;
  /** Records read per query while sending (default SEND_PAGE_RECORDS): what a job holds at once. */
  sendPageSize?: number;
  /** Parts of hours a freeze holds at once (default FREEZE_CHUNK_PARTS): a range with more is frozen in chunks. */
  freezeChunkParts?: number;
  /** Called after each chunk of a freeze is committed, with the position frozen up to (tests kill the process there). */
  freezeProbe?: (frozenUpTo: number) => Promise<void>;
  /** Told usage.publish_failed (a job that failed, per tenant) and usage.records_uncertain (issue 18). */
  notifier?: Notifier;
  /** Told, after each freeze chunk commits, which subscriptions got new usage records (the spend watcher evaluates them at once). Must not throw. */
  onUsageFrozen?: (subscriptionUuids: readonly string[]) => void;
}

/** What a job tells once it ended: its failures by tenant, and the records it left UNCERTAIN by subscription. */
interface JobTold {
  failuresByTenant: Map<string, string[]>;
  uncertain: Map<string, { subscription: SubscriptionRef; records: UsageRecord[] }>;
}

export type StartResult = { started: true; runId: string; resumedFrom: string | null } | { started: false; holder: JobRow };

export interface RunSummary {
  runId: string;
  outcome: Exclude<Wso2Status, 'INPROGRESS'>;
  recordsSent: number;
  eventsPublished: number;
  failures: Failure[];
}

/**
 * The outcome of publishing one subscription's usage now: either nothing of it is left unsent
 * (records the engine will not take — expired, not billed, uncertain — are closed and listed), or
 * why some of it still waits.
 */
/** What `freezeOnly` did: everything frozen, or why not (with this run's failures, when it ran). */
export type FreezeOnlyResult = { frozen: true } | { frozen: false; reason: string; failures: Failure[] };

export type SubscriptionPublishResult =
  | { published: true; recordsSent: number; eventsPublished: number; closed: string[] }
  | { published: false; reason: string };

/** A chunk of a freeze read and cut into records, waiting to be written (`freezeAll`). */
interface PreparedChunk {
  /** It cannot be frozen now (a billing cycle unreadable, the lease lost, stopping): the freeze ends before it. */
  stop: boolean;
  range: { after: number; upTo: number };
  records: FrozenRecord[];
  timings: Record<string, number>;
}

class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

/**
 * The usage publisher. One job at a time across every process sharing the database (a lease in
 * ML_USAGE_PUBLISH_JOB, claimed atomically and renewed while the job runs). A job:
 * 1. freezes the usage source's new usage into usage records: it reads the source's range
 *    (position, settled] grouped per subscription and hour, and in one transaction moves the
 *    source's position and writes the records (window, quantity, identifier), so a crash leaves
 *    either both or neither;
 * 2. sends every PENDING record (this run's and any an earlier run left) to the engine with its
 *    identifier, paced, several subscriptions at a time but one call at a time per subscription
 *    (per customer and meter), and marks it SENT in the transaction that counts the progress.
 * A crash between a send and its mark re-sends the same identifier later, which the engine drops.
 */
export class UsagePublisher {
  readonly owner: string;
  private readonly jobs: JobStore;
  private readonly positions: SourcePositions;
  private readonly records: RecordStore;
  private readonly cycles: BillingCycles;
  /**
   * Records the engine accepted, marked SENT and counted in one transaction per group. One
   * transaction per record made concurrent sends queue on the job row's lock, one disk flush each
   * (durable MariaDB: about 96 records/s, below Stripe's 100 requests/s).
   */
  private readonly sentRecords: BatchQueue<SentRecord, undefined>;
  private running: Promise<RunSummary> | undefined;
  private stopping = false;

  constructor(private readonly deps: PublisherDependencies) {
    this.owner = (deps.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`).slice(0, 200);
    this.jobs = new JobStore(deps.db);
    this.positions = new SourcePositions(deps.db);
    this.records = new RecordStore(deps.db);
    this.cycles = new BillingCycles(deps.db, deps.engine);
    this.sentRecords = new BatchQueue(
      async (group: readonly SentRecord[]) => {
        await this.confirmSent(group);
        return group.map(() => undefined);
      },
      { maxBatch: 500, gatherFirst: false },
    );
  }

  /**
   * Starts a job in the background unless one is running (here or in another process).
   * `quietWhenIdle`: a job that sends nothing and fails nothing logs at debug, not info (the
   * continuous mode starts one every few seconds).
   */
  async start(options: { quietWhenIdle?: boolean } = {}): Promise<StartResult> {
    const now = this.now();
    await this.jobs.ensureRows(now, this.deps.lookBackDays);
    const runId = randomUUID();
    const claim = await this.jobs.claim({ owner: this.owner, runId, now, leaseMs: this.leaseMs });
    if (!claim.claimed) return { started: false, holder: claim.holder };
    if (claim.resumedFrom) this.deps.logger.warn({ runId, resumedFrom: claim.resumedFrom }, 'resuming a usage publish job whose process stopped');
    const quiet = options.quietWhenIdle === true;
    this.deps.logger[quiet ? 'debug' : 'info']({ runId }, 'usage publish job started');
    const run = this.run(runId, quiet).finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return { started: true, runId, resumedFrom: claim.resumedFrom };
  }

  /**
   * Freezes pending usage into records without sending anything (under the lease, like a job):
   * what a job's first phase does. For benchmarks, for inspecting what the next job will send, and
   * for own invoicing before it rates a period. `frozen: false` when it did not freeze everything
   * now: another job holds the lease (`failures` empty), or this run failed part-way (a billing
   * cycle unreadable, the lease lost, an error: listed in `failures`, as on the job's row), so a
   * caller never rates usage a failed run left out.
   */
  async freezeOnly(): Promise<FreezeOnlyResult> {
    const now = this.now();
    await this.jobs.ensureRows(now, this.deps.lookBackDays);
    const runId = randomUUID();
    const claim = await this.jobs.claim({ owner: this.owner, runId, now, leaseMs: this.leaseMs });
    if (!claim.claimed) return { frozen: false, reason: `a usage publish job is running (run ${claim.holder.runId ?? 'unknown'})`, failures: [] };
    const state = { lost: false, failures: [] as Failure[] };
    try {
      await this.freezeAll(runId, new Pacer(this.deps.options.requests_per_second), state);
      if (state.lost) state.failures.push({ subscription: '*', reason: 'the lease expired and another process took the job over' });
    } catch (error) {
      state.failures.push({ subscription: '*', reason: `the freeze failed: ${describe(error)}` });
    }
    const failures = state.failures.slice(0, MAX_FAILURES_LISTED);
    try {
      if (failures.length > 0) await this.jobs.setFailures(runId, failures);
      await this.jobs.finish({ owner: this.owner, runId, now: this.now(), outcome: failures.length ? 'UNSUCCESSFULL' : 'SUCCESSFULL', publishedUpTo: null });
    } catch (error) {
      this.deps.logger.error({ err: error, runId }, 'could not record the end of a freeze; its lease will expire');
    }
    if (failures.length === 0) return { frozen: true };
    this.deps.logger.warn({ runId, failures }, 'usage freeze had failures');
    return { frozen: false, reason: `the usage could not all be frozen: ${failures.map((f) => f.reason).join('; ')}`, failures };
  }

  /**
   * A subscription's calls stamped in [from, to) without freezing anything: its usage records
   * whose window starts there plus the source's not-yet-frozen usage of it (after the frozen
   * position, up to the settled one), read directly. What a freeze followed by a sum of the
   * records would answer, for a view that must not freeze (own invoicing's pending invoice). The
   * frozen position is read before and after: when a freeze moved it in between (its records might
   * be counted twice), it is read again, up to three times.
   */
  async callsWithoutFreezing(subscriptionUuid: string, from: Date, to: Date): Promise<number> {
    const source = this.deps.source;
    const position = async () => (await this.positions.read(source.name)) ?? source.initialPosition(this.now() - this.deps.lookBackDays * 86_400_000);
    let total = 0;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const after = await position();
      const records = await this.records.list({ subscriptionUuid, windowsFrom: from.getTime(), windowsTo: to.getTime() });
      total = records.reduce((sum, record) => sum + record.quantity, 0);
      const upTo = await source.settledPosition();
      if (upTo > after) {
        for (const slice of await source.sliceUsage({ after, upTo }, [{ subscriptionUuid, start: from.getTime(), end: to.getTime() }])) total += slice.quantity;
      }
      if ((await position()) === after) break;
    }
    return total;
  }

  /**
   * Publishes one subscription's usage now, before it is cancelled, as a short job under the
   * same lease: freezes the source's new usage like any job (so this subscription's usage gets
   * the identifiers a scheduled job would give it, and the other subscriptions' records wait for
   * the next job), then sends this subscription's PENDING records, once each (the engine retries
   * its own calls; what still fails makes the caller answer "try again later").
   * When another job holds the lease it answers `published: false` and changes nothing, so two
   * jobs never send the same record; the status endpoint shows this run like any other, except
   * that WSO2's last publish time does not move.
   */
  async publishSubscriptionNow(subscriptionUuid: string): Promise<SubscriptionPublishResult> {
    const now = this.now();
    await this.jobs.ensureRows(now, this.deps.lookBackDays);
    const runId = randomUUID();
    const claim = await this.jobs.claim({ owner: this.owner, runId, now, leaseMs: this.leaseMs });
    if (!claim.claimed) return { published: false, reason: `a usage publish job is running (run ${claim.holder.runId ?? 'unknown'})` };
    const state = { lost: false, failures: [] as Failure[], sent: 0, events: 0 };
    let result: SubscriptionPublishResult;
    try {
      const pacer = new Pacer(this.deps.options.requests_per_second);
      await this.freezeAll(runId, pacer, state);
      if (state.failures.length > 0) {
        result = { published: false, reason: `its usage could not be frozen: ${state.failures.map((f) => f.reason).join('; ')}` };
      } else {
        await this.jobs.setProgress(this.deps.db, runId, { phase: 'PUBLISHING', subscriptionsTotal: 1 });
        const records = await this.records.list({ subscriptionUuid, state: 'PENDING' });
        const refs = await this.deps.lookup.subscriptionRefs([subscriptionUuid]);
        const cycles = await this.cycles.known([subscriptionUuid]);
        const failures = await this.publishSubscription(runId, refs.get(subscriptionUuid), cycles.get(subscriptionUuid), records, pacer, state);
        for (const reason of failures) state.failures.push({ subscription: subscriptionUuid, reason });
        await this.jobs.countSubscription(runId, failures.length > 0 ? state.failures.slice(0, MAX_FAILURES_LISTED) : null);
        if (state.lost) throw new LeaseLostError('the lease expired and another process took the job over');
        const left = await this.records.list({ subscriptionUuid, state: 'PENDING' });
        result =
          left.length === 0
            ? { published: true, recordsSent: state.sent, eventsPublished: state.events, closed: failures }
            : { published: false, reason: failures.join('; ') || `${left.length} usage record(s) are not due yet` };
      }
    } catch (error) {
      result = { published: false, reason: describe(error) };
      state.failures.push({ subscription: subscriptionUuid, reason: result.reason });
    }
    try {
      await this.jobs.setFailures(runId, state.failures.slice(0, MAX_FAILURES_LISTED));
      await this.jobs.finish({ owner: this.owner, runId, now: this.now(), outcome: result.published ? 'SUCCESSFULL' : 'UNSUCCESSFULL', publishedUpTo: null });
    } catch (error) {
      this.deps.logger.error({ err: error, runId }, 'could not record the end of a subscription\'s usage publish; its lease will expire');
    }
    this.deps.logger.info({ runId, subscription: subscriptionUuid, ...result }, 'usage of one subscription published');
    return result;
  }

  /**
   * What the engine accepted of one subscription's usage stamped in [from, to), and when the
   * last of it was sent: records with a sent time the engine has not reported failed since
   * (ENGINE_ERROR). Unsubscribing hands it to the engine (`SentUsage`).
   */
  async sentUsage(subscriptionUuid: string, from: Date, to: Date): Promise<{ quantity: number; lastSentAt: Date | null }> {
    const sent = (await this.records.list({ subscriptionUuid })).filter(
      (r) => r.sentAt !== null && r.state !== 'ENGINE_ERROR' && r.windowStart >= from.getTime() && r.windowStart < to.getTime(),
    );
    const last = sent.reduce<number | null>((latest, r) => (latest === null || r.sentAt! > latest ? r.sentAt : latest), null);
    return { quantity: sent.reduce((n, r) => n + r.quantity, 0), lastSentAt: last === null ? null : new Date(last) };
  }

  /**
   * The first end of a billing period strictly after `after` (epoch ms) among the subscriptions
   * whose usage the publisher bills (those whose billing cycle it knows); null when there is none.
   * What the period-end trigger (period-end-trigger.ts) waits for.
   */
  async nextPeriodEnd(after: number): Promise<number | null> {
    let next: number | null = null;
    for (const cycle of (await this.cycles.all()).values()) {
      const end = nextBoundaryAfter(cycle, after);
      if (next === null || end < next) next = end;
    }
    return next;
  }

  /** How long after a period ends the engine still invoices its usage (the engine's capability). */
  get periodUsageGraceMs(): number {
    return this.deps.engine.capabilities.usage.periodUsageGraceMs;
  }

  /** The clock the publisher runs on. */
  get clock(): () => Date {
    return this.deps.clock;
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

  private async run(runId: string, quietWhenIdle = false): Promise<RunSummary> {
    const told: JobTold = { failuresByTenant: new Map(), uncertain: new Map() };
    const state = { lost: false, failures: [] as Failure[], sent: 0, events: 0, told };
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
      await this.freezeAll(runId, pacer, state);
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
    const idle = outcome === 'SUCCESSFULL' && state.sent === 0 && state.failures.length === 0;
    this.deps.logger[quietWhenIdle && idle ? 'debug' : 'info']({ runId, outcome, recordsSent: state.sent, eventsPublished: state.events, failures: state.failures.length }, 'usage publish job ended');
    if (!this.stopping) await this.tellJob(runId, outcome, state.failures, told);
    return { runId, outcome, recordsSent: state.sent, eventsPublished: state.events, failures: state.failures };
  }

  /**
   * After a job: usage.records_uncertain per subscription whose records it closed UNCERTAIN (the
   * id names the first such record's identifier: each record becomes UNCERTAIN once), and
   * usage.publish_failed per tenant when the job did not succeed (the id names the job's run;
   * failures of no tenant's subscription, e.g. the job itself failing, go to the super tenant).
   */
  private async tellJob(runId: string, outcome: RunSummary['outcome'], failures: readonly Failure[], told: JobTold): Promise<void> {
    const notifier = this.deps.notifier;
    if (!notifier) return;
    const at = this.deps.clock();
    for (const { subscription, records } of told.uncertain.values()) {
      const tenant = subscription.api.tenant.domain;
      const calls = records.reduce((sum, r) => sum + r.quantity, 0);
      await emit(
        notifier,
        {
          id: `usage.records_uncertain:${tenant}:${subscription.uuid}:${records[0]!.identifier}`,
          type: 'usage.records_uncertain',
          tenantDomain: tenant,
          occurredAt: at,
          summary:
            `${records.length} usage record(s) (${calls} calls) of ${subscriptionLabel(subscription)} may or may not have been billed: ` +
            'they were sent without a confirmation too long ago to send again; check the engine, then requeue them or leave them.',
          data: {
            ...subscriptionFacts(subscription),
            runId,
            records: records.length,
            calls,
            identifiers: records.map((r) => r.identifier).join(','),
            firstWindowStart: new Date(Math.min(...records.map((r) => r.windowStart))).toISOString(),
          },
        },
        this.deps.logger,
      );
    }
    if (outcome === 'SUCCESSFULL') return;
    const byTenant = new Map(told.failuresByTenant);
    const elsewhere = failures.filter((f) => f.subscription === '*').map((f) => f.reason);
    if (elsewhere.length > 0 || byTenant.size === 0) byTenant.set(SUPER_TENANT.domain, [...(byTenant.get(SUPER_TENANT.domain) ?? []), ...elsewhere]);
    for (const [tenant, reasons] of byTenant) {
      const shown = reasons.slice(0, 3).join('; ');
      await emit(
        this.deps.notifier!,
        {
          id: `usage.publish_failed:${tenant}:${runId}`,
          type: 'usage.publish_failed',
          tenantDomain: tenant,
          occurredAt: at,
          summary: `Usage publish job ${runId} ${outcome === 'FAILED' ? 'failed' : 'ended with failures'}: ${shown || 'see its status'}${reasons.length > 3 ? ` (and ${reasons.length - 3} more)` : ''}`,
          data: { runId, outcome, failures: reasons.length, firstFailure: reasons[0] ?? null },
        },
        this.deps.logger,
      );
    }
  }

  // --- 1. freezing ---------------------------------------------------------------------------

  /**
   * Freezes the source's new usage, (position, settled], into records, a chunk of the range at a
   * time (`usageChunks`: at most about `freezeChunkParts` parts of hours held at once): per chunk
   * its usage, the billing cycles of its subscriptions and its records (`prepareChunk`), then one
   * transaction that checks the lease, moves the source's position from the chunk's start to its
   * end (only if it is still at the start) and inserts the chunk's records (`writeChunk`). A crash
   * leaves each chunk either all frozen or not at all, and the next job reads on from the last
   * chunk frozen; no event row is written.
   *
   * On a database server the next chunk is read and cut into records while this one is written
   * (two stages: the server writes while Node reads and sums), so at most two chunks are held. The
   * read only reads settled events, and chunks still commit one after another in order. SQLite
   * prepares after writing: its one connection is the transaction's, and its reads block anyway.
   */
  private async freezeAll(runId: string, pacer: Pacer, state: { lost: boolean; failures: Failure[] }): Promise<void> {
    const source = this.deps.source;
    const stored = await this.positions.read(source.name);
    const after = stored ?? source.initialPosition(this.now() - this.deps.lookBackDays * 86_400_000);
    const upTo = await source.settledPosition();
    if (upTo <= after || state.lost || this.stopping) return;
    let existed = stored !== undefined;
    // The cycles known so far split each hour where its subscription's periods end, in the read.
    const cycles = new Map<string, CycleSpec>();
    const knownCuts = async (uuids: readonly string[]) => {
      const offsets = new Map<string, number>();
      for (const [uuid, cycle] of await this.cycles.known(uuids)) {
        cycles.set(uuid, cycle);
        offsets.set(uuid, cutOffsetOf(cycle));
      }
      return offsets;
    };
    const chunks = usageChunks(source, { after, upTo }, knownCuts, this.deps.freezeChunkParts ?? FREEZE_CHUNK_PARTS);
    const prepareFrom = async (chunkAfter: number): Promise<PreparedChunk | undefined> => {
      const readFrom = performance.now();
      const next = await chunks.next();
      if (next.done) return undefined;
      const readMs = Math.round(performance.now() - readFrom);
      return this.prepareChunk(pacer, state, { after: chunkAfter, upTo: next.value.upTo }, next.value.usage, cycles, readMs);
    };
    const pipelined = dialectOf(this.deps.db) !== 'sqlite';
    let preparing: Promise<PreparedChunk | undefined> | undefined = prepareFrom(after);
    try {
      for (;;) {
        const prepared: PreparedChunk | undefined = await preparing;
        preparing = undefined;
        if (prepared === undefined || prepared.stop) return;
        if (pipelined) {
          preparing = prepareFrom(prepared.range.upTo);
          // Handled now, awaited after the write: a failed read must not go unhandled meanwhile.
          preparing.catch(() => undefined);
        }
        await this.writeChunk(runId, prepared, existed);
        existed = true;
        await this.deps.freezeProbe?.(prepared.range.upTo);
        if (!pipelined) preparing = prepareFrom(prepared.range.upTo);
      }
    } finally {
      // A chunk read ahead of a write that failed is dropped (its reads changed nothing).
      await preparing?.catch(() => undefined);
      await chunks.return(undefined);
    }
  }

  /**
   * A chunk's billing cycles (read, or fetched from the engine for subscriptions not yet known)
   * and its records (`freezeAll`); `stop` when it cannot be frozen (a cycle unreadable, stopping).
   */
  private async prepareChunk(
    pacer: Pacer,
    state: { lost: boolean; failures: Failure[] },
    range: { after: number; upTo: number },
    hourly: readonly HourlyUsage[],
    cycles: Map<string, CycleSpec>,
    readMs: number,
  ): Promise<PreparedChunk> {
    const source = this.deps.source;
    const timings: Record<string, number> = { readMs };
    let mark = performance.now();
    const lap = (name: string) => {
      timings[name] = Math.round(performance.now() - mark);
      mark = performance.now();
    };
    const subscriptions = [...new Set(hourly.map((h) => h.subscriptionUuid))].filter((uuid) => !cycles.has(uuid));
    for (const [uuid, cycle] of await this.cycles.known(subscriptions)) cycles.set(uuid, cycle);
    const unknown = subscriptions.filter((uuid) => !cycles.has(uuid));
    const refs = await this.deps.lookup.subscriptionRefs(unknown);
    let unreadable = 0;
    await forEachConcurrently(unknown, this.deps.options.concurrency, async (uuid) => {
      const ref = refs.get(uuid);
      if (!ref || state.lost || this.stopping) return; // no subscription: one window per span, reported when sent
      try {
        await pacer.slot();
        const cycle = await this.cycles.fetch(ref, this.now());
        if (cycle) cycles.set(uuid, cycle);
      } catch (error) {
        unreadable += 1;
        state.failures.push({ subscription: uuid, reason: `could not read the billing cycle, so no new usage is frozen until it can be: ${describe(error)}` });
      }
    });
    // Windows are cut at period ends: without a cycle the range cannot be frozen correctly, and
    // its usage cannot be left out either (the position covers the whole range), so it waits.
    if (unreadable > 0 || state.lost || this.stopping) return { stop: true, range, records: [], timings };
    lap('cyclesMs');
    const records = await recordsOfRange({ source, range, hourly, cycles, windowHours: this.deps.options.window_hours, now: () => this.now() });
    lap('windowsMs');
    return { stop: false, range, records, timings };
  }

  /** Writes a prepared chunk: its position and its records, in one transaction (`freezeAll`). */
  private async writeChunk(runId: string, chunk: PreparedChunk, existed: boolean): Promise<void> {
    const source = this.deps.source;
    const { range, records } = chunk;
    const started = performance.now();
    await this.deps.db.transaction(async (tx) => {
      // The lease check is the transaction's first statement: a job that lost its lease never freezes.
      if (!(await this.jobs.renew(tx, this.owner, runId, this.now() + this.leaseMs))) throw new LeaseLostError('lost the lease while freezing');
      const batch = await this.jobs.nextBatch(tx, this.owner, runId);
      if (batch === undefined) throw new LeaseLostError('lost the lease while freezing');
      if (!(await this.positions.advance(tx, source.name, range.after, range.upTo, existed, this.now()))) {
        throw new LeaseLostError(`the ${source.name} usage source was frozen past ${range.after} by another job`);
      }
      // One call: the record store writes in statements of its own size, each built while the one before runs.
      await this.records.insert(tx, records, batch);
    });
    const writeMs = Math.round(performance.now() - started);
    this.deps.logger.info({ runId, source: source.name, range, records: records.length, ...chunk.timings, writeMs }, 'usage frozen into records');
    if (records.length > 0) this.deps.onUsageFrozen?.([...new Set(records.map((r) => r.subscriptionUuid))]);
  }

  // --- 2. sending ----------------------------------------------------------------------------

  /**
   * Sends every PENDING record, reading them a page at a time (pendingWork): memory stays bounded
   * at any number of subscriptions, and a subscription's records still go one at a time, in order.
   */
  private async publishPending(runId: string, pacer: Pacer, state: { lost: boolean; failures: Failure[]; sent: number; events: number; told?: JobTold }): Promise<void> {
    await this.jobs.setProgress(this.deps.db, runId, { subscriptionsTotal: await this.records.pendingSubscriptionCount() });
    const work = pendingWork({ records: this.records, lookup: this.deps.lookup, cycles: this.cycles }, this.deps.sendPageSize);
    let unlisted = 0;
    await forEachPulled(work, this.deps.options.concurrency, async ({ subscriptionUuid, ref, cycle, records }) => {
      if (state.lost || this.stopping) return;
      const failures = await this.publishSubscription(runId, ref, cycle, records, pacer, state);
      if (ref && failures.length > 0 && state.told) {
        const tenant = ref.api.tenant.domain;
        state.told.failuresByTenant.set(tenant, [...(state.told.failuresByTenant.get(tenant) ?? []), ...failures.map((reason) => `${subscriptionLabel(ref)}: ${reason}`)]);
      }
      for (const reason of failures) {
        // As many are listed as the status shows; the rest only counted, so a job in which every
        // subscription fails does not hold all their reasons (each record keeps its own).
        if (state.failures.length < MAX_FAILURES_LISTED - 1) state.failures.push({ subscription: subscriptionUuid, reason });
        else unlisted += 1;
      }
      await this.jobs.countSubscription(runId, failures.length > 0 ? state.failures.slice(0, MAX_FAILURES_LISTED) : null);
    }, () => state.lost || this.stopping);
    if (unlisted > 0) state.failures.push({ subscription: '*', reason: `${unlisted} more failures are not listed: each record's reason is in its LAST_ERROR` });
  }

  /**
   * One subscription's records, in window order, one call at a time. Returns why any failed, and
   * reports every window that missed (or may have missed) its billing period's invoice.
   */
  private async publishSubscription(
    runId: string,
    subscription: SubscriptionRef | undefined,
    cycle: CycleSpec | undefined,
    records: Iterable<UsageRecord> | AsyncIterable<UsageRecord>,
    pacer: Pacer,
    state: { lost: boolean; sent: number; events: number; told?: JobTold },
  ): Promise<string[]> {
    const failures: string[] = [];
    for await (const record of records) {
      if (state.lost || this.stopping) break;
      const now = this.now();
      // Usage stamped a little ahead (the engine's `futureToleranceMs`, allowed at ingestion) can
      // open a window that has not started yet: it waits for the next job, and so do the windows after it.
      if (record.windowStart > now) break;
      const window = `${new Date(record.windowStart).toISOString()}–${new Date(record.windowEnd).toISOString()}`;
      if (!subscription) {
        const reason = `usage of ${window} (${record.quantity} calls) not billed: the subscription no longer exists`;
        await this.records.markClosed(record.id, 'NOT_BILLED', reason);
        failures.push(reason);
        continue;
      }
      const limits = this.deps.engine.capabilities.usage;
      if (record.windowStart < now - oldestSendableMs(limits)) {
        const reason = `usage of ${window} (${record.quantity} calls) is older than the ${describeDuration(limits.backdatingLimitMs)} the billing engine accepts; it was not sent`;
        await this.records.markClosed(record.id, 'EXPIRED', reason);
        failures.push(reason);
        continue;
      }
      if (record.firstAttemptAt !== null && now - record.firstAttemptAt > safeResendMs(limits)) {
        const reason =
          `usage of ${window} (${record.quantity} calls, identifier ${record.identifier}) was first sent more than ${describeDuration(safeResendMs(limits))} ago without a confirmation; ` +
          'the engine may have forgotten its identifier, so it is not re-sent: check the meter event summaries, then requeue it or leave it';
        await this.records.markClosed(record.id, 'UNCERTAIN', reason);
        if (state.told) {
          const entry = state.told.uncertain.get(subscription.uuid) ?? { subscription, records: [] };
          entry.records.push(record);
          state.told.uncertain.set(subscription.uuid, entry);
        }
        failures.push(reason);
        continue;
      }
      const close = periodCloseOf(record, cycle, limits, now);
      const closing = close.state === 'open' ? '' : `the billing period ending ${new Date(close.periodEnd).toISOString()} closed to usage at ${new Date(close.closesAt).toISOString()} (the engine takes a period's usage for ${describeDuration(limits.periodUsageGraceMs)} after it ends)`;
      if (close.state === 'closed') {
        const reason = `usage of ${window} (${record.quantity} calls) missed its invoice and was not sent: ${closing}`;
        await this.records.markClosed(record.id, 'MISSED', reason);
        failures.push(reason);
        continue;
      }
      const missed = close.state === 'closing' ? `usage of ${window} (${record.quantity} calls, identifier ${record.identifier}) was sent as ${closing}, so it may be missing from that invoice: check it` : undefined;
      const result = await this.send(runId, subscription, record, pacer, missed);
      if (result === 'sent') {
        state.sent += 1;
        state.events += record.quantity;
        if (missed) failures.push(missed);
        continue;
      }
      failures.push(result.reason);
      if (!result.closed) break; // keep the subscription's windows in order: the rest waits for the next job
    }
    return failures;
  }

  /**
   * Sends one record once. The engine retries its own calls (its one retry layer: which errors,
   * how often, what backoff); an error that reaches here is final for this job, so the record
   * stays PENDING with its error noted and the next job sends it again with the same identifier.
   */
  private async send(runId: string, subscription: SubscriptionRef, record: UsageRecord, pacer: Pacer, missedReason?: string): Promise<'sent' | { reason: string; closed: boolean }> {
    await this.records.noteAttempt(record, this.now());
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
      await this.sentRecords.add({ runId, id: record.id, quantity: record.quantity, missedReason });
      return 'sent';
    } catch (error) {
      const reason = describe(error);
      await this.records.noteError(record.id, reason);
      return { reason: `could not send usage of ${record.quantity} calls (${record.identifier}): ${reason}`, closed: false };
    }
  }

  /** Marks a group of accepted records SENT (or MISSED) and adds them to their jobs' counts, all or nothing. */
  private async confirmSent(group: readonly SentRecord[]): Promise<void> {
    const byRun = new Map<string, { records: number; quantity: number }>();
    for (const sent of group) {
      const run = byRun.get(sent.runId) ?? { records: 0, quantity: 0 };
      run.records += 1;
      run.quantity += sent.quantity;
      byRun.set(sent.runId, run);
    }
    await this.deps.db.transaction(async (tx) => {
      await this.records.markManySent(tx, group, this.now());
      for (const [runId, run] of byRun) await this.jobs.countSent(tx, runId, run.records, run.quantity);
    });
  }
}

/** A record the engine accepted, to be marked SENT and counted in its job. */
interface SentRecord {
  runId: string;
  id: number;
  quantity: number;
  missedReason: string | undefined;
}

function describe(error: unknown): string {
  if (error instanceof MonetizationError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
