import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/errors';
import { RecordStore } from './record-store';

type Db = Knex | Knex.Transaction;

export const JOB_TABLE = 'ML_USAGE_PUBLISH_JOB';
export const WSO2_TABLE = 'AM_MONETIZATION_USAGE';
/** The single row's id in both tables, as WSO2 names it. */
export const JOB_ID = 'USAGE_PUBLISHER';

/** WSO2's states and statuses (APIConstants.Monetization), spelling included. */
export type Wso2State = 'INITIATED' | 'RUNNING' | 'COMPLETED';
export type Wso2Status = 'INPROGRESS' | 'SUCCESSFULL' | 'UNSUCCESSFULL' | 'FAILED';
export type JobPhase = 'IDLE' | 'AGGREGATING' | 'PUBLISHING' | 'DONE';

export interface Failure {
  subscription: string;
  reason: string;
}

export interface JobRow {
  owner: string | null;
  leaseUntil: number | null;
  runId: string | null;
  phase: JobPhase;
  outcome: Wso2Status | null;
  startedAt: number | null;
  finishedAt: number | null;
  cutoff: number | null;
  subscriptionsTotal: number;
  subscriptionsDone: number;
  subscriptionsFailed: number;
  recordsSent: number;
  eventsPublished: number;
  lastBatch: number;
  failures: Failure[];
}

export interface Wso2Row {
  state: Wso2State;
  status: Wso2Status;
  startedTime: string;
  publishedTime: string;
}

export type Claim = { claimed: true; runId: string; resumedFrom: string | null } | { claimed: false; holder: JobRow };

/**
 * The publisher's lease and progress (ML_USAGE_PUBLISH_JOB) and WSO2's single-row state
 * (AM_MONETIZATION_USAGE), changed together. The lease is taken by one conditional UPDATE
 * ("no owner, or the owner's lease has expired"), which every database applies atomically,
 * so of any number of processes sharing the database exactly one gets it.
 */
export class JobStore {
  constructor(private readonly db: Knex) {}

  /** The usage records in the same database (the publish status lists those the engine reported errors for). */
  records(): RecordStore {
    return new RecordStore(this.db);
  }

  /** Creates both single rows if missing (a concurrent creator's duplicate-key error is expected). */
  async ensureRows(now: number, lookBackDays: number): Promise<void> {
    if (!(await this.db(JOB_TABLE).where({ ID: JOB_ID }).first('ID'))) {
      await this.insertQuietly(JOB_TABLE, {
        ID: JOB_ID,
        OWNER: null,
        LEASE_UNTIL: null,
        RUN_ID: null,
        PHASE: 'IDLE',
        OUTCOME: null,
        STARTED_AT: null,
        FINISHED_AT: null,
        CUTOFF: null,
        SUBS_TOTAL: 0,
        SUBS_DONE: 0,
        SUBS_FAILED: 0,
        RECORDS_SENT: 0,
        EVENTS_PUBLISHED: 0,
        LAST_BATCH: 0,
        FAILURES: '[]',
      });
    }
    if (!(await this.db(WSO2_TABLE).where({ ID: JOB_ID }).first('ID'))) {
      // As WSO2 does on the first request: the last publish time is `publish_duration_days` ago.
      await this.insertQuietly(WSO2_TABLE, {
        ID: JOB_ID,
        STATE: 'INITIATED',
        STATUS: 'INPROGRESS',
        STARTED_TIME: String(now),
        PUBLISHED_TIME: String(now - lookBackDays * 86_400_000),
      });
    }
  }

  async claim(input: { owner: string; runId: string; now: number; leaseMs: number }): Promise<Claim> {
    const { owner, runId, now, leaseMs } = input;
    // Read outside the transaction, only to say whose run is resumed: the UPDATE decides.
    const before = await this.read();
    return this.db.transaction(async (tx) => {
      // The conditional UPDATE comes first: it is the atomic claim, and on SQLite it takes the
      // write lock at once rather than upgrading a read (which another process could refuse).
      const claimed = await tx(JOB_TABLE)
        .where({ ID: JOB_ID })
        .andWhere((q) => q.whereNull('OWNER').orWhere('LEASE_UNTIL', '<', now))
        .update({
          OWNER: owner,
          LEASE_UNTIL: now + leaseMs,
          RUN_ID: runId,
          PHASE: 'AGGREGATING',
          OUTCOME: null,
          STARTED_AT: now,
          FINISHED_AT: null,
          CUTOFF: now,
          SUBS_TOTAL: 0,
          SUBS_DONE: 0,
          SUBS_FAILED: 0,
          RECORDS_SENT: 0,
          EVENTS_PUBLISHED: 0,
          FAILURES: '[]',
        });
      if (claimed !== 1) return { claimed: false, holder: (await this.read(tx)) ?? emptyJob() };
      await tx(WSO2_TABLE).where({ ID: JOB_ID }).update({ STATE: 'RUNNING', STATUS: 'INPROGRESS', STARTED_TIME: String(now) });
      const resumedFrom = before?.owner && before.leaseUntil !== null && before.leaseUntil < now ? before.runId : null;
      return { claimed: true, runId, resumedFrom };
    });
  }

  /** Extends the lease; false when this owner no longer holds it (it expired and was taken). */
  async renew(db: Db, owner: string, runId: string, until: number): Promise<boolean> {
    const n = await db(JOB_TABLE).where({ ID: JOB_ID, OWNER: owner, RUN_ID: runId }).update({ LEASE_UNTIL: until });
    return n === 1;
  }

  async nextBatch(tx: Knex.Transaction, owner: string, runId: string): Promise<number | undefined> {
    const row = await tx(JOB_TABLE).where({ ID: JOB_ID, OWNER: owner, RUN_ID: runId }).first('LAST_BATCH');
    if (!row) return undefined;
    const batch = Number(row.LAST_BATCH) + 1;
    await tx(JOB_TABLE).where({ ID: JOB_ID }).update({ LAST_BATCH: batch });
    return batch;
  }

  async setProgress(db: Db, runId: string, values: Partial<{ phase: JobPhase; subscriptionsTotal: number }>): Promise<void> {
    const update: Record<string, unknown> = {};
    if (values.phase) update.PHASE = values.phase;
    if (values.subscriptionsTotal !== undefined) update.SUBS_TOTAL = values.subscriptionsTotal;
    await db(JOB_TABLE).where({ ID: JOB_ID, RUN_ID: runId }).update(update);
  }

  /** Counts records sent and the events they carry; called in the transaction that marks them SENT. */
  async countSent(tx: Db, runId: string, records: number, quantity: number): Promise<void> {
    await tx(JOB_TABLE)
      .where({ ID: JOB_ID, RUN_ID: runId })
      .update({ RECORDS_SENT: tx.raw('?? + ?', ['RECORDS_SENT', records]), EVENTS_PUBLISHED: tx.raw('?? + ?', ['EVENTS_PUBLISHED', quantity]) });
  }

  async countSubscription(runId: string, failures: readonly Failure[] | null): Promise<void> {
    const update: Record<string, unknown> = failures
      ? { SUBS_FAILED: this.db.raw('?? + 1', ['SUBS_FAILED']), FAILURES: JSON.stringify(failures) }
      : { SUBS_DONE: this.db.raw('?? + 1', ['SUBS_DONE']) };
    await this.db(JOB_TABLE).where({ ID: JOB_ID, RUN_ID: runId }).update(update);
  }

  async setFailures(runId: string, failures: readonly Failure[]): Promise<void> {
    await this.db(JOB_TABLE).where({ ID: JOB_ID, RUN_ID: runId }).update({ FAILURES: JSON.stringify(failures) });
  }

  /**
   * Ends the run and releases the lease, if this owner still holds it. `publishedUpTo` advances
   * WSO2's last publish time only when every record was sent.
   */
  async finish(input: { owner: string; runId: string; now: number; outcome: Exclude<Wso2Status, 'INPROGRESS'>; publishedUpTo: number | null }): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const released = await tx(JOB_TABLE)
        .where({ ID: JOB_ID, OWNER: input.owner, RUN_ID: input.runId })
        .update({ OWNER: null, LEASE_UNTIL: null, PHASE: 'DONE', OUTCOME: input.outcome, FINISHED_AT: input.now });
      if (released !== 1) return false;
      const wso2: Record<string, unknown> = { STATE: 'COMPLETED', STATUS: input.outcome };
      if (input.publishedUpTo !== null) wso2.PUBLISHED_TIME = String(input.publishedUpTo);
      await tx(WSO2_TABLE).where({ ID: JOB_ID }).update(wso2);
      return true;
    });
  }

  async read(db: Db = this.db): Promise<JobRow | undefined> {
    const row = await db(JOB_TABLE).where({ ID: JOB_ID }).first();
    if (!row) return undefined;
    const optional = (value: unknown) => (value === null || value === undefined ? null : Number(value));
    return {
      owner: row.OWNER === null || row.OWNER === undefined ? null : String(row.OWNER),
      leaseUntil: optional(row.LEASE_UNTIL),
      runId: row.RUN_ID === null || row.RUN_ID === undefined ? null : String(row.RUN_ID),
      phase: String(row.PHASE) as JobPhase,
      outcome: row.OUTCOME === null || row.OUTCOME === undefined ? null : (String(row.OUTCOME) as Wso2Status),
      startedAt: optional(row.STARTED_AT),
      finishedAt: optional(row.FINISHED_AT),
      cutoff: optional(row.CUTOFF),
      subscriptionsTotal: Number(row.SUBS_TOTAL),
      subscriptionsDone: Number(row.SUBS_DONE),
      subscriptionsFailed: Number(row.SUBS_FAILED),
      recordsSent: Number(row.RECORDS_SENT),
      eventsPublished: Number(row.EVENTS_PUBLISHED),
      lastBatch: Number(row.LAST_BATCH),
      failures: parseFailures(row.FAILURES),
    };
  }

  async readWso2(): Promise<Wso2Row | undefined> {
    const row = await this.db(WSO2_TABLE).where({ ID: JOB_ID }).first();
    if (!row) return undefined;
    return {
      state: String(row.STATE) as Wso2State,
      status: String(row.STATUS) as Wso2Status,
      startedTime: String(row.STARTED_TIME),
      publishedTime: String(row.PUBLISHED_TIME),
    };
  }

  private async insertQuietly(table: string, row: Record<string, unknown>): Promise<void> {
    try {
      await this.db(table).insert(row);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      if (!(await this.db(table).where({ ID: JOB_ID }).first('ID'))) throw error;
    }
  }
}

function emptyJob(): JobRow {
  return {
    owner: null,
    leaseUntil: null,
    runId: null,
    phase: 'IDLE',
    outcome: null,
    startedAt: null,
    finishedAt: null,
    cutoff: null,
    subscriptionsTotal: 0,
    subscriptionsDone: 0,
    subscriptionsFailed: 0,
    recordsSent: 0,
    eventsPublished: 0,
    lastBatch: 0,
    failures: [],
  };
}

function parseFailures(text: unknown): Failure[] {
  if (typeof text !== 'string' || text === '') return [];
  try {
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed) ? (parsed as Failure[]) : [];
  } catch {
    return [];
  }
}
