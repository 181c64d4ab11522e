import { migrateLatest } from '../helpers/migrations';
import { periodBoundary } from '../../src/usage/windows';
import { RecordStore } from '../../src/usage/record-store';
import { JobStore } from '../../src/usage/job-store';
import { forEachTestDatabase } from '../helpers/databases';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { connectedAccount } from '../plugins/stripe/harness';
import { callEvent, minutesAfter, monetizedWorld, publishAndWait } from './world';

const START = Date.UTC(2030, 0, 15, 9, 0, 0) / 1000;
let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer({ port: 0, startAt: START });
});
afterAll(() => server.close());

/** Moves the Stripe server's clock (which is the publisher's clock) to the next whole hour. */
function startOfNextHour(): Date {
  server.clock.advanceTo(Math.ceil(server.clock.now() / 3600) * 3600);
  return new Date(server.clock.now() * 1000);
}

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));
  beforeEach(async () => {
    server.faults.clear();
    for (const table of ['ML_USAGE_EVENT', 'ML_USAGE_RECORD', 'ML_USAGE_PUBLISH_JOB', 'AM_MONETIZATION_USAGE']) await database().knex(table).delete();
  });

  it('bills every successful call of a per-request subscription exactly once, stamped in its own hour', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 2);
    const [a, b] = world.billed as [(typeof world.billed)[0], (typeof world.billed)[0]];
    server.clock.advance(3 * 3600);
    const events = [
      ...Array.from({ length: 5 }, (_, i) => callEvent(a, minutesAfter(t0, 10 + i))),
      ...Array.from({ length: 3 }, (_, i) => callEvent(a, minutesAfter(t0, 70 + i))),
      ...Array.from({ length: 4 }, (_, i) => callEvent(b, minutesAfter(t0, 130 + i))),
      callEvent(b, minutesAfter(t0, 131), { httpStatus: 500 }),
    ];
    expect((await world.usage.ingestion.ingest(events)).accepted).toBe(13);

    const summary = await publishAndWait(world.usage);
    expect(summary).toMatchObject({ outcome: 'SUCCESSFULL', recordsSent: 3, eventsPublished: 12, failures: [] });
    expect(await world.billedInStripe(a)).toBe(8);
    expect(await world.billedInStripe(b)).toBe(4);
    const meterEvents = server.requests.list().filter((r) => r.path === '/v1/billing/meter_events' && r.status === 200);
    const params = meterEvents.map((r) => r.params as Record<string, string>);
    const stamps = params.filter((p) => p.identifier?.includes(a.subscription.uuid)).map((p) => Number(p.timestamp));
    expect(stamps.sort()).toEqual([t0.getTime() / 1000, t0.getTime() / 1000 + 3600]);
  });

  it('publishing again sends nothing new, and late events go out as a new, separately identified record', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 1);
    const [a] = world.billed as [(typeof world.billed)[0]];
    server.clock.advance(2 * 3600);
    await world.usage.ingestion.ingest([callEvent(a, minutesAfter(t0, 5)), callEvent(a, minutesAfter(t0, 6))]);
    await publishAndWait(world.usage);
    expect(await publishAndWait(world.usage)).toMatchObject({ recordsSent: 0, outcome: 'SUCCESSFULL' });

    await world.usage.ingestion.ingest([callEvent(a, minutesAfter(t0, 7))]); // late, for the hour already sent
    expect(await publishAndWait(world.usage)).toMatchObject({ recordsSent: 1, eventsPublished: 1 });
    const records = await new RecordStore(database().knex).list({ subscriptionUuid: a.subscription.uuid });
    expect(records.map((r) => [r.windowStart, r.quantity, r.state])).toEqual([
      [t0.getTime(), 2, 'SENT'],
      [t0.getTime(), 1, 'SENT'],
    ]);
    expect(new Set(records.map((r) => r.identifier)).size).toBe(2);
    expect(records.every((r) => r.identifier.length <= 100)).toBe(true);
    expect(await world.billedInStripe(a)).toBe(3);
  });

  it('does not bill failed calls, FREE or FIXEDRATE subscriptions or unknown applications', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 1);
    const fixed = await world.subscribe(world.policies.fixed);
    const free = await world.subscribe(world.policies.free);
    server.clock.advance(3600);
    const result = await world.usage.ingestion.ingest([
      callEvent(world.billed[0]!, minutesAfter(t0, 1), { httpStatus: 404 }),
      callEvent(fixed, minutesAfter(t0, 1)),
      callEvent(free, minutesAfter(t0, 1)),
      callEvent(world.billed[0]!, minutesAfter(t0, 1), { applicationId: 'no-such-app' }),
    ]);
    expect(result.results.map((r) => (r.status === 'accepted' ? [r.billable, r.reason] : r.status))).toEqual([
      [false, 'UNSUCCESSFUL_CALL'],
      [false, 'NOT_DYNAMIC_PLAN'],
      [false, 'NOT_MONETIZED'],
      [false, 'UNKNOWN_SUBSCRIPTION'],
    ]);
    expect(await publishAndWait(world.usage)).toMatchObject({ recordsSent: 0, outcome: 'SUCCESSFULL' });
    expect(Number((await database().knex('ML_USAGE_EVENT').count({ N: '*' }).first())?.N)).toBe(4); // stored, not billed
  });

  it('cuts windows at the end of the billing period, so each side is billed in its own period', async () => {
    startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 0);
    server.clock.advance(1800); // subscribe at half past, so the period ends in the middle of an hour
    const a = await world.subscribe();
    const anchor = server.clock.now() * 1000;
    const periodEnd = periodBoundary({ anchorMs: anchor, interval: 'month', intervalCount: 1 }, 1);
    server.clock.advanceTo(periodEnd / 1000 + 1800); // inside the draft hour: both sides are still billed
    await world.usage.ingestion.ingest([
      callEvent(a, new Date(periodEnd - 20 * 60_000)),
      callEvent(a, new Date(periodEnd + 5 * 60_000)),
      callEvent(a, new Date(periodEnd + 6 * 60_000)),
    ]);
    expect(await publishAndWait(world.usage)).toMatchObject({ outcome: 'SUCCESSFULL', failures: [] });
    const records = await new RecordStore(database().knex).list({ subscriptionUuid: a.subscription.uuid });
    const hour = periodEnd - 30 * 60_000;
    expect(records.map((r) => [r.windowStart, r.windowEnd, r.quantity])).toEqual([
      [hour, periodEnd, 1],
      [periodEnd, hour + 3_600_000, 2],
    ]);
    expect(await world.billedInStripe(a)).toBe(3);
  });

  it('reports usage older than Stripe accepts (35 days) as an error instead of dropping it', async () => {
    const world = await monetizedWorld(server, database().knex, 1);
    const [a] = world.billed as [(typeof world.billed)[0]];
    const old = new Date(server.clock.now() * 1000 + 60_000);
    await world.usage.ingestion.ingest([callEvent(a, old)]);
    server.clock.advance(36 * 86_400);
    await world.usage.ingestion.ingest([callEvent(a, new Date(server.clock.now() * 1000 - 60_000))]);
    const summary = await publishAndWait(world.usage);
    expect(summary.outcome).toBe('UNSUCCESSFULL');
    expect(summary.recordsSent).toBe(1);
    expect(summary.failures).toEqual([{ subscription: a.subscription.uuid, reason: expect.stringMatching(/older than the 35 days/) }]);
    const status = await world.usage.publishStatus();
    expect(status).toMatchObject({ state: 'COMPLETED', status: 'UNSUCCESSFULL' });
    expect(status.progress.failures).toHaveLength(1);
    expect((await new RecordStore(database().knex).list({ subscriptionUuid: a.subscription.uuid })).map((r) => r.state).sort()).toEqual(['EXPIRED', 'SENT']);
  });

  it('bills once when Stripe handles a meter event but the answer is lost, and retries 500s and 429s', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 3, { retries: 5, retry_delay_ms: 100 });
    server.clock.advance(3600);
    await world.usage.ingestion.ingest(world.billed.flatMap((s) => Array.from({ length: 4 }, (_, i) => callEvent(s, minutesAfter(t0, 3 + i)))));
    server.faults.add({ kind: 'lose_response', match: { method: 'POST', path: '/v1/billing/meter_events' }, times: 2 });
    server.faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/billing/meter_events' }, nth: 3, times: 1 });
    server.faults.rateLimit({ endpoints: [{ match: { path: '/v1/billing/meter_events' }, requestsPerSecond: 1 }] });
    const summary = await publishAndWait(world.usage);
    expect(summary.failures).toEqual([]);
    expect(summary).toMatchObject({ outcome: 'SUCCESSFULL', recordsSent: 3, eventsPublished: 12 });
    for (const s of world.billed) expect(await world.billedInStripe(s)).toBe(4);
  });

  it('one failing subscription does not stop the others, and the status says which failed and why', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 2);
    // A second publisher's API, in its own connected account, where Stripe answers every meter event with a 500.
    const account2 = await connectedAccount(world.stripe);
    const api2 = await world.seed.api({ name: 'Maps', provider: `pub-${account2.slice(-6)}` });
    await world.engine.enableMonetization({ api: api2, policies: [world.policies.dynamic], properties: { ConnectedAccountKey: account2 } });
    await world.seed.recordMonetization(api2, true, { ConnectedAccountKey: account2 });
    const subscriber = await world.seed.subscriber();
    const broken = { subscription: await world.seed.subscription(api2, await world.seed.application(subscriber), subscriber, world.policies.dynamic) };
    await world.engine.createSubscription(broken.subscription);
    server.faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/billing/meter_events', account: account2 } });
    server.clock.advance(3600);
    await world.usage.ingestion.ingest([...world.billed, broken].map((s) => callEvent(s, minutesAfter(t0, 3))));

    const summary = await publishAndWait(world.usage);
    expect(summary.outcome).toBe('UNSUCCESSFULL');
    expect(summary.recordsSent).toBe(2);
    expect(summary.failures).toEqual([{ subscription: broken.subscription.uuid, reason: expect.stringMatching(/ENGINE_UNAVAILABLE/) }]);
    for (const s of world.billed) expect(await world.billedInStripe(s)).toBe(1);
    const status = await world.usage.publishStatus();
    expect(status).toMatchObject({ state: 'COMPLETED', status: 'UNSUCCESSFULL' });
    expect(status.progress).toMatchObject({ subscriptionsTotal: 3, subscriptionsDone: 2, subscriptionsFailed: 1, recordsSent: 2, eventsPublished: 2 });
    expect(status.progress.failures).toEqual([{ subscription: broken.subscription.uuid, reason: expect.any(String) }]);

    server.faults.clear(); // Stripe recovers: the next job sends what was left, once
    expect(await publishAndWait(world.usage)).toMatchObject({ outcome: 'SUCCESSFULL', recordsSent: 1 });
  });

  it('many parallel publish requests, from several processes, start exactly one job', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 1);
    server.clock.advance(3600);
    await world.usage.ingestion.ingest([callEvent(world.billed[0]!, minutesAfter(t0, 1))]);
    const processes = [world.usage, ...Array.from({ length: 4 }, (_, i) => world.otherProcess(`process-${i}`))];
    const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => processes[i % processes.length]!.publishUsage()));
    expect(answers.filter((a) => a.accepted)).toHaveLength(1);
    const refused = answers.find((a) => !a.accepted);
    expect(refused?.body).toMatchObject({ status: 'Server could not accept the request', message: 'A job is already running' });
    await Promise.all(processes.map((p) => p.publisher.current()));
    expect(await world.billedInStripe(world.billed[0]!)).toBe(1);
  });

  it('a job whose process died is recognised by its expired lease and resumed by the next request', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 1);
    const [a] = world.billed as [(typeof world.billed)[0]];
    server.clock.advance(3600);
    await world.usage.ingestion.ingest([callEvent(a, minutesAfter(t0, 1))]);
    const jobs = new JobStore(database().knex);
    const now = server.clock.now() * 1000;
    await jobs.ensureRows(now, 1);
    expect(await jobs.claim({ owner: 'dead-process', runId: 'dead-run', now, leaseMs: 60_000 })).toMatchObject({ claimed: true });

    expect(await world.usage.publishUsage()).toMatchObject({ accepted: false });
    expect((await world.usage.publishStatus()).lease).toMatchObject({ owner: 'dead-process', expired: false });
    server.clock.advance(61);
    expect((await world.usage.publishStatus())).toMatchObject({ state: 'RUNNING', lease: { owner: 'dead-process', expired: true } });
    const answer = await world.usage.publishUsage();
    expect(answer).toMatchObject({ accepted: true, body: { status: 'Request Accepted', message: 'Server is running the usage publisher', resumed: true } });
    await world.usage.publisher.current();
    expect(await world.usage.publishStatus()).toMatchObject({ state: 'COMPLETED', status: 'SUCCESSFULL', lease: { owner: null } });
    expect(await world.billedInStripe(a)).toBe(1);
  });
});
