import { UsageOptionsError } from '../options';
import { SourcePositions } from '../source-positions';
import { LocalEventSource } from './local-source';
import type { HourlyUsage, PositionRange, SliceUsage, UsageChunk, UsageSlice, UsageSource, UsageSourceContext } from './usage-source';
import { Wso2AnalyticsLog } from './wso2-analytics-log';

export type { HourlyUsage, PositionRange, SliceUsage, UsageChunk, UsageSlice, UsageSource, UsageSourceContext } from './usage-source';
export { LocalEventSource } from './local-source';
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
  if (!context.wso2AnalyticsLog) return source;
  if (!(source instanceof LocalEventSource)) {
    throw new UsageOptionsError(`apim.monetization.usage_publisher.wso2_analytics_log: the WSO2 analytics log is read into the event store, which only source "local" publishes (source is "${name}")`);
  }
  if (!context.ingest) throw new UsageOptionsError('apim.monetization.usage_publisher.wso2_analytics_log: no ingestion to store its events with');
  const log = new Wso2AnalyticsLog({
    path: context.wso2AnalyticsLog.path,
    positions: new SourcePositions(context.db),
    ingest: context.ingest,
    logger: context.logger.child({ component: 'wso2-analytics-log' }),
    now: () => context.clock().getTime(),
  });
  return new LogFedSource(source, log, context.logger);
}

/**
 * The event store, with the WSO2 gateway's analytics log read into it before each settled
 * position is taken: the log's new lines become events (new, larger SEQs), so the settled-position
 * rule of the event store holds unchanged. Same name and positions as `local`: switching the log
 * on or off never re-reads what was published.
 */
export class LogFedSource implements UsageSource {
  readonly name: string;

  constructor(
    private readonly events: LocalEventSource,
    readonly log: Wso2AnalyticsLog,
    private readonly logger: UsageSourceContext['logger'],
  ) {
    this.name = events.name;
  }

  initialPosition(lookBackStart: number): number {
    return this.events.initialPosition();
  }

  async settledPosition(): Promise<number> {
    try {
      await this.log.read();
    } catch (error) {
      // The usage already stored is still published; the log's unread lines wait for the next read.
      this.logger.error({ err: error }, 'the WSO2 analytics log could not be read; its new calls wait for the next publish');
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
