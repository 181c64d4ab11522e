import type { UsageErrorReport } from '../monetization/billing-events';
import type { UsageIngestion } from './ingest';
import type { Failure, JobPhase, JobStore, Wso2State, Wso2Status } from './job-store';
import type { PublisherOptions } from './options';
import type { UsagePublisher } from './publisher';
import type { RecordStore } from './record-store';

/** WSO2's answer to a publish request it accepted, word for word. */
export const PUBLISH_ACCEPTED = { status: 'Request Accepted', message: 'Server is running the usage publisher' } as const;

export type PublishAnswer =
  | { accepted: true; body: typeof PUBLISH_ACCEPTED & { runId: string; resumed: boolean } }
  | { accepted: false; body: { status: string; message: string; runId: string | null; startedTime: string | null } };

/** WSO2's MonetizationUsagePublishInfo (its `lastPublsihedTime` spelling kept) plus progress. */
export interface PublishStatusBody {
  state: Wso2State;
  status: Wso2Status;
  startedTime: string;
  lastPublsihedTime: string;
  progress: {
    runId: string | null;
    phase: JobPhase;
    subscriptionsTotal: number;
    subscriptionsDone: number;
    subscriptionsFailed: number;
    recordsSent: number;
    eventsPublished: number;
    failures: Failure[];
  };
  lease: { owner: string | null; expiresAt: string | null; expired: boolean };
  /**
   * Usage the billing engine accepted and later reported it could not bill (ENGINE_ERROR
   * records), the first {@link ENGINE_ERRORS_LISTED} in subscription and window order.
   */
  engineErrors: EngineErrorEntry[];
}

export interface EngineErrorEntry {
  subscriptionId: string;
  apiId: string;
  /** The usage window, ISO 8601. */
  windowStart: string;
  windowEnd: string;
  quantity: number;
  identifier: string;
  reason: string;
}

export const ENGINE_ERRORS_LISTED = 100;

/** The parts of usage capture and publishing, built once by the composition root (src/composition.ts). */
export interface UsageServiceParts {
  ingestion: UsageIngestion;
  publisher: UsagePublisher;
  jobs: JobStore;
  /** `[apim.monetization.usage_publisher]`, with any overrides. */
  options: PublisherOptions;
  /** `[apim.monetization] publish_duration_days`. */
  lookBackDays: number;
  clock: () => Date;
}

/** Usage capture and publishing: what the REST handlers, the CLI and the schedule call. */
export class UsageService {
  readonly ingestion: UsageIngestion;
  readonly publisher: UsagePublisher;
  readonly options: PublisherOptions;
  private readonly jobs: JobStore;
  private readonly records: RecordStore;
  private readonly clock: () => Date;
  private readonly lookBackDays: number;

  constructor(parts: UsageServiceParts) {
    this.ingestion = parts.ingestion;
    this.publisher = parts.publisher;
    this.jobs = parts.jobs;
    this.records = parts.jobs.records();
    this.options = parts.options;
    this.lookBackDays = parts.lookBackDays;
    this.clock = parts.clock;
  }

  /** POST publish-usage: starts the job in the background, or says which job is running. */
  async publishUsage(): Promise<PublishAnswer> {
    const result = await this.publisher.start();
    if (result.started) return { accepted: true, body: { ...PUBLISH_ACCEPTED, runId: result.runId, resumed: result.resumedFrom !== null } };
    return {
      accepted: false,
      body: {
        status: 'Server could not accept the request',
        message: 'A job is already running',
        runId: result.holder.runId,
        startedTime: result.holder.startedAt === null ? null : String(result.holder.startedAt),
      },
    };
  }

  /** GET publish-usage/status. */
  async publishStatus(): Promise<PublishStatusBody> {
    const now = this.clock().getTime();
    await this.jobs.ensureRows(now, this.lookBackDays);
    const [job, wso2] = await Promise.all([this.jobs.read(), this.jobs.readWso2()]);
    if (!job || !wso2) throw new Error('the usage publisher rows are missing');
    return {
      state: wso2.state,
      status: wso2.status,
      startedTime: wso2.startedTime,
      lastPublsihedTime: wso2.publishedTime,
      progress: {
        runId: job.runId,
        phase: job.phase,
        subscriptionsTotal: job.subscriptionsTotal,
        subscriptionsDone: job.subscriptionsDone,
        subscriptionsFailed: job.subscriptionsFailed,
        recordsSent: job.recordsSent,
        eventsPublished: job.eventsPublished,
        failures: job.failures,
      },
      lease: {
        owner: job.owner,
        expiresAt: job.leaseUntil === null ? null : new Date(job.leaseUntil).toISOString(),
        expired: job.owner !== null && job.leaseUntil !== null && job.leaseUntil < now,
      },
      engineErrors: await this.engineErrors(),
    };
  }

  /**
   * Records the usage errors the engine reported after accepting the usage: each named record
   * becomes ENGINE_ERROR with the engine's reason. `duplicates`: errors noted before (a report
   * delivered again); `unknown`: the identifiers that named none of Meterline's sent usage.
   */
  async recordEngineErrors(report: UsageErrorReport): Promise<{ recorded: number; duplicates: number; unknown: string[] }> {
    let recorded = 0;
    let duplicates = 0;
    const unknown: string[] = [];
    for (const { identifier, reason } of report.errors) {
      const mark = await this.records.markEngineError(identifier, reason);
      if (mark === 'recorded') recorded += 1;
      else if (mark === 'already_recorded') duplicates += 1;
      else unknown.push(identifier);
    }
    return { recorded, duplicates, unknown };
  }

  async engineErrors(subscriptionUuid?: string): Promise<EngineErrorEntry[]> {
    const records = await this.records.list({ state: 'ENGINE_ERROR', limit: ENGINE_ERRORS_LISTED, ...(subscriptionUuid ? { subscriptionUuid } : {}) });
    return records.map((r) => ({
      subscriptionId: r.subscriptionUuid,
      apiId: r.apiUuid,
      windowStart: new Date(r.windowStart).toISOString(),
      windowEnd: new Date(r.windowEnd).toISOString(),
      quantity: r.quantity,
      identifier: r.identifier,
      reason: r.lastError ?? '',
    }));
  }
}
