import { migrateLatest, rollbackAll, SchemaConflictError } from '../../src/db/migrator';
import { forEachTestDatabase, listTables } from '../helpers/databases';
import { createWso2GatewayTables, dropWso2GatewayTables, EXISTING_API, WSO2_GATEWAY_TABLES } from './wso2-schema';

const TABLES_METERLINE_ADDS = [
  'AM_MONETIZATION',
  'AM_MONETIZATION_PLATFORM_CUSTOMERS',
  'AM_MONETIZATION_SHARED_CUSTOMERS',
  'AM_MONETIZATION_SUBSCRIPTIONS',
  'AM_POLICY_PLAN_MAPPING',
  'ML_API_MONETIZATION',
  'ML_API_POLICY',
];

forEachTestDatabase((kind, db) => {
  afterEach(async () => {
    await rollbackAll(db().knex);
    await db().knex.schema.dropTableIfExists('AM_MONETIZATION');
    await dropWso2GatewayTables(db().knex);
  });

  describe('attaching to an existing WSO2 database', () => {
    beforeEach(async () => {
      await createWso2GatewayTables(db().knex);
    });

    it('keeps the rows of the existing gateway tables', async () => {
      await migrateLatest(db().knex);
      expect(await db().knex('AM_API').select('API_ID', 'API_UUID', 'API_NAME')).toEqual([EXISTING_API]);
    });

    it('leaves the columns of the existing gateway tables as they were', async () => {
      const before = Object.keys(await db().knex('AM_API').columnInfo()).sort();
      await migrateLatest(db().knex);
      expect(Object.keys(await db().knex('AM_API').columnInfo()).sort()).toEqual(before);
    });

    it('records as its own only the tables it created', async () => {
      await migrateLatest(db().knex);
      const owned = (await db().knex('ML_SCHEMA_OWNERSHIP').pluck('TABLE_NAME')) as string[];
      expect(owned.sort()).toEqual(TABLES_METERLINE_ADDS);
    });

    it('lets monetization rows reference the existing API', async () => {
      await migrateLatest(db().knex);
      await db().knex('AM_MONETIZATION').insert({ API_ID: EXISTING_API.API_ID, TIER_NAME: 'Gold', STRIPE_PLAN_ID: 'price_1' });
      expect(await db().knex('AM_MONETIZATION').pluck('TIER_NAME')).toEqual(['Gold']);
    });

    it('keeps the existing gateway tables when everything is rolled back', async () => {
      await migrateLatest(db().knex);
      await rollbackAll(db().knex);
      expect(await listTables(db())).toEqual([...WSO2_GATEWAY_TABLES, 'ML_MIGRATIONS', 'ML_MIGRATIONS_lock'].sort());
    });

    it('keeps the rows of the existing gateway tables when everything is rolled back', async () => {
      await migrateLatest(db().knex);
      await rollbackAll(db().knex);
      expect(await db().knex('AM_API').pluck('API_UUID')).toEqual([EXISTING_API.API_UUID]);
    });
  });

  describe('an existing gateway table without the columns Meterline needs', () => {
    beforeEach(async () => {
      await createWso2GatewayTables(db().knex, { table: 'AM_API', columns: ['STATUS', 'ORGANIZATION'] });
    });

    it('fails the migration with a message naming the table and the missing columns', async () => {
      await expect(migrateLatest(db().knex)).rejects.toThrow('AM_API exists but lacks columns Meterline needs: STATUS, ORGANIZATION');
    });

    it('fails with a SchemaConflictError listing the conflict', async () => {
      await expect(migrateLatest(db().knex)).rejects.toMatchObject({
        name: 'SchemaConflictError',
        conflicts: [{ kind: 'missing-columns', table: 'AM_API', columns: ['STATUS', 'ORGANIZATION'] }],
      });
    });

    it('creates no monetization table', async () => {
      await migrateLatest(db().knex).catch(() => undefined);
      expect(await db().knex.schema.hasTable('AM_MONETIZATION')).toBe(false);
    });

    it('migrates once the columns are added', async () => {
      await migrateLatest(db().knex).catch(() => undefined);
      await db().knex.schema.alterTable('AM_API', (t) => {
        t.string('STATUS', 30);
        t.string('ORGANIZATION', 100);
      });
      await migrateLatest(db().knex);
      expect(await db().knex.schema.hasTable('AM_MONETIZATION')).toBe(true);
    });
  });

  describe('a monetization table created by hand from WSO2 guide', () => {
    beforeEach(async () => {
      await createWso2GatewayTables(db().knex);
      await db().knex.schema.createTable('AM_MONETIZATION', (t) => {
        t.integer('API_ID').notNullable();
        t.string('TIER_NAME', 512);
        t.string('STRIPE_PRODUCT_ID', 512);
        t.string('STRIPE_PLAN_ID', 512);
      });
    });

    it('fails the migration, saying the table exists and was not created by Meterline', async () => {
      await expect(migrateLatest(db().knex)).rejects.toThrow(/AM_MONETIZATION already exists and was not created by Meterline/);
    });

    it('is a SchemaConflictError', async () => {
      await expect(migrateLatest(db().knex)).rejects.toBeInstanceOf(SchemaConflictError);
    });
  });

  if (kind === 'postgres') {
    describe('a WSO2 table created unquoted by WSO2 PostgreSQL scripts (stored as am_api)', () => {
      beforeEach(async () => {
        await db().knex.raw('CREATE TABLE am_api (api_id INTEGER PRIMARY KEY, api_uuid VARCHAR(256))');
      });
      afterEach(async () => {
        await db().knex.raw('DROP TABLE am_api');
      });

      it('fails the migration instead of creating a second "AM_API" beside it', async () => {
        await expect(migrateLatest(db().knex)).rejects.toThrow('AM_API exists as "am_api"');
      });
    });
  }
});
