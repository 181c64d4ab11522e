import type { Knex } from 'knex';
import type { MeterlineConfig } from '../config/schema';
import type { Logger } from '../logger';
import type { Monetization } from '../monetization/monetization';
import { tenantDirectoryFrom } from '../monetization/tenant-directory';
import { UsageIngestion } from './ingest';
import { JobStore, type Failure, type JobPhase, type Wso2State, type Wso2Status } from './job-store';
import type { PublisherOptions } from './options';
import { UsagePublisher } from './publisher';
import { createUsageSource, type UsageSource } from './sources';
import { SubscriptionLookup } from './subscription-lookup';
import { apimCoreRecords } from '../apim/core-records';

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

export interface UsageServiceDependencies {
  db: Knex;
  engine: Monetization;
  logger: Logger;
  clock?: () => Date;
  config: MeterlineConfig;
  /** Overrides `[apim.monetization.usage_publisher]` (tests). */
  options?: Partial<PublisherOptions>;
  /** A usage source built by the caller instead of the configured one (tests, embedding). */
  source?: UsageSource;
  owner?: string;
}

/** Usage capture and publishing, composed: what the REST handlers, the CLI and the schedule call. */
export class UsageService {
  readonly ingestion: UsageIngestion;
  readonly publisher: UsagePublisher;
  readonly options: PublisherOptions;
  private readonly jobs: JobStore;
  private readonly clock: () => Date;
  private readonly lookBackDays: number;

  constructor(deps: UsageServiceDependencies) {
    this.options = { ...deps.config.apim.monetization.usage_publisher, ...deps.options };
    this.clock = deps.clock ?? (() => new Date());
    const source = deps.source ?? createUsageSource(this.options.source, { db: deps.db, logger: deps.logger, clock: this.clock });
    this.lookBackDays = deps.config.apim.monetization.publish_duration_days;
    const tenants = tenantDirectoryFrom(deps.config);
    const tenantIdOf = (domain: string) => tenants.find(domain)?.id ?? (domain === 'carbon.super' ? -1234 : undefined);
    const now = () => this.clock().getTime();
    this.ingestion = new UsageIngestion(deps.db, new SubscriptionLookup(apimCoreRecords(deps.db), deps.engine, tenantIdOf, this.options.lookup_cache_ms, now), this.clock);
    this.publisher = new UsagePublisher({
      db: deps.db,
      engine: deps.engine,
      lookup: new SubscriptionLookup(apimCoreRecords(deps.db), deps.engine, tenantIdOf, 0, now),
      source,
      logger: deps.logger.child({ component: 'usage-publisher' }),
      clock: this.clock,
      options: this.options,
      lookBackDays: this.lookBackDays,
      ...(deps.owner ? { owner: deps.owner } : {}),
    });
    this.jobs = new JobStore(deps.db);
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
