import { migrateLatest } from '../helpers/migrations';
import { JobStore } from '../../src/usage/job-store';
import { RecordStore } from '../../src/usage/record-store';
import { forEachTestDatabase } from '../helpers/databases';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { callEvent, minutesAfter, monetizedWorld } from './world';

/**
 * `UsagePublisher.publishSubscriptionNow`, what unsubscribing runs before the cancel: one
 * subscription's usage frozen and sent under the job lease, with the identifiers a scheduled job
 * gives it, never twice even beside a job.
 */
const START = Date.UTC(2030, 0, 15, 9, 0, 0) / 1000;
let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer({ port: 0, startAt: START });
});
afterAll(() => server.close());

function startOfNextHour(): Date {
  server.clock.advanceTo(Math.ceil(server.clock.now() / 3600) * 3600);
  return new Date(server.clock.now() * 1000);
}

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));
  beforeEach(async () => {
    server.faults.clear();
    for (const table of ['ML_USAGE_EVENT', 'ML_USAGE_RECORD', 'ML_USAGE_PUBLISH_JOB', 'AM_MONETIZATION_USAGE', 'ML_USAGE_SOURCE_POSITION']) await database().knex(table).delete();
  });

  const sentIdentifiers = () =>
    server.requests
      .list((r) => r.path === '/v1/billing/meter_events' && r.status === 200)
      .map((r) => (r.params as Record<string, string>).identifier!);

  it('sends only that subscription\'s usage, with a job\'s identifiers; the next job sends the others\' and nothing twice', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 2);
    const [a, b] = world.billed as [(typeof world.billed)[0], (typeof world.billed)[0]];
    server.clock.advance(2 * 3600);
    const events = [
      ...Array.from({ length: 5 }, (_, i) => callEvent(a, minutesAfter(t0, 10 + i))),
      ...Array.from({ length: 3 }, (_, i) => callEvent(a, minutesAfter(t0, 70 + i))),
      ...Array.from({ length: 4 }, (_, i) => callEvent(b, minutesAfter(t0, 20 + i))),
    ];
    expect((await world.usage.ingestion.ingest(events)).accepted).toBe(12);
    const before = sentIdentifiers().length;

    expect(await world.usage.publisher.publishSubscriptionNow(a.subscription.uuid)).toEqual({ published: true, recordsSent: 2, eventsPublished: 8, closed: [] });
    expect(await world.billedInStripe(a)).toBe(8);
    expect(await world.billedInStripe(b)).toBe(0);
    const records = new RecordStore(database().knex);
    expect((await records.list({ subscriptionUuid: b.subscription.uuid })).map((r) => r.state)).toEqual(['PENDING']);
    expect(await world.usage.publishStatus()).toMatchObject({ state: 'COMPLETED', lease: { owner: null } });

    await world.usage.publishUsage();
    expect(await world.usage.publisher.current()).toMatchObject({ outcome: 'SUCCESSFULL', recordsSent: 1, eventsPublished: 4 });
    expect(await world.billedInStripe(a)).toBe(8);
    expect(await world.billedInStripe(b)).toBe(4);
    const sent = sentIdentifiers().slice(before);
    expect(sent).toHaveLength(3);
    expect(new Set(sent).size).toBe(3);
    expect(sent.sort()).toEqual((await records.list({ state: 'SENT' })).map((r) => r.identifier).sort());
    // Nothing left: publishing the subscription again sends nothing.
    expect(await world.usage.publisher.publishSubscriptionNow(a.subscription.uuid)).toMatchObject({ published: true, recordsSent: 0 });
    expect(sentIdentifiers().slice(before)).toHaveLength(3);
  });

  it('while another process holds the job lease, sends nothing and says why', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 1);
    const [a] = world.billed as [(typeof world.billed)[0]];
    server.clock.advance(3600);
    await world.usage.ingestion.ingest([callEvent(a, minutesAfter(t0, 1)), callEvent(a, minutesAfter(t0, 2))]);
    const jobs = new JobStore(database().knex);
    const now = server.clock.now() * 1000;
    await jobs.ensureRows(now, 1);
    expect(await jobs.claim({ owner: 'other-process', runId: 'other-run', now, leaseMs: 60_000 })).toMatchObject({ claimed: true });

    const busy = await world.usage.publisher.publishSubscriptionNow(a.subscription.uuid);
    expect(busy).toEqual({ published: false, reason: 'a usage publish job is running (run other-run)' });
    expect(await new RecordStore(database().knex).list({ subscriptionUuid: a.subscription.uuid })).toEqual([]);
    expect(await world.billedInStripe(a)).toBe(0);

    await jobs.finish({ owner: 'other-process', runId: 'other-run', now, outcome: 'SUCCESSFULL', publishedUpTo: null });
    expect(await world.usage.publisher.publishSubscriptionNow(a.subscription.uuid)).toMatchObject({ published: true, eventsPublished: 2 });
    expect(await world.billedInStripe(a)).toBe(2);
  });

  it('started together with jobs from other processes, every call is billed exactly once', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 2);
    const [a, b] = world.billed as [(typeof world.billed)[0], (typeof world.billed)[0]];
    server.clock.advance(3600);
    await world.usage.ingestion.ingest([
      ...Array.from({ length: 7 }, (_, i) => callEvent(a, minutesAfter(t0, 5 + i))),
      ...Array.from({ length: 6 }, (_, i) => callEvent(b, minutesAfter(t0, 5 + i))),
    ]);
    const others = [world.otherProcess('process-1'), world.otherProcess('process-2')];
    const [flush] = await Promise.all([world.usage.publisher.publishSubscriptionNow(a.subscription.uuid), ...others.map((o) => o.publishUsage())]);
    await Promise.all(others.map((o) => o.publisher.current()));
    // Whichever held the lease, a retry (as the unsubscribe's client does) and one more job finish the rest.
    const retried = flush.published ? flush : await world.usage.publisher.publishSubscriptionNow(a.subscription.uuid);
    expect(retried.published).toBe(true);
    await world.usage.publishUsage();
    await world.usage.publisher.current();
    expect(await world.billedInStripe(a)).toBe(7);
    expect(await world.billedInStripe(b)).toBe(6);
    expect(new Set(sentIdentifiers()).size).toBe(sentIdentifiers().length);
  });
});
