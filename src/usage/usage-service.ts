import type { UsageIngestion } from './ingest';
import type { Failure, JobPhase, JobStore, Wso2State, Wso2Status } from './job-store';
import type { PublisherOptions } from './options';
import type { UsagePublisher } from './publisher';

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
}

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
  private readonly clock: () => Date;
  private readonly lookBackDays: number;

  constructor(parts: UsageServiceParts) {
    this.ingestion = parts.ingestion;
    this.publisher = parts.publisher;
    this.jobs = parts.jobs;
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
    };
  }
}
