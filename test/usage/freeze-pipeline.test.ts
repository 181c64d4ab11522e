import { LocalEventSource, type PositionRange, type SliceUsage, type UsageChunk, type UsageSlice, type UsageSource } from '../../src/usage/sources';
import { HOUR_MS } from '../../src/usage/windows';
import { forEachTestDatabase } from '../helpers/databases';
import { migrateLatest } from '../helpers/migrations';
import { billableByHour, frozenByHour, outOfOrderEvents } from './freeze-fixtures';
import { freezingPublisher } from './freezer-kill-child';

/**
 * A chunked freeze in two stages (src/usage/publisher.ts, freezeAll): on a database server the
 * next chunk is read while this one is written; on SQLite (one connection) only after. Either way
 * the chunks commit in order, and a read that fails while a chunk is written leaves that chunk
 * frozen and the rest for the next freeze, every event frozen once.
 */
const HOUR = 493_000;
const NOW = (HOUR + 48) * HOUR_MS;
const CHUNK_PARTS = 4;
const SUBSCRIPTIONS = ['pipe-a', 'pipe-b', 'pipe-c'];

/** The local source, counting the chunks asked of it (a chunk is asked when the freeze resumes the read), failing the `failOn`th. */
class WatchedSource implements UsageSource {
  readonly name: string;
  asked = 0;
  private readonly local: LocalEventSource;

  constructor(db: ConstructorParameters<typeof LocalEventSource>[0]['db'], private readonly failOn?: number) {
    this.local = new LocalEventSource({ db });
    this.name = this.local.name;
  }

  initialPosition(): number {
    return this.local.initialPosition();
  }

  settledPosition(): Promise<number> {
    return this.local.settledPosition();
  }

  hourlyUsage(range: PositionRange) {
    return this.local.hourlyUsage(range);
  }

  sliceUsage(range: PositionRange, slices: readonly UsageSlice[]): Promise<SliceUsage[]> {
    return this.local.sliceUsage(range, slices);
  }

  async *splitHourlyUsage(
    range: PositionRange,
    cutOffsets: (subscriptionUuids: readonly string[]) => Promise<ReadonlyMap<string, number>>,
    maxParts: number,
  ): AsyncGenerator<UsageChunk> {
    const chunks = this.local.splitHourlyUsage(range, cutOffsets, maxParts);
    for (;;) {
      this.asked += 1;
      if (this.asked === this.failOn) throw new Error(`chunk ${this.asked} could not be read`);
      const next = await chunks.next();
      if (next.done) return;
      yield next.value;
    }
  }
}

forEachTestDatabase((kind, database) => {
  let billable = new Map<string, number>();

  beforeAll(async () => {
    const db = database().knex;
    await migrateLatest(db);
    await db('ML_USAGE_EVENT').delete();
    await db('ML_USAGE_EVENT').insert(outOfOrderEvents({ kind, label: 'pipe', hour: HOUR, subscriptions: SUBSCRIPTIONS, count: 48, quantity: (n) => 1 + (n % 3) }));
    billable = await billableByHour(db);
  });

  // Each test freezes the same events from the start.
  beforeEach(async () => {
    const db = database().knex;
    await db('ML_USAGE_RECORD').delete();
    await db('ML_USAGE_SOURCE_POSITION').delete();
    await db('ML_USAGE_PUBLISH_JOB').delete();
  });

  const position = async () => Number((await database().knex('ML_USAGE_SOURCE_POSITION').where({ SOURCE: 'local' }).first('POSITION'))?.POSITION ?? 0);

  /** Per subscription and hour, what the records hold; each record's identifier its own. */
  const frozenUsage = async () => {
    const records = (await database().knex('ML_USAGE_RECORD').select('SUBSCRIPTION_UUID', 'WINDOW_START', 'QUANTITY', 'IDENTIFIER')) as Array<Record<string, unknown>>;
    expect(new Set(records.map((r) => r.IDENTIFIER)).size).toBe(records.length);
    return frozenByHour(records);
  };

  it(`the next chunk is read ${kind === 'sqlite' ? 'only after' : 'while'} a chunk is written, and the chunks commit in order`, async () => {
    const db = database().knex;
    const source = new WatchedSource(db);
    const seen: Array<{ frozenUpTo: number; stored: number; asked: number }> = [];
    const probe = async (frozenUpTo: number) => {
      seen.push({ frozenUpTo, stored: await position(), asked: source.asked });
    };
    expect(await freezingPublisher(db, NOW, CHUNK_PARTS, probe, source).freezeOnly()).toEqual({ frozen: true });
    expect(seen.length).toBeGreaterThan(2);
    seen.forEach(({ frozenUpTo, stored, asked }, i) => {
      // After chunk i + 1 committed: its position is stored, and chunk i + 2 was asked for already
      // on a server (read while chunk i + 1 was written), not yet on SQLite.
      expect(stored).toBe(frozenUpTo);
      if (i > 0) expect(frozenUpTo).toBeGreaterThan(seen[i - 1]!.frozenUpTo);
      expect(asked).toBe(kind === 'sqlite' ? i + 1 : i + 2);
    });
    expect(await frozenUsage()).toEqual(billable);
  });

  it('a read that fails while a chunk is written: that chunk is frozen, the freeze reports the failure, the next one finishes the range', async () => {
    const db = database().knex;
    const failing = new WatchedSource(db, 3);
    const result = await freezingPublisher(db, NOW, CHUNK_PARTS, undefined, failing).freezeOnly();
    expect(result).toMatchObject({ frozen: false, reason: expect.stringContaining('chunk 3 could not be read') });
    // Chunks 1 and 2 committed (on a server chunk 3 failed while chunk 2 was written), nothing after.
    const frozenUpTo = await position();
    const positions = (await db('ML_USAGE_RECORD').select('POSITION_UP_TO')) as Array<Record<string, unknown>>;
    expect(new Set(positions.map((r) => Number(r.POSITION_UP_TO))).size).toBe(2);
    expect(Math.max(...positions.map((r) => Number(r.POSITION_UP_TO)))).toBe(frozenUpTo);
    const maxSeq = Number((await db('ML_USAGE_EVENT').max({ M: 'SEQ' }).first())?.M);
    expect(frozenUpTo).toBeLessThan(maxSeq);

    // A day later (the failed job's lease released), a healthy freeze reads on from there.
    expect(await freezingPublisher(db, NOW + 86_400_000, CHUNK_PARTS).freezeOnly()).toEqual({ frozen: true });
    expect(await position()).toBe(maxSeq);
    expect(await frozenUsage()).toEqual(billable);
  });
});
