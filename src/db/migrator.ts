import knexFactory, { type Knex } from 'knex';
import { migrations, type MeterlineMigration } from '../../migrations';
import { dialectOf, storedName } from './dialect';

export { SchemaConflictError, type SchemaConflict } from '../../migrations/support/schema-conflict';

/**
 * Runs Meterline's migrations (migrations/index.ts) with knex's migrator. knex records what ran
 * in ML_MIGRATIONS (and locks with ML_MIGRATIONS_lock; on PostgreSQL `ml_migrations` and
 * `ml_migrations_lock`, like every name there); `rollbackAll` leaves those two tables in place,
 * empty of applied migrations, as knex always does.
 */
export const MIGRATIONS_TABLE = 'ML_MIGRATIONS';

export interface MigrationStatus {
  readonly applied: readonly string[];
  readonly pending: readonly string[];
}

class StaticMigrationSource implements Knex.MigrationSource<MeterlineMigration> {
  constructor(private readonly list: readonly MeterlineMigration[]) {}

  getMigrations(): Promise<MeterlineMigration[]> {
    return Promise.resolve([...this.list]);
  }

  getMigrationName(migration: MeterlineMigration): string {
    return migration.name;
  }

  getMigration(migration: MeterlineMigration): Promise<Knex.Migration> {
    return Promise.resolve({ up: migration.up, down: migration.down });
  }
}

function migratorConfig(knex: Knex): Knex.MigratorConfig {
  return {
    migrationSource: new StaticMigrationSource(migrations),
    // knex reads and writes this table with its own identifier handling switched off, so the
    // name is given as it is stored.
    tableName: storedName(dialectOf(knex), MIGRATIONS_TABLE),
  };
}

/**
 * Runs `work` with knex's migrator on an instance whose result rows keep the keys the database
 * gives them. On PostgreSQL the application's connection upper-cases the keys of every result
 * row (see `knexConfigFor`), but knex reads its own bookkeeping rows by lower-case keys (`name`,
 * `is_locked`). The migrations then run on a sibling instance, built from the same configuration
 * without `postProcessResponse` (identifiers are still lower-cased), which is destroyed after.
 * Elsewhere (no key conversion) the caller's instance is used as it is: it may be the only
 * connection to an in-memory SQLite database.
 */
async function withMigrator<T>(knex: Knex, work: (migrator: Knex.Migrator, config: Knex.MigratorConfig) => Promise<T>): Promise<T> {
  const config = migratorConfig(knex);
  const clientConfig = knex.client.config as Knex.Config;
  if (clientConfig.postProcessResponse == null) return work(knex.migrate, config);
  const { postProcessResponse: _omitted, ...withoutKeyConversion } = clientConfig;
  const sibling = knexFactory({ ...withoutKeyConversion, pool: { ...clientConfig.pool, min: 0 } });
  try {
    return await work(sibling.migrate, config);
  } finally {
    await sibling.destroy();
  }
}

/**
 * Applies every pending migration as one batch and returns their names, in the order they ran
 * (empty when the schema was up to date). Throws `SchemaConflictError`, before changing anything,
 * when existing tables cannot be attached to.
 */
export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, names] = (await withMigrator(knex, (migrator, config) => migrator.latest(config))) as [number, string[]];
  return names;
}

/**
 * Rolls back every applied migration, newest first, and returns their names in that order. Drops
 * only the tables Meterline created; tables it attached to are left as they were.
 */
export async function rollbackAll(knex: Knex): Promise<string[]> {
  const [, names] = (await withMigrator(knex, (migrator, config) => migrator.rollback(config, true))) as [number, string[]];
  return names;
}

export async function migrationStatus(knex: Knex): Promise<MigrationStatus> {
  const [completed, pending] = (await withMigrator(knex, (migrator, config) => migrator.list(config))) as [
    Array<{ name: string }>,
    MeterlineMigration[],
  ];
  return { applied: completed.map((row) => row.name), pending: pending.map((migration) => migration.name) };
}

/** A command that works on Meterline's tables found migrations not yet applied. */
export class PendingMigrationsError extends Error {
  constructor(readonly pending: readonly string[]) {
    super(
      `the database is missing ${pending.length} of Meterline's migrations (${pending[0]}${pending.length > 1 ? ', …' : ''}); ` +
        'run "meterline migrate" first (serve applies them itself unless migrate_on_start = false)',
    );
    this.name = 'PendingMigrationsError';
  }
}

/** For commands other than migrate and serve: refuse to run on a schema that is not up to date. */
export async function assertMigrated(knex: Knex): Promise<void> {
  const { pending } = await migrationStatus(knex);
  if (pending.length > 0) throw new PendingMigrationsError(pending);
}
