import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { migrations } from '../../migrations';
import { migrateLatest, migrationStatus, rollbackAll } from '../../src/db/migrator';
import { forEachTestDatabase, listTables } from '../helpers/databases';

const ALL_MIGRATIONS = [
  '20250601000000_schema_ownership',
  '20250601000100_gateway_tables',
  '20250601000200_monetization_tables',
  '20250601000300_api_monetization_state',
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
  'ML_SCHEMA_OWNERSHIP',
];

/** knex's own bookkeeping, which stays after a full rollback (recording that nothing is applied). */
const KNEX_BOOKKEEPING = ['ML_MIGRATIONS', 'ML_MIGRATIONS_lock'];

describe('the migration list', () => {
  it('names every date-named module in migrations/, oldest first', () => {
    const files = readdirSync(join(__dirname, '../../migrations'))
      .filter((file) => /^\d{14}_.+\.ts$/.test(file))
      .map((file) => file.replace(/\.ts$/, ''))
      .sort();
    expect(migrations.map((migration) => migration.name)).toEqual(files);
  });
});

forEachTestDatabase((_kind, db) => {
  afterEach(async () => {
    await rollbackAll(db().knex);
  });

  it('applies every migration in order on an empty database', async () => {
    await expect(migrateLatest(db().knex)).resolves.toEqual(ALL_MIGRATIONS);
  });

  it('creates the gateway, monetization and Meterline tables', async () => {
    await migrateLatest(db().knex);
    expect(await listTables(db())).toEqual([...MIGRATED_TABLES, ...KNEX_BOOKKEEPING].sort());
  });

  it('reports nothing pending once migrated', async () => {
    await migrateLatest(db().knex);
    await expect(migrationStatus(db().knex)).resolves.toEqual({ applied: ALL_MIGRATIONS, pending: [] });
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
    expect(await listTables(db())).toEqual(KNEX_BOOKKEEPING.sort());
  });

  it('migrates again after a full rollback', async () => {
    await migrateLatest(db().knex);
    await rollbackAll(db().knex);
    await migrateLatest(db().knex);
    expect(await listTables(db())).toEqual([...MIGRATED_TABLES, ...KNEX_BOOKKEEPING].sort());
  });
});
