import { readdirSync } from 'node:fs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coreMigrations } from '../../migrations';
import { myFatoorahMigrations } from '../../plugins/myfatoorah/migrations';
import { stripeMigrations } from '../../plugins/stripe/migrations';
import { migrationsFor } from '../../src/composition';
import * as migrator from '../../src/db/migrator';
import type { MonetizationEngineFactory } from '../../src/monetization/monetization';
import { EngineRegistry } from '../../src/monetization/registry';
import { builtInEngines } from '../../plugins';
import { allMigrations, migrateLatest, migrationStatus, rollbackAll } from '../helpers/migrations';
import { forEachTestDatabase, listTables, storedTableNames } from '../helpers/databases';

const ALL_MIGRATIONS = [
  '20250601000000_schema_ownership',
  '20250601000100_gateway_tables',
  '20250601000200_monetization_tables',
  '20250601000300_api_monetization_state',
  '20250801000000_usage_tables',
  '20250901000000_billing_records',
  '20261130000000_usage_event_per_tenant',
  '20261130000100_engine_subscription_account',
  '20261130000200_invoice_balance',
  '20261130000300_engine_subscription_cancelled',
  '20261201000400_invoice_pdf_url',
  '20261201000700_own_invoices',
  '20261201000800_policy_pricing',
  '20261201000900_own_invoice_usage',
  '20261201001000_notifications',
  '20261201001100_spend_limits',
  '20261201001700_myfatoorah_tables',
  '20261201002100_myfatoorah_sends',
  '20261201002300_http_integration_tables',
];

const MIGRATED_TABLES = [
  'AM_API',
  'AM_APPLICATION',
  'AM_MONETIZATION',
  'AM_MONETIZATION_PLATFORM_CUSTOMERS',
  'AM_MONETIZATION_SHARED_CUSTOMERS',
  'AM_MONETIZATION_SUBSCRIPTIONS',
  'AM_MONETIZATION_USAGE',
  'AM_POLICY_PLAN_MAPPING',
  'AM_POLICY_SUBSCRIPTION',
  'AM_SUBSCRIBER',
  'AM_SUBSCRIPTION',
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
  'ML_SCHEMA_OWNERSHIP',
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

/** knex's own bookkeeping, which stays after a full rollback (recording that nothing is applied). */
const KNEX_BOOKKEEPING = ['ML_MIGRATIONS', 'ML_MIGRATIONS_lock'];

function dateNamedModulesIn(folder: string): string[] {
  return readdirSync(join(__dirname, '../..', folder))
    .filter((file) => /^\d{14}_.+\.ts$/.test(file))
    .map((file) => file.replace(/\.ts$/, ''))
    .sort();
}

const noop = (): Promise<void> => Promise.resolve();

describe('the migration list', () => {
  it('the core lists every date-named module in migrations/, oldest first', () => {
    expect(coreMigrations.map((migration) => migration.name)).toEqual(dateNamedModulesIn('migrations'));
  });

  it('the Stripe engine lists every date-named module in plugins/stripe/migrations/, oldest first', () => {
    expect(stripeMigrations.map((migration) => migration.name)).toEqual(dateNamedModulesIn('plugins/stripe/migrations'));
  });

  it('the MyFatoorah engine lists every date-named module in plugins/myfatoorah/migrations/, oldest first', () => {
    expect(myFatoorahMigrations.map((migration) => migration.name)).toEqual(dateNamedModulesIn('plugins/myfatoorah/migrations'));
  });

  it("merges the engine's migrations with the core's by name, under the names they were recorded with before they moved", () => {
    expect(allMigrations.map((migration) => migration.name)).toEqual(ALL_MIGRATIONS);
  });

  it('refuses a name given twice and a name that is not date-named', () => {
    expect(() => migrator.schemaMigrations([[{ name: '20250601000100_gateway_tables', up: noop, down: noop }]])).toThrow(/given twice/);
    expect(() => migrator.schemaMigrations([[{ name: 'create_my_tables', up: noop, down: noop }]])).toThrow(/not named/);
  });

  it('lists every registered engine, and an engine loaded from a module when it is the configured one', () => {
    const custom: MonetizationEngineFactory = {
      name: 'custom',
      capabilities: builtInEngines[0]!.capabilities,
      create: () => {
        throw new Error('not built here');
      },
      migrations: [{ name: '20270101000000_custom_engine_tables', up: noop, down: noop }],
    };
    const registry = new EngineRegistry([...builtInEngines, custom]);
    expect(migrationsFor(undefined, registry).map((migration) => migration.name)).toEqual([...ALL_MIGRATIONS, '20270101000000_custom_engine_tables']);
    // An engine loaded from a module (not registered) is listed when it is the configured one.
    const folder = mkdtempSync(join(tmpdir(), 'meterline-engine-'));
    const module = join(folder, 'my-engine.js');
    writeFileSync(
      module,
      `const noop = () => Promise.resolve();
module.exports = { name: 'from-a-module', capabilities: {}, create() { throw new Error('not built here'); },
  migrations: [{ name: '20270101000100_module_engine_tables', up: noop, down: noop }] };`,
    );
    expect(migrationsFor(module).map((migration) => migration.name)).toEqual([...ALL_MIGRATIONS, '20270101000100_module_engine_tables']);
    expect(migrationsFor('stripe').map((migration) => migration.name)).toEqual(ALL_MIGRATIONS);
  });
});

forEachTestDatabase((kind, db) => {
  afterEach(async () => {
    await rollbackAll(db().knex);
  });

  if (kind === 'postgres') {
    it('is handed the application connection, which upper-cases result keys on PostgreSQL', () => {
      // What the rest of this suite relies on: migrations run from the very connection that converts.
      expect(db().knex.client.config.postProcessResponse).toEqual(expect.any(Function));
    });

    it('closes the connections it opened for the migrations', async () => {
      const connections = async (): Promise<number> => {
        const result = (await db().knex.raw(
          'select count(*) as n from pg_stat_activity where datname = current_database()',
        )) as { rows: Array<{ N: string }> };
        return Number(result.rows[0]?.N);
      };
      const before = await connections();
      await migrateLatest(db().knex);
      await rollbackAll(db().knex);
      // A closed backend leaves pg_stat_activity a moment after the client has gone.
      for (let attempt = 0; attempt < 50 && (await connections()) > before; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await connections()).toBe(before);
    });
  }

  it('leaves the application connection reading upper-case keys after migrating up, down and up', async () => {
    await migrateLatest(db().knex);
    await rollbackAll(db().knex);
    await migrateLatest(db().knex);
    const rows = (await db().knex('ML_SCHEMA_OWNERSHIP').select('TABLE_NAME').where({ TABLE_NAME: 'AM_API' })) as unknown[];
    expect(rows).toEqual([{ TABLE_NAME: 'AM_API' }]);
  });

  it('applies every migration in order on an empty database', async () => {
    await expect(migrateLatest(db().knex)).resolves.toEqual(ALL_MIGRATIONS);
  });

  it('creates the gateway, monetization and Meterline tables', async () => {
    await migrateLatest(db().knex);
    expect(await listTables(db())).toEqual(storedTableNames(db(), [...MIGRATED_TABLES, ...KNEX_BOOKKEEPING]));
  });

  it('reports nothing pending once migrated', async () => {
    await migrateLatest(db().knex);
    await expect(migrationStatus(db().knex)).resolves.toEqual({ applied: ALL_MIGRATIONS, pending: [] });
  });

  it("refuses to run without an engine's migrations once the database ran them (every engine stays listed)", async () => {
    await migrateLatest(db().knex);
    await expect(migrator.migrationStatus(db().knex, migrator.schemaMigrations())).rejects.toThrow(/20250601000200_monetization_tables/);
  });

  it('reports every migration pending on an empty database', async () => {
    await expect(migrationStatus(db().knex)).resolves.toEqual({ applied: [], pending: ALL_MIGRATIONS });
  });

  it('does nothing when migrated twice', async () => {
    await migrateLatest(db().knex);
    await expect(migrateLatest(db().knex)).resolves.toEqual([]);
  });

  it('rolls everything back newest first', async () => {
    await migrateLatest(db().knex);
    await expect(rollbackAll(db().knex)).resolves.toEqual([...ALL_MIGRATIONS].reverse());
  });

  it('leaves only knex bookkeeping after rolling everything back', async () => {
    await migrateLatest(db().knex);
    await rollbackAll(db().knex);
    expect(await listTables(db())).toEqual(storedTableNames(db(), KNEX_BOOKKEEPING));
  });

  it('migrates again after a full rollback', async () => {
    await migrateLatest(db().knex);
    await rollbackAll(db().knex);
    await migrateLatest(db().knex);
    expect(await listTables(db())).toEqual(storedTableNames(db(), [...MIGRATED_TABLES, ...KNEX_BOOKKEEPING]));
  });
});
