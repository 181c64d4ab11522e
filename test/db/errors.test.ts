import type { Knex } from 'knex';
import { dbErrorKind, isDeadlock, isUniqueViolation, storedValueProblem } from '../../src/db/errors';
import { upsertRow } from '../../src/db/upsert';
import { forEachTestDatabase } from '../helpers/databases';

/**
 * src/db/errors.ts against the errors the real drivers throw: each kind is provoked on every test
 * database that can produce it, so a driver upgrade that moves a code shows up here.
 */
async function errorOf(write: PromiseLike<unknown>): Promise<unknown> {
  try {
    await write;
  } catch (error) {
    return error;
  }
  throw new Error('the write was expected to fail');
}

forEachTestDatabase((kind, db) => {
  const knex = (): Knex => db().knex;

  beforeAll(async () => {
    await knex().schema.createTable('T_PARENT', (t) => {
      t.integer('ID').primary();
      t.string('NAME', 8).notNullable().unique();
    });
    await knex().schema.createTable('T_CHILD', (t) => {
      t.integer('ID').primary();
      t.integer('PARENT_ID').notNullable().references('ID').inTable('T_PARENT');
      t.integer('N').notNullable().checkPositive();
    });
    await knex()('T_PARENT').insert([
      { ID: 1, NAME: 'one' },
      { ID: 2, NAME: 'two' },
    ]);
  });
  afterAll(async () => {
    await knex().schema.dropTable('T_CHILD');
    await knex().schema.dropTable('T_PARENT');
  });

  it('classifies a taken primary key and a taken unique key as unique violations', async () => {
    const primary = await errorOf(knex()('T_PARENT').insert({ ID: 1, NAME: 'uno' }));
    const unique = await errorOf(knex()('T_PARENT').insert({ ID: 3, NAME: 'one' }));
    expect([dbErrorKind(primary), dbErrorKind(unique)]).toEqual(['UNIQUE_VIOLATION', 'UNIQUE_VIOLATION']);
    expect(isUniqueViolation(primary)).toBe(true);
    expect(storedValueProblem(primary)).toBeUndefined();
  });

  it('classifies a missing parent and a failed CHECK, and neither is a unique violation', async () => {
    const foreignKey = await errorOf(knex()('T_CHILD').insert({ ID: 1, PARENT_ID: 99, N: 1 }));
    const check = await errorOf(knex()('T_CHILD').insert({ ID: 2, PARENT_ID: 1, N: -1 }));
    expect([dbErrorKind(foreignKey), dbErrorKind(check)]).toEqual(['FOREIGN_KEY_VIOLATION', 'CHECK_VIOLATION']);
    expect([isUniqueViolation(foreignKey), isUniqueViolation(check)]).toEqual([false, false]);
  });

  it('leaves other database errors and non-database errors unclassified', async () => {
    const missingTable = await errorOf(knex()('T_NO_SUCH_TABLE').insert({ ID: 1 }));
    expect(dbErrorKind(missingTable)).toBeUndefined();
    expect([dbErrorKind(new Error('23505')), dbErrorKind({ code: 'SQLITE_CONSTRAINT_UNIQUE_X' }), dbErrorKind(undefined)]).toEqual([undefined, undefined, undefined]);
  });

  if (kind !== 'sqlite') {
    it('classifies a value longer than its column', async () => {
      const tooLong = await errorOf(knex()('T_PARENT').insert({ ID: 4, NAME: 'much too long' }));
      expect(storedValueProblem(tooLong)).toBe('VALUE_TOO_LONG');
    });

    it('classifies the victim of a deadlock (two transactions taking two rows in opposite orders)', async () => {
      // Whichever order the statements reach the server in, the second lock of each transaction
      // waits on the other's first: the server must pick a victim, no timing decides the outcome.
      const first = await knex().transaction();
      const second = await knex().transaction();
      try {
        await first('T_PARENT').where({ ID: 1 }).update({ NAME: 'one-a' });
        await second('T_PARENT').where({ ID: 2 }).update({ NAME: 'two-b' });
        const outcomes = await Promise.allSettled([
          first('T_PARENT').where({ ID: 2 }).update({ NAME: 'two-a' }),
          second('T_PARENT').where({ ID: 1 }).update({ NAME: 'one-b' }),
        ]);
        const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
        expect(failures.length).toBeGreaterThanOrEqual(1);
        expect(failures.map(isDeadlock)).toEqual(failures.map(() => true));
      } finally {
        await first.rollback().catch(() => undefined);
        await second.rollback().catch(() => undefined);
      }
      expect(await knex()('T_PARENT').orderBy('ID').select('NAME')).toEqual([{ NAME: 'one' }, { NAME: 'two' }]);
    });
  }

  describe('upsertRow', () => {
    afterEach(async () => {
      await knex()('T_CHILD').delete();
    });

    it('updates the row when its key is taken', async () => {
      await upsertRow(knex(), 'T_CHILD', { ID: 10 }, { PARENT_ID: 1, N: 1 });
      await upsertRow(knex(), 'T_CHILD', { ID: 10 }, { PARENT_ID: 2, N: 5 });
      expect(await knex()('T_CHILD').select('ID', 'PARENT_ID', 'N')).toEqual([{ ID: 10, PARENT_ID: 2, N: 5 }]);
    });

    it('rethrows any other failure of the insert, even when the key is taken, without updating', async () => {
      await knex()('T_CHILD').insert({ ID: 11, PARENT_ID: 1, N: 1 });
      // PARENT_ID is required: the insert fails on it before the key is looked at, while an
      // update of N alone would succeed (and hide the caller's bug).
      const error = await errorOf(upsertRow(knex(), 'T_CHILD', { ID: 11 }, { N: 2 }));
      expect(isUniqueViolation(error)).toBe(false);
      expect(await knex()('T_CHILD').select('ID', 'N')).toEqual([{ ID: 11, N: 1 }]);
    });
  });
});
