import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { migrateLatest } from '../helpers/migrations';
import { apimCoreRecords } from '../../src/apim/core-records';
import { configSchema } from '../../src/config/schema';
import { createLogger } from '../../src/logger';
import { JobStore } from '../../src/usage/job-store';
import { UsagePublisher } from '../../src/usage/publisher';
import { RecordStore } from '../../src/usage/record-store';
import { createUsageSource } from '../../src/usage/sources';
import { SubscriptionLookup } from '../../src/usage/subscription-lookup';
import { forEachTestDatabase } from '../helpers/databases';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { callEvent, minutesAfter, monetizedWorld, TEST_OPTIONS } from './world';

/**
 * A publish job holds a bounded number of usage records however many wait: it reads them in pages
 * (keyset reads), so no query on ML_USAGE_RECORD answers more rows than the page size, at either
 * size of backlog, while every record is still sent exactly once and each subscription's windows
 * in order. Counted through knex's query events, not timed.
 */
const START = Date.UTC(2030, 2, 4, 9, 0, 0) / 1000;
const PAGE = 4;
let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer({ port: 0, startAt: START });
});
afterAll(() => server.close());

/** Every SELECT on the records table during `work`: how many rows each answered. */
async function recordReads<T>(db: Knex, work: () => Promise<T>): Promise<{ result: T; rows: number[] }> {
  const rows: number[] = [];
  const listener = (response: unknown, query: { method?: string; sql?: string }) => {
    if (query.method === 'select' && /ml_usage_record/i.test(query.sql ?? '')) rows.push(Array.isArray(response) ? response.length : 1);
  };
  db.on('query-response', listener);
  try {
    return { result: await work(), rows };
  } finally {
    db.removeListener('query-response', listener);
  }
}

/** A publisher over the world's engine that reads PAGE records per query. */
function pagedPublisher(db: Knex, world: Awaited<ReturnType<typeof monetizedWorld>>): UsagePublisher {
  const clock = world.clock;
  const config = configSchema.parse({});
  return new UsagePublisher({
    db,
    engine: world.engine,
    lookup: new SubscriptionLookup(apimCoreRecords(db), world.engine, (domain) => (domain === 'carbon.super' ? -1234 : undefined), 0, () => clock().getTime()),
    source: createUsageSource('local', { db, logger: createLogger('silent'), clock }),
    logger: createLogger('silent'),
    clock,
    options: { ...config.apim.monetization.usage_publisher, ...TEST_OPTIONS },
    lookBackDays: config.apim.monetization.publish_duration_days,
    sendPageSize: PAGE,
  });
}

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  it('reads the pending records a page at a time at two backlog sizes, and sends each once, in window order', async () => {
    const db = database().knex;
    server.clock.advanceTo(Math.ceil(server.clock.now() / 3600) * 3600);
    const t0 = new Date(server.clock.now() * 1000);
    const world = await monetizedWorld(server, db, 3);
    const publisher = pagedPublisher(db, world);
    // Two backlogs, one call per subscription and hour: 3 hours (9 records), then 9 more hours (27).
    const sizes = [3, 9];
    const reads: number[][] = [];
    let hour = 0;
    for (const hours of sizes) {
      const events = world.billed.flatMap((s) => Array.from({ length: hours }, (_, h) => callEvent(s, minutesAfter(t0, (hour + h) * 60 + 5))));
      hour += hours;
      server.clock.advanceTo(t0.getTime() / 1000 + (hour + 1) * 3600);
      expect((await world.usage.ingestion.ingest(events)).accepted).toBe(events.length);
      const { result: summary, rows } = await recordReads(db, async () => {
        const started = await publisher.start();
        expect(started.started).toBe(true);
        return publisher.current();
      });
      expect(summary).toMatchObject({ outcome: 'SUCCESSFULL', recordsSent: world.billed.length * hours, failures: [] });
      reads.push(rows);
    }
    for (const rows of reads) {
      expect(Math.max(...rows)).toBeLessThanOrEqual(PAGE);
    }
    // More backlog, more (bounded) reads: at least one per page of records.
    expect(reads[0]!.length).toBeGreaterThanOrEqual(Math.ceil((3 * sizes[0]!) / PAGE));
    expect(reads[1]!.length).toBeGreaterThanOrEqual(Math.ceil((3 * sizes[1]!) / PAGE));

    const total = sizes.reduce((a, b) => a + b, 0);
    for (const s of world.billed) {
      expect(await world.billedInStripe(s)).toBe(total);
      const stamps = server.requests
        .list((r) => r.path === '/v1/billing/meter_events' && r.status === 200 && String((r.params as Record<string, string>).identifier).includes(s.subscription.uuid))
        .map((r) => Number((r.params as Record<string, string>).timestamp));
      expect(stamps).toHaveLength(total);
      expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
    }
  });

  it('lists the first 199 failures of a job and counts the rest, however many subscriptions fail', async () => {
    const db = database().knex;
    const world = await monetizedWorld(server, db, 0);
    const publisher = pagedPublisher(db, world);
    const hour = Math.floor(world.clock().getTime() / 3_600_000) * 3_600_000 - 3_600_000;
    // Records of 250 subscriptions that no longer exist: each is closed NOT_BILLED, a failure each.
    const records = Array.from({ length: 250 }, (_, i) => ({
      subscriptionUuid: randomUUID(), apiUuid: world.api.uuid, windowStart: hour, windowEnd: hour + 3_600_000, firstEventSeq: i + 1, freezeBatch: 0,
      source: 'bench', positionAfter: 0, positionUpTo: 0, quantity: 1, identifier: `mlu_gone_${randomUUID()}`, createdAt: hour,
    }));
    await new RecordStore(db).insert(db, records);
    expect((await publisher.start()).started).toBe(true);
    const summary = await publisher.current();
    expect(summary?.outcome).toBe('UNSUCCESSFULL');
    expect(summary?.failures).toHaveLength(200);
    expect(summary?.failures.at(-1)).toEqual({ subscription: '*', reason: expect.stringMatching(/^51 more failures are not listed/) });
    expect(await new RecordStore(db).list({ state: 'NOT_BILLED' })).toHaveLength(250);
    expect(await new JobStore(db).read()).toMatchObject({ subscriptionsTotal: 250, subscriptionsFailed: 250, subscriptionsDone: 0 });
  });
});
