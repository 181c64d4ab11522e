import { configSchema } from '../../src/config/schema';
import { migrateLatest } from '../helpers/migrations';
import { createLogger } from '../../src/logger';
import { UsageOptionsError } from '../../src/usage/options';
import { RecordStore } from '../../src/usage/record-store';
import { createUsageSource, LocalEventSource, type HourlyUsage, type PositionRange, type SliceUsage, type UsageSlice, type UsageSource } from '../../src/usage/sources';
import { apimCoreRecords } from '../../src/apim/core-records';
import { composeUsage } from '../../src/composition';
import { tenantDirectoryFrom } from '../../src/monetization/tenant-directory';
import { HOUR_MS } from '../../src/usage/windows';
import { forEachTestDatabase } from '../helpers/databases';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { callEvent, minutesAfter, monetizedWorld, TEST_OPTIONS, type BilledSubscription } from './world';
import { STORY_START } from '../helpers/test-clock';

const START = Date.UTC(2030, 2, 3, 9, 0, 0) / 1000;
let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer({ port: 0, startAt: START });
});
afterAll(() => server.close());

/**
 * A pulled source as an analytics service would be: counts per subscription and hour that
 * arrive at "ingestion times" (its positions, epoch ms), settled up to `settled`.
 */
class AnalyticsLikeSource implements UsageSource {
  readonly name = 'analytics-fake';
  settled = 0;
  readonly counts: Array<{ at: number; usage: Omit<HourlyUsage, 'part'> }> = [];
  readonly ranges: PositionRange[] = [];

  initialPosition(lookBackStart: number): number {
    return lookBackStart;
  }
  async settledPosition(): Promise<number> {
    return this.settled;
  }
  async hourlyUsage(range: PositionRange): Promise<HourlyUsage[]> {
    this.ranges.push(range);
    return this.counts.filter((c) => c.at > range.after && c.at <= range.upTo).map((c) => ({ ...c.usage, part: Math.floor(range.after / 1000) }));
  }
  async sliceUsage(_range: PositionRange, _slices: readonly UsageSlice[]): Promise<SliceUsage[]> {
    throw new Error('no hour of this test is cut by a period end');
  }
}

describe('choosing the usage source', () => {
  it('an unknown source name stops start-up, naming the key and the known sources', () => {
    const config = configSchema.parse({ apim: { monetization: { usage_publisher: { source: 'choreo' } } } });
    const build = () => createUsageSource(config.apim.monetization.usage_publisher.source, { db: {} as never, logger: createLogger('silent'), clock: () => new Date(STORY_START * 1000) });
    expect(build).toThrow(UsageOptionsError);
    expect(build).toThrow('apim.monetization.usage_publisher.source: unknown usage source "choreo" (known: local)');
  });

  it('"local" (the default) is the event store', () => {
    const source = createUsageSource(configSchema.parse({}).apim.monetization.usage_publisher.source, { db: {} as never, logger: createLogger('silent'), clock: () => new Date(STORY_START * 1000) });
    expect(source).toBeInstanceOf(LocalEventSource);
    expect(source.name).toBe('local');
    expect(source.initialPosition(123)).toBe(0);
  });
});

forEachTestDatabase((kind, database) => {
  beforeAll(() => migrateLatest(database().knex));
  beforeEach(async () => {
    for (const table of ['ML_USAGE_EVENT', 'ML_USAGE_RECORD', 'ML_USAGE_PUBLISH_JOB', 'AM_MONETIZATION_USAGE', 'ML_USAGE_SOURCE_POSITION']) await database().knex(table).delete();
  });

  it('the local source reads billable usage of a SEQ range per subscription and hour, its first SEQ as the part', async () => {
    server.clock.advanceTo(Math.ceil(server.clock.now() / 3600) * 3600);
    const t0 = new Date(server.clock.now() * 1000);
    const world = await monetizedWorld(server, database().knex, 1);
    const [a] = world.billed as [BilledSubscription];
    server.clock.advance(2 * 3600);
    // One call each: a batch's rows are numbered in (tenant, event id) order, not in batch order.
    for (const event of [callEvent(a, minutesAfter(t0, 1)), callEvent(a, minutesAfter(t0, 2)), callEvent(a, minutesAfter(t0, 61)), callEvent(a, minutesAfter(t0, 3), { httpStatus: 503 })]) {
      await world.usage.ingestion.ingest([event]);
    }
    const source = new LocalEventSource({ db: database().knex });
    const seqs = (await database().knex('ML_USAGE_EVENT').orderBy('SEQ').select('SEQ')).map((r) => Number(r.SEQ));
    const upTo = await source.settledPosition();
    expect(upTo).toBe(seqs[3]);
    const hour = t0.getTime() / HOUR_MS;
    expect((await source.hourlyUsage({ after: 0, upTo })).sort((x, y) => x.hour - y.hour)).toEqual([
      { subscriptionUuid: a.subscription.uuid, apiUuid: a.subscription.api.uuid, hour, quantity: 2, part: seqs[0] },
      { subscriptionUuid: a.subscription.uuid, apiUuid: a.subscription.api.uuid, hour: hour + 1, quantity: 1, part: seqs[2] },
    ]);
    expect(await source.hourlyUsage({ after: seqs[0]!, upTo: seqs[1]! })).toEqual([expect.objectContaining({ hour, quantity: 1, part: seqs[1] })]);
    const slices = [
      { subscriptionUuid: a.subscription.uuid, start: t0.getTime(), end: minutesAfter(t0, 2).getTime() },
      { subscriptionUuid: a.subscription.uuid, start: minutesAfter(t0, 2).getTime(), end: minutesAfter(t0, 60).getTime() },
    ];
    expect(await source.sliceUsage({ after: 0, upTo }, slices)).toEqual([
      { ...slices[0], quantity: 1, part: seqs[0] },
      { ...slices[1], quantity: 1, part: seqs[1] },
    ]);
  });

  it('the settled position never passes an insert still in flight (its lower SEQ would be skipped)', async () => {
    const db = database().knex;
    const source = new LocalEventSource({ db });
    const row = (id: string) => ({
      EVENT_ID: id, EVENT_TIME: 1, EVENT_HOUR: 0, API_UUID: 'api', APPLICATION_UUID: 'app', SUBSCRIPTION_UUID: 'sub', CONSUMER_KEY: null,
      TENANT_DOMAIN: 'carbon.super', HTTP_STATUS: 200, QUANTITY: 1, RECEIVED_AT: 1, PUBLISH_STATE: 1, NOT_BILLABLE: null,
    });
    await db('ML_USAGE_EVENT').insert(row(`before-${kind}`));
    const trx = await db.transaction();
    await trx('ML_USAGE_EVENT').insert(row(`in-flight-${kind}`));
    const seq = Number((await trx('ML_USAGE_EVENT').where({ EVENT_ID: `in-flight-${kind}` }).first('SEQ'))?.SEQ);
    let settled: number | undefined;
    const reading = source.settledPosition().then((position) => (settled = position));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const answeredBeforeCommit = settled !== undefined;
    await trx.commit();
    await reading;
    // Either the read waited for the commit and covers the row, or it answered below the row.
    expect(answeredBeforeCommit ? settled! < seq : settled! >= seq).toBe(true);
    if (kind !== 'sqlite') expect(answeredBeforeCommit).toBe(false); // PostgreSQL, MySQL: the lock waits
  });

  it('the publisher reads through a plugged-in source: each settled range once, the position kept with the records', async () => {
    server.clock.advanceTo(Math.ceil(server.clock.now() / 3600) * 3600);
    const t0 = new Date(server.clock.now() * 1000);
    const world = await monetizedWorld(server, database().knex, 2);
    const [a, b] = world.billed as [BilledSubscription, BilledSubscription];
    server.clock.advance(3 * 3600);
    const source = new AnalyticsLikeSource();
    const config = configSchema.parse({});
    const usage = composeUsage({ db: database().knex, subscriptions: apimCoreRecords(database().knex), engine: world.engine, tenants: tenantDirectoryFrom(config), logger: createLogger('silent'), clock: world.clock, config, options: TEST_OPTIONS, source });
    const publish = async () => {
      expect((await usage.publishUsage()).accepted).toBe(true);
      return usage.publisher.current();
    };
    const hour = t0.getTime() / HOUR_MS;
    const at = world.clock().getTime();
    source.counts.push({ at: at - 5_000, usage: { subscriptionUuid: a.subscription.uuid, apiUuid: a.subscription.api.uuid, hour, quantity: 40 } });
    source.counts.push({ at: at - 4_000, usage: { subscriptionUuid: b.subscription.uuid, apiUuid: b.subscription.api.uuid, hour: hour + 1, quantity: 7 } });
    source.counts.push({ at: at + 9_000, usage: { subscriptionUuid: a.subscription.uuid, apiUuid: a.subscription.api.uuid, hour, quantity: 2 } }); // not settled yet
    source.settled = at;

    expect(await publish()).toMatchObject({ outcome: 'SUCCESSFULL', recordsSent: 2, eventsPublished: 47, failures: [] });
    expect(await publish()).toMatchObject({ outcome: 'SUCCESSFULL', recordsSent: 0 });
    source.settled = at + 10_000;
    expect(await publish()).toMatchObject({ outcome: 'SUCCESSFULL', recordsSent: 1, eventsPublished: 2 });

    const lookBackStart = at - 86_400_000;
    expect(source.ranges).toEqual([{ after: lookBackStart, upTo: at }, { after: at, upTo: at + 10_000 }]);
    expect(await world.billedInStripe(a)).toBe(42);
    expect(await world.billedInStripe(b)).toBe(7);
    const records = await new RecordStore(database().knex).list({ subscriptionUuid: a.subscription.uuid });
    expect(records.map((r) => [r.source, r.positionAfter, r.positionUpTo, r.quantity, r.state])).toEqual([
      ['analytics-fake', lookBackStart, at, 40, 'SENT'],
      ['analytics-fake', at, at + 10_000, 2, 'SENT'],
    ]);
    expect(new Set(records.map((r) => r.identifier)).size).toBe(2);
    expect(Number((await database().knex('ML_USAGE_SOURCE_POSITION').where({ SOURCE: 'analytics-fake' }).first('POSITION'))?.POSITION)).toBe(at + 10_000);
  });
});
