import { RecordStore, type NewRecord } from '../../src/usage/record-store';
import { forEachTestDatabase } from '../helpers/databases';
import { migrateLatest } from '../helpers/migrations';

/**
 * Freezing writes its records through each database's fastest plain insert (SQLite: a VALUES
 * list run as the driver's prepared statement, PostgreSQL: COPY in its text format): every field
 * must come back as given, characters COPY escapes included, in more rows than one statement
 * takes (SQLite: 500, PostgreSQL: 10,000), inside the freeze's transaction, and a rolled-back
 * transaction must leave none of them.
 */
forEachTestDatabase((kind, database) => {
  const records = (from: number, count: number, batch: number): NewRecord[] =>
    Array.from({ length: count }, (_, i) => {
      const n = from + i;
      return {
        subscriptionUuid: `sub-${n % 7}`,
        apiUuid: 'api-ünïcode-✓',
        windowStart: 1_900_000_000_000 + n * 3_600_000,
        windowEnd: 1_900_000_000_000 + (n + 1) * 3_600_000 - (n % 3),
        firstEventSeq: 2_000_000_000 + n,
        freezeBatch: batch,
        source: 'local',
        positionAfter: 4_000_000_000 + n,
        positionUpTo: 5_000_000_000 + n,
        quantity: n + 1,
        identifier: `mlu_test_${kind}_${n}`,
        createdAt: 1_900_000_000_123,
      };
    });

  beforeAll(async () => {
    await migrateLatest(database().knex);
  });

  it('stores every field of a freeze that takes several statements, as PENDING and never attempted', async () => {
    const db = database().knex;
    const store = new RecordStore(db);
    const given = records(0, 1_203, 3);
    await db.transaction((tx) => store.insert(tx, given));
    const stored = await store.list();
    expect(stored).toHaveLength(given.length);
    const byIdentifier = new Map(stored.map((r) => [r.identifier, r]));
    for (const record of given) {
      expect(byIdentifier.get(record.identifier)).toEqual({
        ...record,
        id: expect.any(Number),
        state: 'PENDING',
        attempts: 0,
        firstAttemptAt: null,
        sentAt: null,
        lastError: null,
      });
    }
  });

  it('stores the characters COPY text escapes (backslash, tab, line ends) and quotes as given', async () => {
    const db = database().knex;
    const store = new RecordStore(db);
    const awkward = ['back\\slash', 'tab\there', 'line\nend', 'carriage\rreturn', `quote's "double"`, '\\N', 'trailing\\'];
    const given = records(50_000, awkward.length, 9).map((record, i) => ({ ...record, apiUuid: awkward[i]!, source: `src ${awkward[i]!}` }));
    await db.transaction((tx) => store.insert(tx, given));
    const stored = new Map((await store.list()).map((r) => [r.identifier, r]));
    for (const record of given) expect(stored.get(record.identifier)).toEqual(expect.objectContaining({ apiUuid: record.apiUuid, source: record.source }));
  });

  it('stores a freeze of several PostgreSQL COPYs (10,000 rows each) whole', async () => {
    const db = database().knex;
    const store = new RecordStore(db);
    const given = records(200_000, 20_007, 11);
    await db.transaction((tx) => store.insert(tx, given));
    const stored = (await db('ML_USAGE_RECORD').where('FREEZE_BATCH', 11).count({ N: '*' }).sum({ Q: 'QUANTITY' }).first()) as { N: unknown; Q: unknown };
    expect(Number(stored.N)).toBe(given.length);
    expect(Number(stored.Q)).toBe(given.reduce((sum, r) => sum + r.quantity, 0));
    const last = given[given.length - 1]!;
    expect((await store.list()).find((r) => r.identifier === last.identifier)).toEqual(expect.objectContaining({ ...last, state: 'PENDING' }));
  });

  it('stamps every record with the batch given for the whole insert, twice in a row (the full-chunk statement used again)', async () => {
    const db = database().knex;
    const store = new RecordStore(db);
    const stamped = async (from: number, batch: number) => {
      const given = records(from, 1_001, 0).map(({ freezeBatch: _ignored, ...record }) => record);
      await db.transaction((tx) => store.insert(tx, given, batch));
      const stored = new Map((await store.list()).map((r) => [r.identifier, r]));
      for (const record of given) expect(stored.get(record.identifier)).toEqual(expect.objectContaining({ ...record, freezeBatch: batch, state: 'PENDING' }));
    };
    await stamped(20_000, 7);
    await stamped(30_000, 8);
  });

  it('refuses a record with no freeze batch, its own or the insert’s', async () => {
    const db = database().knex;
    const store = new RecordStore(db);
    const [record] = records(40_000, 1, 0).map(({ freezeBatch: _ignored, ...rest }) => rest);
    await expect(db.transaction((tx) => store.insert(tx, [record!]))).rejects.toThrow(`record ${record!.identifier} has no freeze batch`);
  });

  it('stores nothing when the freeze transaction rolls back', async () => {
    const db = database().knex;
    const store = new RecordStore(db);
    const before = (await store.list()).length;
    await expect(
      db.transaction(async (tx) => {
        await store.insert(tx, records(10_000, 600, 4));
        throw new Error('crash after the insert');
      }),
    ).rejects.toThrow('crash after the insert');
    expect(await store.list()).toHaveLength(before);
  });

  it('a statement that fails after others were sent (on MariaDB the next one is already queued): its error is thrown, nothing is stored, the connection stays usable', async () => {
    const db = database().knex;
    const store = new RecordStore(db);
    const before = (await store.list()).length;
    // 12,000 records, statements of 500 to 10,000 rows: the one holding record 11,000 (never the first) repeats record 0's identifier.
    const given = records(100_000, 12_000, 5);
    given[11_000] = { ...given[11_000]!, identifier: given[0]!.identifier };
    // Matched by message: better-sqlite3's native part keeps the error class of the first test file
    // that loaded it in this worker, so its errors may not be this file's `Error` (toThrow's check).
    await expect(
      db.transaction(async (tx) => {
        await store.insert(tx, given);
      }),
    ).rejects.toMatchObject({ message: expect.stringMatching(/duplicate|unique/i) });
    expect(await store.list()).toHaveLength(before);
    // The connection is usable afterwards: the same records without the repeat go in whole.
    given[11_000] = records(100_000 + 11_000, 1, 5)[0]!;
    await db.transaction((tx) => store.insert(tx, given));
    expect(await store.list()).toHaveLength(before + 12_000);
  });
});
