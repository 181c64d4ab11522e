import { tableExists } from '../../src/db/dialect';
import { migrateLatest, rollbackAll, SchemaConflictError } from '../helpers/migrations';
import { forEachTestDatabase, listTables, storedTableNames } from '../helpers/databases';
import { createWso2GatewayTables, dropWso2GatewayTables, EXISTING_API, WSO2_GATEWAY_TABLES } from './wso2-schema';

const TABLES_METERLINE_ADDS = [
  'AM_MONETIZATION',
  'AM_MONETIZATION_PLATFORM_CUSTOMERS',
  'AM_MONETIZATION_SHARED_CUSTOMERS',
  'AM_MONETIZATION_SUBSCRIPTIONS',
  'AM_POLICY_PLAN_MAPPING',
  'ML_API_MONETIZATION',
  'ML_API_POLICY',
  'ML_ENGINE_SUBSCRIPTION',
  'ML_INTEGRATION_API_TIER',
  'ML_INTEGRATION_DELIVERY',
  'ML_INTEGRATION_INVOICE',
  'ML_INTEGRATION_PLAN',
  'ML_INTEGRATION_SUBSCRIPTION',
  'ML_INVOICE',
  'ML_MYFATOORAH_API_PLAN',
  'ML_MYFATOORAH_INVOICE',
  'ML_MYFATOORAH_SEND',
  'ML_MYFATOORAH_SUBSCRIPTION',
  'ML_NOTIFICATION_CHANNEL',
  'ML_NOTIFICATION_DELIVERY',
  'ML_OWN_INVOICE',
  'ML_OWN_INVOICE_LINE',
  'ML_OWN_INVOICE_USAGE',
  'ML_POLICY_PRICING',
  'ML_SPEND_LIMIT',
  'ML_SPEND_STATE',
  'ML_SUBSCRIPTION_BILLING',
  'ML_USAGE_BILLING_CYCLE',
  'ML_USAGE_EVENT',
  'ML_USAGE_PUBLISH_JOB',
  'ML_USAGE_RECORD',
  'ML_USAGE_SOURCE_POSITION',
  'ML_WEBHOOK_EVENT',
];

const KNEX_BOOKKEEPING = ['ML_MIGRATIONS', 'ML_MIGRATIONS_lock'];

forEachTestDatabase((kind, db) => {
  afterEach(async () => {
    await rollbackAll(db().knex);
    await db().knex.schema.dropTableIfExists('AM_MONETIZATION');
    await dropWso2GatewayTables(db().knex);
  });

  // On PostgreSQL the gateway tables are made as WSO2's scripts make them: unquoted, so stored
  // in lower case (see wso2-schema.ts). Everything below reads and writes them through knex with
  // WSO2's upper-case names.
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

    it('adds the monetization tables beside the gateway tables, and nothing else', async () => {
      await migrateLatest(db().knex);
      const expected = [...WSO2_GATEWAY_TABLES, ...TABLES_METERLINE_ADDS, 'ML_SCHEMA_OWNERSHIP', 'ML_SCHEMA_ADOPTION', ...KNEX_BOOKKEEPING];
      expect(await listTables(db())).toEqual(storedTableNames(db(), expected));
    });

    it('records as its own only the tables it created', async () => {
      await migrateLatest(db().knex);
      const rows = (await db().knex('ML_SCHEMA_OWNERSHIP').select('TABLE_NAME')) as Array<{ TABLE_NAME: string }>;
      expect(rows.map((row) => row.TABLE_NAME).sort()).toEqual(TABLES_METERLINE_ADDS);
    });

    it('lets monetization rows reference the existing API, read back under upper-case names', async () => {
      await migrateLatest(db().knex);
      await db().knex('AM_MONETIZATION').insert({ API_ID: EXISTING_API.API_ID, TIER_NAME: 'Gold', STRIPE_PLAN_ID: 'price_1' });
      expect(await db().knex('AM_MONETIZATION').select()).toEqual([
        { API_ID: EXISTING_API.API_ID, TIER_NAME: 'Gold', STRIPE_PRODUCT_ID: null, STRIPE_PLAN_ID: 'price_1' },
      ]);
    });

    it('removes the monetization rows of an existing API when the API row is deleted', async () => {
      await migrateLatest(db().knex);
      await db().knex('AM_MONETIZATION').insert({ API_ID: EXISTING_API.API_ID, TIER_NAME: 'Gold' });
      await db().knex('AM_API').where({ API_ID: EXISTING_API.API_ID }).delete();
      expect(await db().knex('AM_MONETIZATION').select()).toEqual([]);
    });

    it('keeps the existing gateway tables when everything is rolled back', async () => {
      await migrateLatest(db().knex);
      await rollbackAll(db().knex);
      expect(await listTables(db())).toEqual(storedTableNames(db(), [...WSO2_GATEWAY_TABLES, ...KNEX_BOOKKEEPING]));
    });

    it("removes on rollback the usage-publisher row Meterline wrote where WSO2 had none", async () => {
      await migrateLatest(db().knex);
      await db().knex('AM_MONETIZATION_USAGE').insert({ ID: 'USAGE_PUBLISHER', STATE: 'COMPLETED', STATUS: 'SUCCESSFULL', STARTED_TIME: '1', PUBLISHED_TIME: '2' });
      await rollbackAll(db().knex);
      expect(await db().knex('AM_MONETIZATION_USAGE').select()).toEqual([]);
    });

    it('keeps the rows of the existing gateway tables when everything is rolled back', async () => {
      await migrateLatest(db().knex);
      await rollbackAll(db().knex);
      expect(await db().knex('AM_API').select('API_UUID')).toEqual([{ API_UUID: EXISTING_API.API_UUID }]);
    });
  });

  if (kind === 'postgres') {
    describe("WSO2's unquoted PostgreSQL tables, seen with psql's eyes", () => {
      beforeEach(async () => {
        await createWso2GatewayTables(db().knex);
      });

      it('leaves the WSO2 API row readable by unquoted SQL, as WSO2 reads it', async () => {
        await migrateLatest(db().knex);
        const result = (await db().knex.raw('SELECT API_ID, API_UUID, API_NAME FROM AM_API')) as { rows: unknown[] };
        expect(result.rows).toEqual([EXISTING_API]);
      });

      it('creates the monetization tables and their columns in lower case, usable by unquoted SQL', async () => {
        await migrateLatest(db().knex);
        await db().knex.raw("INSERT INTO AM_MONETIZATION (API_ID, TIER_NAME, STRIPE_PLAN_ID) VALUES (7, 'Gold', 'price_1')");
        expect(await db().knex('AM_MONETIZATION').select('API_ID', 'TIER_NAME')).toEqual([{ API_ID: 7, TIER_NAME: 'Gold' }]);
        const columns = (await db().knex.raw(
          "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'am_monetization' ORDER BY ordinal_position",
        )) as { rows: Array<{ COLUMN_NAME: string }> };
        expect(columns.rows.map((row) => row.COLUMN_NAME)).toEqual(['api_id', 'tier_name', 'stripe_product_id', 'stripe_plan_id']);
      });

      it('cascades a delete WSO2 makes with its own unquoted SQL', async () => {
        await migrateLatest(db().knex);
        await db().knex('AM_MONETIZATION').insert({ API_ID: EXISTING_API.API_ID, TIER_NAME: 'Gold' });
        await db().knex.raw('DELETE FROM AM_API WHERE API_ID = ?', [EXISTING_API.API_ID]);
        expect(await db().knex('AM_MONETIZATION').select()).toEqual([]);
      });

      it('keeps the WSO2 row after everything is rolled back, readable by unquoted SQL', async () => {
        await migrateLatest(db().knex);
        await rollbackAll(db().knex);
        const result = (await db().knex.raw('SELECT API_UUID FROM AM_API')) as { rows: unknown[] };
        expect(result.rows).toEqual([{ API_UUID: EXISTING_API.API_UUID }]);
      });
    });

    describe('a gateway table created quoted in upper case ("AM_API", not WSO2\'s am_api)', () => {
      beforeEach(async () => {
        await db().knex.raw('CREATE TABLE "AM_API" ("API_ID" INTEGER PRIMARY KEY, "API_UUID" VARCHAR(256))');
      });
      afterEach(async () => {
        await db().knex.raw('DROP TABLE IF EXISTS "AM_API"');
      });

      it('fails the migration instead of creating a second, lower-case am_api beside it', async () => {
        await expect(migrateLatest(db().knex)).rejects.toMatchObject({
          name: 'SchemaConflictError',
          conflicts: [{ kind: 'quoted-name', table: 'AM_API', storedAs: 'AM_API' }],
        });
      });

      it('says why in the message', async () => {
        await expect(migrateLatest(db().knex)).rejects.toThrow('AM_API exists as "AM_API" (created quoted, in upper case)');
      });

      it('creates no table', async () => {
        await migrateLatest(db().knex).catch(() => undefined);
        expect(await listTables(db())).toEqual(['AM_API', ...storedTableNames(db(), KNEX_BOOKKEEPING)]);
      });
    });
  }

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
      expect(await tableExists(db().knex, 'AM_MONETIZATION')).toBe(false);
    });

    it('migrates once the columns are added', async () => {
      await migrateLatest(db().knex).catch(() => undefined);
      await db().knex.schema.alterTable('AM_API', (t) => {
        t.string('STATUS', 30);
        t.string('ORGANIZATION', 100);
      });
      await migrateLatest(db().knex);
      expect(await tableExists(db().knex, 'AM_MONETIZATION')).toBe(true);
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

    it('is adopted in place: its rows stay, and it is recorded as adopted, not created', async () => {
      await db().knex('AM_MONETIZATION').insert({ API_ID: EXISTING_API.API_ID, TIER_NAME: 'Gold', STRIPE_PRODUCT_ID: 'prod_1', STRIPE_PLAN_ID: 'plan_1' });
      await migrateLatest(db().knex);
      expect(await db().knex('AM_MONETIZATION').select('API_ID', 'TIER_NAME', 'STRIPE_PLAN_ID')).toEqual([{ API_ID: EXISTING_API.API_ID, TIER_NAME: 'Gold', STRIPE_PLAN_ID: 'plan_1' }]);
      expect(await db().knex('ML_SCHEMA_OWNERSHIP').where({ TABLE_NAME: 'AM_MONETIZATION' }).select()).toEqual([]);
      expect(await db().knex('ML_SCHEMA_ADOPTION').where({ KIND: 'TABLE', TABLE_NAME: 'AM_MONETIZATION' }).select('MIGRATION')).toEqual([
        { MIGRATION: '20250601000200_monetization_tables' },
      ]);
    });

    describe('holding two rows for one API and tier', () => {
      beforeEach(async () => {
        const row = { API_ID: EXISTING_API.API_ID, TIER_NAME: 'Gold', STRIPE_PRODUCT_ID: 'prod_1' };
        await db().knex('AM_MONETIZATION').insert([{ ...row, STRIPE_PLAN_ID: 'plan_1' }, { ...row, STRIPE_PLAN_ID: 'plan_2' }]);
      });

      it('fails the migration with a SchemaConflictError naming the duplicates', async () => {
        const failure = migrateLatest(db().knex);
        await expect(failure).rejects.toBeInstanceOf(SchemaConflictError);
        await expect(migrateLatest(db().knex)).rejects.toThrow(
          'AM_MONETIZATION has several rows for one (API_ID, TIER_NAME), where Meterline needs one row each: (API_ID=7, TIER_NAME=Gold) ×2',
        );
      });

      it('fails before any migration ran: no table is created, on any database', async () => {
        await migrateLatest(db().knex).catch(() => undefined);
        expect(await listTables(db())).toEqual(storedTableNames(db(), [...WSO2_GATEWAY_TABLES, 'AM_MONETIZATION', ...KNEX_BOOKKEEPING]));
      });
    });
  });
});
