import knex from 'knex';
import { configSchema, type DatabaseConfig } from '../../src/config/schema';
import { lowerCaseIdentifier, upperCaseRowKeys } from '../../src/db/identifier-case';
import { knexConfigFor } from '../../src/db/knex-config';
import { migrateLatest, rollbackAll } from '../helpers/migrations';
import { forEachTestDatabase } from '../helpers/databases';
import { apiRow } from './fixtures';

describe('upperCaseRowKeys', () => {
  it('upper-cases the keys of every row of a select', () => {
    expect(upperCaseRowKeys([{ api_id: 1, api_uuid: 'a' }, { api_id: 2, api_uuid: 'b' }])).toEqual([
      { API_ID: 1, API_UUID: 'a' },
      { API_ID: 2, API_UUID: 'b' },
    ]);
  });

  it('upper-cases the keys of the single row `first()` returns', () => {
    expect(upperCaseRowKeys({ api_id: 1 })).toEqual({ API_ID: 1 });
  });

  it('upper-cases the rows of a raw() result and keeps its other fields and prototype', () => {
    class Result {
      command = 'SELECT';
      rowCount = 1;
      rows: unknown[] = [{ table_name: 'am_api' }];
    }
    const raw = new Result();
    const converted = upperCaseRowKeys(raw);
    expect(converted).toBeInstanceOf(Result);
    expect({ ...converted }).toEqual({ command: 'SELECT', rowCount: 1, rows: [{ TABLE_NAME: 'am_api' }] });
    expect(raw.rows).toEqual([{ table_name: 'am_api' }]);
  });

  it('upper-cases the rows of each result of a multi-statement raw() query', () => {
    class Result {
      constructor(readonly rows: unknown[]) {}
    }
    const [first] = upperCaseRowKeys([new Result([{ n: 1 }])]);
    expect(first?.rows).toEqual([{ N: 1 }]);
  });

  it('leaves values alone: dates, nulls, nested objects, and keys already upper case', () => {
    const when = new Date('2025-06-01T00:00:00Z');
    const nested = { inner_key: 1 };
    const rows: unknown[] = [{ created_time: when, email_address: null, properties: nested, API_ID: 3 }];
    const [row] = upperCaseRowKeys(rows) as Array<Record<string, unknown>>;
    expect(row).toEqual({ CREATED_TIME: when, EMAIL_ADDRESS: null, PROPERTIES: { inner_key: 1 }, API_ID: 3 });
    expect(row?.CREATED_TIME).toBe(when);
  });

  it('passes through what is not a row: counts, booleans, undefined, plucked values', () => {
    expect(upperCaseRowKeys(3)).toBe(3);
    expect(upperCaseRowKeys(true)).toBe(true);
    expect(upperCaseRowKeys(undefined)).toBeUndefined();
    expect(upperCaseRowKeys(['gold', 7, null])).toEqual(['gold', 7, null]);
  });

  it('returns new rows rather than changing the driver’s', () => {
    const row = { api_id: 1 };
    upperCaseRowKeys([row]);
    expect(row).toEqual({ api_id: 1 });
  });
});

describe('lowerCaseIdentifier', () => {
  const quote = (value: string): string => `"${value}"`;

  it('lower-cases an identifier before it is quoted', () => {
    expect(lowerCaseIdentifier('AM_API', quote)).toBe('"am_api"');
  });

  it('leaves * alone', () => {
    expect(lowerCaseIdentifier('*', (value) => value)).toBe('*');
  });
});

describe('knexConfigFor', () => {
  const config = (apimDb: Record<string, unknown>): DatabaseConfig => configSchema.parse({ database: { apim_db: apimDb } }).database.apim_db;

  it('writes identifiers in lower case on PostgreSQL, as WSO2’s unquoted scripts store them', () => {
    const pg = knex(knexConfigFor(config({ type: 'postgres', url: 'postgres://u:p@127.0.0.1:1/none', pool: { min: 0, max: 1 } })));
    expect(pg('AM_API').select('API_ID', 'AM_API.API_UUID').where({ ORGANIZATION: 'carbon.super' }).toString()).toBe(
      `select "api_id", "am_api"."api_uuid" from "am_api" where "organization" = 'carbon.super'`,
    );
    expect(pg('AM_API').select('*').toString()).toBe('select * from "am_api"');
    void pg.destroy();
  });

  it.each(['mysql', 'mssql', 'oracle'] as const)('leaves identifiers and result rows alone on %s', (type) => {
    const options = knexConfigFor(config({ type, host: '127.0.0.1', port: 1, database: 'none', username: 'u', password: 'p' }));
    expect({ wrap: options.wrapIdentifier, post: options.postProcessResponse }).toEqual({ wrap: undefined, post: undefined });
  });

  it('leaves identifiers and result rows alone on SQLite', () => {
    const options = knexConfigFor(config({ type: 'sqlite', filename: ':memory:' }));
    expect({ wrap: options.wrapIdentifier, post: options.postProcessResponse }).toEqual({ wrap: undefined, post: undefined });
  });
});

/** The point of the conversion: the same names in, the same keys out, on every database. */
forEachTestDatabase((kind, db) => {
  beforeAll(async () => {
    await migrateLatest(db().knex);
  });
  afterAll(async () => {
    await rollbackAll(db().knex);
  });
  afterEach(async () => {
    await db().knex('AM_API').delete();
  });

  it('reads rows back under the upper-case names they were written with', async () => {
    await db().knex('AM_API').insert({ ...apiRow('case'), API_UUID: 'uuid-case' });
    const rows = (await db().knex('AM_API').select()) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(1);
    expect(Object.keys(rows[0] ?? {}).sort()).toEqual(
      [
        'API_ID',
        'API_UUID',
        'API_PROVIDER',
        'API_NAME',
        'API_VERSION',
        'CONTEXT',
        'API_TYPE',
        'STATUS',
        'ORGANIZATION',
        'CREATED_BY',
        'CREATED_TIME',
        'UPDATED_BY',
        'UPDATED_TIME',
      ].sort(),
    );
    expect(rows[0]).toMatchObject({ API_UUID: 'uuid-case', ORGANIZATION: 'carbon.super' });
  });

  it('reads a single row (`first`) and an aliased aggregate under upper-case names', async () => {
    await db().knex('AM_API').insert({ ...apiRow('first'), API_UUID: 'uuid-first' });
    expect(await db().knex('AM_API').first('API_UUID', 'API_NAME')).toEqual({ API_UUID: 'uuid-first', API_NAME: 'Weather-first' });
    const [count] = (await db().knex('AM_API').count({ N: '*' })) as Array<{ N: number | string }>;
    expect(Number(count?.N)).toBe(1);
  });

  if (kind === 'postgres') {
    it('returns `returning()` rows under upper-case names', async () => {
      const inserted = (await db().knex('AM_API').insert({ ...apiRow('ret'), API_UUID: 'uuid-ret' }).returning(['API_ID', 'API_UUID'])) as Array<
        Record<string, unknown>
      >;
      expect(inserted).toEqual([{ API_ID: expect.any(Number), API_UUID: 'uuid-ret' }]);
    });

    it('upper-cases the row keys of raw() results too', async () => {
      const result = (await db().knex.raw('select api_uuid from am_api')) as { rows: unknown[]; command: string };
      expect(result).toMatchObject({ command: 'SELECT', rows: [] });
      await db().knex('AM_API').insert({ ...apiRow('raw'), API_UUID: 'uuid-raw' });
      expect(((await db().knex.raw('select api_uuid from am_api')) as { rows: unknown[] }).rows).toEqual([{ API_UUID: 'uuid-raw' }]);
    });

    it('cannot pluck: knex picks plucked values by the name as written, not as returned (use select)', async () => {
      await db().knex('AM_API').insert({ ...apiRow('pluck'), API_UUID: 'uuid-pluck' });
      expect(await db().knex('AM_API').pluck('API_UUID')).toEqual([undefined]);
      const rows = (await db().knex('AM_API').select('API_UUID')) as Array<{ API_UUID: string }>;
      expect(rows.map((row) => row.API_UUID)).toEqual(['uuid-pluck']);
    });

    it('stores the tables it creates in lower case, where unquoted SQL finds them', async () => {
      const result = (await db().knex.raw(
        "select table_name from information_schema.tables where table_schema = current_schema() and table_name in ('am_api', 'AM_API')",
      )) as { rows: unknown[] };
      expect(result.rows).toEqual([{ TABLE_NAME: 'am_api' }]);
    });
  }
});
