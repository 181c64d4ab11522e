import { cutOffsetOf, recordsOfRange } from '../../src/usage/freezer';
import { EventStore } from '../../src/usage/event-store';
import { LocalEventSource, type HourlyUsage, type PositionRange, type SliceUsage, type UsageChunk, type UsageSlice, type UsageSource } from '../../src/usage/sources';
import { HOUR_MS, type CycleSpec } from '../../src/usage/windows';
import { forEachTestDatabase } from '../helpers/databases';
import { migrateLatest } from '../helpers/migrations';
import { billableByHour, frozenByHour, outOfOrderEvents } from './freeze-fixtures';
import { freezingPublisher, runFreezeUntilKilled } from './freezer-kill-child';

/**
 * Freezing hours cut by a period end in one read: the source gives each hour in two parts, split
 * at the subscription's cut offset, and only a part that crosses a period end is read again.
 */
const HOUR = 493_000; // an hour number (2026)
const at = (minutes: number) => HOUR * HOUR_MS + minutes * 60_000;
// Daily periods ending at :30:00.5 of their hour.
const CYCLE: CycleSpec = { anchorMs: at(30) + 500 - 50 * 86_400_000, interval: 'day', intervalCount: 1 };

class PartsSource implements UsageSource {
  readonly name = 'parts';
  readonly sliced: UsageSlice[][] = [];
  constructor(private readonly slices: SliceUsage[] = []) {}
  initialPosition(): number {
    return 0;
  }
  async settledPosition(): Promise<number> {
    return 0;
  }
  async hourlyUsage(): Promise<HourlyUsage[]> {
    return [];
  }
  async sliceUsage(_range: PositionRange, slices: readonly UsageSlice[]): Promise<SliceUsage[]> {
    this.sliced.push([...slices]);
    return this.slices;
  }
}

const range = { after: 0, upTo: 100 };
const usage = (part: Partial<HourlyUsage>): HourlyUsage => ({ subscriptionUuid: 'sub-a', apiUuid: 'api-a', hour: HOUR, quantity: 1, part: 1, ...part });

describe('cutting hours in parts', () => {
  it('every period end of a cycle falls at the anchor’s offset into its hour (days, months, before 1970)', () => {
    expect(cutOffsetOf(CYCLE)).toBe(30 * 60_000 + 500);
    expect(cutOffsetOf({ anchorMs: Date.UTC(2026, 0, 31, 7, 12, 5), interval: 'month', intervalCount: 1 })).toBe(12 * 60_000 + 5_000);
    expect(cutOffsetOf({ anchorMs: -1, interval: 'day', intervalCount: 1 })).toBe(HOUR_MS - 1);
    expect(cutOffsetOf(undefined)).toBe(0);
  });

  it('parts on either side of the period end become the two windows of the hour, with no second read', async () => {
    const source = new PartsSource();
    const cut = cutOffsetOf(CYCLE);
    const records = await recordsOfRange({
      source,
      range,
      hourly: [usage({ from: 0, to: cut, quantity: 3, part: 7 }), usage({ from: cut, to: HOUR_MS, quantity: 5, part: 4 }), usage({ hour: HOUR + 1, quantity: 2, part: 9 })],
      cycles: new Map([['sub-a', CYCLE]]),
      windowHours: 1,
      now: () => 0,
    });
    expect(source.sliced).toEqual([]);
    expect(records.map((r) => [r.windowStart, r.windowEnd, r.quantity, r.firstEventSeq])).toEqual([
      [at(0), at(30) + 500, 3, 7],
      [at(30) + 500, at(60), 5, 4],
      [at(60), at(120), 2, 9],
    ]);
  });

  it('a part that crosses a period end (a whole hour, or a cycle learnt after the read) has its span read again', async () => {
    const source = new PartsSource([
      { subscriptionUuid: 'sub-a', start: at(0), end: at(30) + 500, quantity: 1, part: 2 },
      { subscriptionUuid: 'sub-a', start: at(30) + 500, end: at(60), quantity: 1, part: 3 },
    ]);
    const records = await recordsOfRange({ source, range, hourly: [usage({ quantity: 2, part: 2 })], cycles: new Map([['sub-a', CYCLE]]), windowHours: 1, now: () => 0 });
    expect(source.sliced).toEqual([[{ subscriptionUuid: 'sub-a', start: at(0), end: at(30) + 500 }, { subscriptionUuid: 'sub-a', start: at(30) + 500, end: at(60) }]]);
    expect(records.map((r) => [r.windowStart, r.quantity, r.firstEventSeq])).toEqual([
      [at(0), 1, 2],
      [at(30) + 500, 1, 3],
    ]);
  });
});

forEachTestDatabase((kind, database) => {
  beforeAll(async () => {
    const db = database().knex;
    await migrateLatest(db);
    await db('ML_USAGE_EVENT').delete();
    const row = (id: string, subscription: string, time: number, state = 1) => ({
      EVENT_ID: `${kind}-${id}`, EVENT_TIME: time, EVENT_HOUR: Math.floor(time / HOUR_MS), API_UUID: `api-${subscription}`, APPLICATION_UUID: 'app',
      SUBSCRIPTION_UUID: subscription, CONSUMER_KEY: null, TENANT_DOMAIN: 'carbon.super', HTTP_STATUS: 200, QUANTITY: 1, RECEIVED_AT: 1, PUBLISH_STATE: state, NOT_BILLABLE: null,
    });
    // sub-a: cut at :30:00.5 (events at :30:00.48 and on the cut itself); sub-b: no cycle; one event not billable.
    const times = [1, 29, 30.008, 30.00834, 45, 61, 130];
    await db('ML_USAGE_EVENT').insert([
      ...times.map((m, i) => row(`a${i}`, 'sub-a', Math.round(at(m)))),
      ...times.map((m, i) => row(`b${i}`, 'sub-b', Math.round(at(m)))),
      row('x', 'sub-a', at(10), 0),
    ]);
  });

  it('the events are read a page at a time in SEQ order, each billable one once', async () => {
    const store = new EventStore(database().knex);
    const upTo = Number((await database().knex('ML_USAGE_EVENT').max({ M: 'SEQ' }).first())?.M);
    const pages: number[][] = [];
    for await (const page of store.billableEvents({ after: 0, upTo }, 4)) pages.push(page.map((e) => e.seq));
    expect(pages.map((p) => p.length)).toEqual([4, 4, 4, 2]);
    const seqs = pages.flat();
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(14);
  });

  it('one split read freezes the same records as the hourly read with the cut hours sliced', async () => {
    const db = database().knex;
    const source = new LocalEventSource({ db });
    const upTo = await source.settledPosition();
    const cycles = new Map([['sub-a', CYCLE]]);
    const asked: string[][] = [];
    const chunks: UsageChunk[] = [];
    const cuts = async (uuids: readonly string[]) => {
      asked.push([...uuids].sort());
      return new Map([...uuids].filter((u) => cycles.has(u)).map((u) => [u, cutOffsetOf(cycles.get(u))]));
    };
    for await (const chunk of source.splitHourlyUsage({ after: 0, upTo }, cuts, 1_000)) chunks.push(chunk);
    expect(chunks.map((c) => c.upTo)).toEqual([upTo]);
    const parts = chunks[0]!.usage;
    const split = await recordsOfRange({ source, range: { after: 0, upTo }, hourly: parts, cycles, windowHours: 1, now: () => 0 });
    const hourly = await recordsOfRange({ source, range: { after: 0, upTo }, hourly: await source.hourlyUsage({ after: 0, upTo }), cycles, windowHours: 1, now: () => 0 });
    const key = (r: { subscriptionUuid: string; windowStart: number }) => `${r.subscriptionUuid}@${r.windowStart}`;
    const byKey = (records: typeof split) => [...records].sort((x, y) => (key(x) < key(y) ? -1 : 1));
    expect(byKey(split)).toEqual(byKey(hourly));
    expect(byKey(split).map((r) => [r.subscriptionUuid, r.windowStart - at(0), r.quantity])).toEqual([
      ['sub-a', 0, 3],
      ['sub-a', 30 * 60_000 + 500, 2],
      ['sub-a', HOUR_MS, 1],
      ['sub-a', 2 * HOUR_MS, 1],
      ['sub-b', 0, 5],
      ['sub-b', HOUR_MS, 1],
      ['sub-b', 2 * HOUR_MS, 1],
    ]);
    // Where the events are grouped in memory (MariaDB), each subscription's cut is asked once.
    expect(asked).toEqual(kind === 'mysql' ? [['sub-a', 'sub-b']] : []);
  });

  it('with more parts than a chunk holds, the chunks follow each other to the range’s end and add up to the same usage', async () => {
    const db = database().knex;
    const source = new LocalEventSource({ db });
    const upTo = await source.settledPosition();
    const cycles = new Map([['sub-a', CYCLE]]);
    const cuts = async (uuids: readonly string[]) => new Map([...uuids].filter((u) => cycles.has(u)).map((u) => [u, cutOffsetOf(cycles.get(u))]));
    const chunks: UsageChunk[] = [];
    // Four parts a chunk: PostgreSQL and SQLite group a slice of at most 40 SEQs at a time, halved
    // while it has more groups than that; MariaDB sums the events in SEQ order.
    const groupBy = jest.spyOn(EventStore.prototype, 'hourlyUsage');
    let calls: typeof groupBy.mock.calls;
    try {
      for await (const chunk of source.splitHourlyUsage({ after: 0, upTo }, cuts, 4)) chunks.push(chunk);
    } finally {
      calls = [...groupBy.mock.calls];
      groupBy.mockRestore();
    }
    const slices = calls.map(([range]) => range);
    if (kind === 'mysql') expect(slices).toEqual([]);
    else {
      for (const [range, limit] of calls) {
        expect(range.upTo - range.after).toBeLessThanOrEqual(40);
        expect(limit).toBe(5);
      }
      // Each chunk is a slice grouped whole (the hours a period end cuts are sliced later).
      expect(chunks.map((c) => c.upTo)).toEqual(chunks.map((c) => slices.find((range) => range.upTo === c.upTo)!.upTo));
      for (const chunk of chunks) for (const u of chunk.usage) expect(u.from).toBeUndefined();
    }
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.at(-1)!.upTo).toBe(upTo);
    const seqs = chunks.map((c) => c.upTo);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    for (const chunk of chunks) expect(chunk.usage.length).toBeLessThanOrEqual(2 * 4);
    const total = (usage: readonly HourlyUsage[], subscription: string) => usage.filter((u) => u.subscriptionUuid === subscription).reduce((sum, u) => sum + u.quantity, 0);
    for (const subscription of ['sub-a', 'sub-b']) expect(chunks.reduce((sum, c) => sum + total(c.usage, subscription), 0)).toBe(7);
    // Each chunk's parts lie in its own range of SEQs.
    chunks.forEach((chunk, i) => {
      for (const u of chunk.usage) {
        expect(u.part).toBeGreaterThan(i === 0 ? 0 : chunks[i - 1]!.upTo);
        expect(u.part).toBeLessThanOrEqual(chunk.upTo);
      }
    });
  });

  /**
   * A freeze in chunks (a few parts of hours held at a time, each chunk committed with its
   * position) is killed with SIGKILL right after its second chunk was committed, in its own
   * process; the next freeze reads on from there. Every billable event ends up in exactly one
   * record: per subscription and hour the records add up to its events, and the records' source
   * ranges tile the range without a gap or an overlap. (Last here: it freezes every event stored.)
   */
  it('a chunked freeze killed between chunks resumes where its last committed chunk ended: every event frozen once', async () => {
    const db = database().knex;
    const NOW = (HOUR + 48) * HOUR_MS;
    const CHUNK_PARTS = 4;
    const subscriptions = ['kill-a', 'kill-b', 'kill-c'];
    await db('ML_USAGE_EVENT').insert(
      outOfOrderEvents({ kind, label: 'kill', hour: HOUR, subscriptions, count: 60, quantity: (n) => 1 + (n % 2), billable: (n) => n < 55 }),
    );
    const billable = await billableByHour(db);
    const maxSeq = Number((await db('ML_USAGE_EVENT').max({ M: 'SEQ' }).first())?.M);
    const position = async () => Number((await db('ML_USAGE_SOURCE_POSITION').where({ SOURCE: 'local' }).first('POSITION'))?.POSITION);

    const outcome = await runFreezeUntilKilled({ database: database().config, now: NOW, chunkParts: CHUNK_PARTS, killAfterChunks: 2 });
    expect({ signal: outcome.signal, stderr: outcome.stderr }).toEqual({ signal: 'SIGKILL', stderr: '' });
    const killedAt = /^killed after chunk 2, frozen up to (\d+)$/.exec(outcome.reports.at(-1) ?? '');
    expect(killedAt).not.toBeNull();
    const frozenUpTo = Number(killedAt![1]);
    // Midway: the dead process left its position at the end of its second chunk, short of the range.
    expect(await position()).toBe(frozenUpTo);
    expect(frozenUpTo).toBeGreaterThan(0);
    expect(frozenUpTo).toBeLessThan(maxSeq);
    expect(Number((await db('ML_USAGE_RECORD').max({ M: 'POSITION_UP_TO' }).first())?.M)).toBe(frozenUpTo);

    // A day later (the dead process's lease long expired), a new freeze finishes the range.
    expect(await freezingPublisher(db, NOW + 86_400_000, CHUNK_PARTS).freezeOnly()).toEqual({ frozen: true });
    expect(await position()).toBe(maxSeq);
    const records = (await db('ML_USAGE_RECORD').select('SUBSCRIPTION_UUID', 'WINDOW_START', 'QUANTITY', 'IDENTIFIER', 'POSITION_AFTER', 'POSITION_UP_TO')) as Array<Record<string, unknown>>;
    expect(frozenByHour(records)).toEqual(billable);
    expect(new Set(records.map((r) => r.IDENTIFIER)).size).toBe(records.length);
    // The chunks' ranges follow each other from 0: no gap, no overlap.
    const ranges = [...new Set(records.map((r) => `${Number(r.POSITION_AFTER)}:${Number(r.POSITION_UP_TO)}`))].map((s) => s.split(':').map(Number) as [number, number]);
    ranges.sort((a, b) => a[0] - b[0]);
    expect(ranges.length).toBeGreaterThan(2);
    ranges.forEach(([after], i) => expect(after).toBe(i === 0 ? 0 : ranges[i - 1]![1]));
  }, 60_000); // a child process's start: ~1 s, far more on a loaded machine
});
