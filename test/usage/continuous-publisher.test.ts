import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger';
import { ContinuousPublisher, type PublishJobs } from '../../src/usage/continuous-publisher';
import type { Timer } from '../../src/usage/period-end-trigger';
import type { RunSummary } from '../../src/usage/publisher';
import { migrateLatest } from '../helpers/migrations';
import { forEachTestDatabase } from '../helpers/databases';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { callEvent, minutesAfter, monetizedWorld } from './world';

/** A timer that runs nothing by itself: the test fires the armed callback. */
class ManualTimer implements Timer {
  armed: { callback: () => void; ms: number } | undefined;
  set(callback: () => void, ms: number): unknown {
    this.armed = { callback, ms };
    return this.armed;
  }
  clear(): void {
    this.armed = undefined;
  }
  /** Runs the armed callback (disarming it first, as a fired timeout is gone). */
  fire(): void {
    const armed = this.armed;
    this.armed = undefined;
    armed?.callback();
  }
}

const silent = createLogger('silent');

describe('the continuous loop plans its turns', () => {
  /** Jobs that take `durations[i]` ms of the injected clock each, ended when the test says. */
  function fakeJobs(durations: number[], clock: { now: number }) {
    let ends: (() => void) | undefined;
    let running: Promise<RunSummary> | undefined;
    let started = 0;
    const jobs: PublishJobs = {
      start: async () => {
        if (running) return { started: false, holder: {} as never };
        const duration = durations[started] ?? 0;
        started += 1;
        running = new Promise<RunSummary>((resolve) => {
          ends = () => {
            clock.now += duration;
            running = undefined;
            resolve({ runId: `run-${started}`, outcome: 'SUCCESSFULL', recordsSent: 0, eventsPublished: 0, failures: [] });
          };
        });
        return { started: true, runId: `run-${started}`, resumedFrom: null };
      },
      current: () => running,
      stop: async () => ends?.(),
    };
    return { jobs, end: () => ends?.(), started: () => started };
  }

  it('starts at once, then one job per interval from start to start, and at once after a job longer than the interval', async () => {
    const clock = { now: 0 };
    const timer = new ManualTimer();
    const fake = fakeJobs([3_000, 12_000], clock);
    const loop = new ContinuousPublisher({ jobs: fake.jobs, intervalMs: 10_000, logger: silent, timer, now: () => clock.now });
    loop.start();
    expect(timer.armed?.ms).toBe(0);
    timer.fire();
    await new Promise(setImmediate);
    expect(fake.started()).toBe(1);
    expect(timer.armed).toBeUndefined(); // no turn is planned while a job runs
    fake.end();
    await new Promise(setImmediate);
    expect(timer.armed?.ms).toBe(7_000);
    timer.fire();
    await new Promise(setImmediate);
    fake.end();
    await new Promise(setImmediate);
    expect(timer.armed?.ms).toBe(0);
    await loop.stop();
    expect(timer.armed).toBeUndefined();
  });

  it('a turn asked for while one runs answers that turn; after stop, turns do nothing', async () => {
    const clock = { now: 0 };
    const fake = fakeJobs([1_000], clock);
    const loop = new ContinuousPublisher({ jobs: fake.jobs, intervalMs: 10_000, logger: silent, timer: new ManualTimer(), now: () => clock.now });
    const first = loop.tick();
    const second = loop.tick();
    await new Promise(setImmediate);
    fake.end();
    expect(await first).toBe(await second);
    expect(fake.started()).toBe(1);
    await loop.stop();
    expect(await loop.tick()).toEqual({ ran: false, reason: 'stopped' });
  });
});

const START = Date.UTC(2030, 2, 4, 9, 0, 0) / 1000;
let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer({ port: 0, startAt: START });
});
afterAll(() => server.close());

function startOfNextHour(): Date {
  server.clock.advanceTo(Math.ceil(server.clock.now() / 3600) * 3600);
  return new Date(server.clock.now() * 1000);
}

/**
 * The identifiers of every meter event sent since `from` (an index in the request log), one entry
 * per request whatever Stripe answered: a window sent twice shows even though Stripe would drop the copy.
 */
function sentIdentifiers(from: number): string[] {
  return server.requests
    .list()
    .slice(from)
    .filter((r) => r.path === '/v1/billing/meter_events')
    .map((r) => String((r.params as Record<string, string>).identifier));
}

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));
  beforeEach(async () => {
    server.faults.clear();
    for (const table of ['ML_USAGE_EVENT', 'ML_USAGE_RECORD', 'ML_USAGE_PUBLISH_JOB', 'AM_MONETIZATION_USAGE']) await database().knex(table).delete();
  });

  it('sends the usage settled so far in the open hour at once, each window once, and later calls of that hour as their own record', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 2);
    const [a, b] = world.billed as [(typeof world.billed)[0], (typeof world.billed)[0]];
    server.clock.advance(20 * 60);
    const loop = new ContinuousPublisher({ jobs: world.usage.publisher, intervalMs: 5_000, logger: silent, timer: new ManualTimer() });
    const log = server.requests.list().length;
    await world.usage.ingestion.ingest([...[5, 6, 7].map((m) => callEvent(a, minutesAfter(t0, m))), ...[8, 9].map((m) => callEvent(b, minutesAfter(t0, m)))]);

    expect(await loop.tick()).toMatchObject({ ran: true, summary: { outcome: 'SUCCESSFULL', recordsSent: 2, eventsPublished: 5 } });
    expect(await loop.tick()).toMatchObject({ ran: true, summary: { recordsSent: 0 } });
    server.clock.advance(60);
    await world.usage.ingestion.ingest([callEvent(a, minutesAfter(t0, 21))]);
    expect(await loop.tick()).toMatchObject({ ran: true, summary: { recordsSent: 1, eventsPublished: 1 } });

    const identifiers = sentIdentifiers(log);
    expect(identifiers).toHaveLength(3);
    expect(new Set(identifiers).size).toBe(3);
    expect(await world.billedInStripe(a)).toBe(4);
    expect(await world.billedInStripe(b)).toBe(2);
    await loop.stop();
  });

  it("logs an idle job at debug only, and a job that sent something at info (a job every few seconds must not flood the log)", async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 1);
    const [a] = world.billed as [(typeof world.billed)[0]];
    server.clock.advance(20 * 60);
    const lines: Array<{ level: number; msg: string }> = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string }), done()) });
    const usage = world.otherProcess('logged', createLogger('info', sink));
    const loop = new ContinuousPublisher({ jobs: usage.publisher, intervalMs: 5_000, logger: silent, timer: new ManualTimer() });
    const jobLines = () => lines.filter((l) => l.msg.startsWith('usage publish job')).map((l) => l.msg);

    expect(await loop.tick()).toMatchObject({ ran: true, summary: { recordsSent: 0 } });
    expect(jobLines()).toEqual([]);
    await usage.ingestion.ingest([callEvent(a, minutesAfter(t0, 5))]);
    expect(await loop.tick()).toMatchObject({ ran: true, summary: { recordsSent: 1 } });
    expect(jobLines()).toEqual(['usage publish job ended']);
    await loop.stop();
  });

  it('two instances running the loop on one database send every window once between them', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 3);
    server.clock.advance(30 * 60);
    const loops = ['instance-a', 'instance-b'].map(
      (owner) => new ContinuousPublisher({ jobs: world.otherProcess(owner).publisher, intervalMs: 5_000, logger: silent, timer: new ManualTimer() }),
    ) as [ContinuousPublisher, ContinuousPublisher];
    const log = server.requests.list().length;
    let calls = 0;
    for (let round = 0; round < 3; round += 1) {
      const events = world.billed.flatMap((s, i) => Array.from({ length: i + 1 }, (_, k) => callEvent(s, minutesAfter(t0, round * 5 + k))));
      calls += events.length;
      await world.usage.ingestion.ingest(events);
      const outcomes = await Promise.all(loops.map((loop) => loop.tick()));
      expect(outcomes.some((o) => o.ran)).toBe(true);
    }
    // Whatever either instance left (a turn that found the other's job running) goes in one more turn.
    const last = await loops[0].tick();
    const sent = sentIdentifiers(log);
    expect(new Set(sent).size).toBe(sent.length);
    expect(last).toMatchObject({ ran: true, summary: { outcome: 'SUCCESSFULL' } });
    const totals = await Promise.all(world.billed.map((s) => world.billedInStripe(s)));
    expect(totals.reduce((sum, n) => sum + n, 0)).toBe(calls);
    expect(totals).toEqual([3, 6, 9]);
    await Promise.all(loops.map((loop) => loop.stop()));
  });

  it('with send_in_batches, sends the windows of many subscriptions in few meter event stream requests, each once', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 6, { send_in_batches: true });
    server.clock.advance(25 * 60);
    const loop = new ContinuousPublisher({ jobs: world.usage.publisher, intervalMs: 5_000, logger: silent, timer: new ManualTimer() });
    const log = server.requests.list().length;
    await world.usage.ingestion.ingest(world.billed.flatMap((s, i) => Array.from({ length: i + 1 }, (_, k) => callEvent(s, minutesAfter(t0, k)))));

    expect(await loop.tick()).toMatchObject({ ran: true, summary: { outcome: 'SUCCESSFULL', recordsSent: 6, eventsPublished: 21 } });
    expect(await loop.tick()).toMatchObject({ ran: true, summary: { recordsSent: 0 } });
    const requests = server.requests.list().slice(log);
    const stream = requests.filter((r) => r.path === '/v2/billing/meter_event_stream');
    expect(requests.filter((r) => r.path === '/v1/billing/meter_events')).toEqual([]);
    expect(stream.length).toBeLessThan(6);
    const identifiers = stream.flatMap((r) => (r.params as { events: Array<{ identifier: string }> }).events.map((e) => e.identifier));
    expect(identifiers).toHaveLength(6);
    expect(new Set(identifiers).size).toBe(6);
    expect(await Promise.all(world.billed.map((s) => world.billedInStripe(s)))).toEqual([1, 2, 3, 4, 5, 6]);
    await loop.stop();
  });

  it('stops cleanly: the job in flight ends, no turn is planned, the lease is free, and another instance sends the rest once', async () => {
    const t0 = startOfNextHour();
    const world = await monetizedWorld(server, database().knex, 4);
    server.clock.advance(40 * 60);
    await world.usage.ingestion.ingest(world.billed.map((s, i) => callEvent(s, minutesAfter(t0, i))));
    const timer = new ManualTimer();
    const stopping = world.otherProcess('stopping');
    const loop = new ContinuousPublisher({ jobs: stopping.publisher, intervalMs: 5_000, logger: silent, timer });
    const log = server.requests.list().length;
    loop.start();
    timer.fire();
    await loop.stop();
    expect(timer.armed).toBeUndefined();
    expect(stopping.publisher.current()).toBeUndefined();
    expect((await world.usage.publishStatus()).lease.owner).toBeNull();

    const next = new ContinuousPublisher({ jobs: world.otherProcess('next').publisher, intervalMs: 5_000, logger: silent, timer: new ManualTimer() });
    expect(await next.tick()).toMatchObject({ ran: true, summary: { outcome: 'SUCCESSFULL' } });
    const sent = sentIdentifiers(log);
    expect(sent).toHaveLength(4);
    expect(new Set(sent).size).toBe(4);
    await next.stop();
  });
});
