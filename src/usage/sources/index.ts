import { UsageOptionsError } from '../options';
import { SourcePositions } from '../source-positions';
import { LocalEventSource } from './local-source';
import type { HourlyUsage, PositionRange, SliceUsage, UsageChunk, UsageSlice, UsageSource, UsageSourceContext } from './usage-source';
import { SpoolIntake } from './spool';
import { Wso2AnalyticsLog } from './wso2-analytics-log';

export type { HourlyUsage, PositionRange, SliceUsage, UsageChunk, UsageSlice, UsageSource, UsageSourceContext } from './usage-source';
export { LocalEventSource } from './local-source';
export { SpoolIntake, SPOOL_OFFSET_PREFIX, type SpoolReadReport } from './spool';
export { Wso2AnalyticsLog, parseMetricsLine, usageEventOf, type LogReadReport } from './wso2-analytics-log';

/**
 * The usage sources by configured name. To add one (e.g. `choreo`): write a class implementing
 * `UsageSource` in this folder, with a static `identifier`, and register its factory here; its
 * options, if any, get their own table in the config schema beside `source`.
 */
const factories: Record<string, (context: UsageSourceContext) => UsageSource> = {
  [LocalEventSource.identifier]: (context) => new LocalEventSource(context),
};

export const USAGE_SOURCE_NAMES: readonly string[] = Object.keys(factories);

export function createUsageSource(name: string, context: UsageSourceContext): UsageSource {
  const factory = factories[name];
  if (!factory) {
    throw new UsageOptionsError(`apim.monetization.usage_publisher.source: unknown usage source "${name}" (known: ${USAGE_SOURCE_NAMES.join(', ')})`);
  }
  const source = factory(context);
  if (!context.wso2AnalyticsLog && !context.spool) return source;
  const intakes: Array<{ read(): Promise<unknown> }> = [];
  for (const [key, configured] of [['wso2_analytics_log', context.wso2AnalyticsLog], ['spool', context.spool]] as const) {
    if (!configured) continue;
    if (!(source instanceof LocalEventSource)) {
      throw new UsageOptionsError(`apim.monetization.usage_publisher.${key}: it is read into the event store, which only source "local" publishes (source is "${name}")`);
    }
    if (!context.ingest) throw new UsageOptionsError(`apim.monetization.usage_publisher.${key}: no ingestion to store its events with`);
  }
  const positions = new SourcePositions(context.db);
  const now = () => context.clock().getTime();
  let log: Wso2AnalyticsLog | undefined;
  if (context.wso2AnalyticsLog) {
    log = new Wso2AnalyticsLog({ path: context.wso2AnalyticsLog.path, positions, ingest: context.ingest!, logger: context.logger.child({ component: 'wso2-analytics-log' }), now });
    intakes.push(log);
  }
  if (context.spool) {
    intakes.push(new SpoolIntake({ directory: context.spool.directory, positions, ingest: context.ingest!, logger: context.logger.child({ component: 'usage-spool' }), now }));
  }
  return new LogFedSource(source as LocalEventSource, log, context.logger, intakes);
}

/**
 * The event store, with the WSO2 gateway's analytics log and/or a gateway's usage spool read into it before each settled
 * position is taken: the log's new lines become events (new, larger SEQs), so the settled-position
 * rule of the event store holds unchanged. Same name and positions as `local`: switching the log
 * on or off never re-reads what was published.
 */
export class LogFedSource implements UsageSource {
  readonly name: string;

  constructor(
    private readonly events: LocalEventSource,
    /** The WSO2 analytics log, when configured. */
    readonly log: Wso2AnalyticsLog | undefined,
    private readonly logger: UsageSourceContext['logger'],
    /** What is read before each settled position (the log, the gateway's usage spool); default the log. */
    readonly intakes: ReadonlyArray<{ read(): Promise<unknown> }> = log ? [log] : [],
  ) {
    this.name = events.name;
  }

  initialPosition(lookBackStart: number): number {
    return this.events.initialPosition();
  }

  async settledPosition(): Promise<number> {
    for (const intake of this.intakes) {
      try {
        await intake.read();
      } catch (error) {
        // The usage already stored is still published; the unread lines wait for the next read.
        const what = intake === this.log ? 'the WSO2 analytics log' : 'the usage spool';
        this.logger.error({ err: error }, `${what} could not be read; its new calls wait for the next publish`);
      }
    }
    return this.events.settledPosition();
  }

  hourlyUsage(range: PositionRange): Promise<HourlyUsage[]> {
    return this.events.hourlyUsage(range);
  }

  sliceUsage(range: PositionRange, slices: readonly UsageSlice[]): Promise<SliceUsage[]> {
    return this.events.sliceUsage(range, slices);
  }

  splitHourlyUsage(range: PositionRange, cutOffsets: (subscriptionUuids: readonly string[]) => Promise<ReadonlyMap<string, number>>, maxParts: number): AsyncIterable<UsageChunk> {
    return this.events.splitHourlyUsage(range, cutOffsets, maxParts);
  }
}
