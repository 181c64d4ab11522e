import type { Knex } from 'knex';
import type { Logger } from '../../logger';
import type { BatchResult, IngestOptions } from '../ingest';

/**
 * A place the publisher reads billable usage from. The local event store (`local`, the
 * default) is one; an analytics service (WSO2 reads Choreo's GraphQL query API or
 * Elasticsearch) would be another. Chosen by `[apim.monetization.usage_publisher] source`.
 *
 * A source is read by **positions**: numbers that only grow, so that "everything after position
 * A up to position B" is a fixed set of usage once B is settled. The publisher stores, per
 * source, the position up to which usage is frozen into records (ML_USAGE_SOURCE_POSITION),
 * and moves it in the transaction that inserts the records. That is the whole exactly-once
 * contract a source has to meet: **a range (after, upTo] with `upTo <= settledPosition()` must
 * read the same every time.** Late usage must therefore land at a later position (the local
 * store: a new event gets a new, larger SEQ), never inside a range already read.
 *
 * - local event store: positions are ML_USAGE_EVENT.SEQ;
 * - a time-based analytics source: positions would be epoch milliseconds of *ingestion* time
 *   (Elasticsearch: an `@ingested` timestamp; Choreo: the time its aggregation of a bucket is
 *   final), with `settledPosition()` lagging the present by the source's own delay. A source that
 *   can only filter by request time has to wait until its request-time buckets are final.
 *
 * Usage is reported per subscription (AM_SUBSCRIPTION.UUID), API and UTC hour; hours cut by a
 * billing-period boundary are then asked again in slices.
 */
export interface UsageSource {
  /** The configured name; also the key of the stored position and ML_USAGE_RECORD.SOURCE. */
  readonly name: string;

  /**
   * Where reading starts when this source was never read. `lookBackStart` is the epoch-ms time
   * of WSO2's first "last publish" (`publish_duration_days` ago).
   * @example local: `0` (every event stored); a time-based source: `lookBackStart`.
   */
  initialPosition(lookBackStart: number): number;

  /**
   * The highest position at which nothing can be added any more.
   * @example local: the largest committed SEQ, read once no insert is in flight.
   */
  settledPosition(): Promise<number>;

  /**
   * Billable usage in (range.after, range.upTo], per subscription, API and UTC hour (hours since
   * the epoch). `part` tells this usage apart from usage of the same subscription and hour read
   * in another range; it ends up in the record's identifier, so it must be a whole number that
   * the same range always gives again.
   * @example local: `{ subscriptionUuid, apiUuid, hour: 493_000, quantity: 12, part: <smallest SEQ> }`;
   *          a time-based source: `part: range.after / 1000`.
   */
  hourlyUsage(range: PositionRange): Promise<HourlyUsage[]>;

  /**
   * The usage in (range.after, range.upTo] of each slice: part of one subscription's hour,
   * `[start, end)` in epoch ms, where a billing period ends. Slices with no usage may be left out.
   * @example `sliceUsage(range, [{ subscriptionUuid, start: 09:00, end: 09:30:12 }, { ..., start: 09:30:12, end: 10:00 }])`
   */
  sliceUsage(range: PositionRange, slices: readonly UsageSlice[]): Promise<SliceUsage[]>;

  /**
   * Optional, in place of `hourlyUsage`: the same usage with each subscription's hours in up to
   * two parts (`from`/`to`), split where `cutOffsets` says its billing periods end (ms into the
   * hour; asked a batch of subscriptions at a time, answering those it knows), so that the hours
   * a period end cuts need no second read (`sliceUsage`); handed out in chunks of about
   * `maxParts` parts at most, so that what the freeze holds is bounded. Each chunk is the whole
   * usage of the next part of the range, (the previous chunk's `upTo` or `range.after`,
   * `upTo`], read the same every time; the last one's `upTo` is `range.upTo`.
   */
  splitHourlyUsage?(
    range: PositionRange,
    cutOffsets: (subscriptionUuids: readonly string[]) => Promise<ReadonlyMap<string, number>>,
    maxParts: number,
  ): AsyncIterable<UsageChunk>;
}

/** A part of a range, (previous chunk's `upTo`, `upTo`], with all of its usage. */
export interface UsageChunk {
  upTo: number;
  usage: HourlyUsage[];
}

export interface PositionRange {
  after: number;
  upTo: number;
}

export interface HourlyUsage {
  subscriptionUuid: string;
  apiUuid: string;
  hour: number;
  quantity: number;
  part: number;
  /** The part of the hour, [from, to) in ms from its start, when the source splits hours (default: all of it). */
  from?: number;
  to?: number;
}

export interface UsageSlice {
  subscriptionUuid: string;
  start: number;
  end: number;
}

export interface SliceUsage extends UsageSlice {
  quantity: number;
  part: number;
}

/** What a source is built with. */
export interface UsageSourceContext {
  db: Knex;
  logger: Logger;
  clock: () => Date;
  /** Ingestion, for intakes that feed the event store (the WSO2 analytics log). */
  ingest?: (events: readonly unknown[], options: IngestOptions) => Promise<BatchResult>;
  /** `[apim.monetization.usage_publisher.wso2_analytics_log]`, when set. */
  wso2AnalyticsLog?: { path: string } | undefined;
  /** `[apim.monetization.usage_publisher.spool]`, when set: a gateway's `spoolUsageSink` directory. */
  spool?: { directory: string } | undefined;
}
