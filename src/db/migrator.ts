import type { Knex } from 'knex';
import { migrations, type MeterlineMigration } from '../../migrations';

export { SchemaConflictError, type SchemaConflict } from '../../migrations/support/schema-conflict';

/**
 * Runs Meterline's migrations (migrations/index.ts) with knex's migrator. knex records what ran
 * in ML_MIGRATIONS (and locks with ML_MIGRATIONS_lock); `rollbackAll` leaves those two tables in
 * place, empty of applied migrations, as knex always does.
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

function migratorConfig(): Knex.MigratorConfig {
  return { migrationSource: new StaticMigrationSource(migrations), tableName: MIGRATIONS_TABLE };
}

/**
 * Applies every pending migration as one batch and returns their names, in the order they ran
 * (empty when the schema was up to date). Throws `SchemaConflictError`, before changing anything,
 * when existing tables cannot be attached to.
 */
export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, names] = (await knex.migrate.latest(migratorConfig())) as [number, string[]];
  return names;
}

/**
 * Rolls back every applied migration, newest first, and returns their names in that order. Drops
 * only the tables Meterline created; tables it attached to are left as they were.
 */
export async function rollbackAll(knex: Knex): Promise<string[]> {
  const [, names] = (await knex.migrate.rollback(migratorConfig(), true)) as [number, string[]];
  return names;
}

export async function migrationStatus(knex: Knex): Promise<MigrationStatus> {
  const [completed, pending] = (await knex.migrate.list(migratorConfig())) as [
    Array<{ name: string }>,
    MeterlineMigration[],
  ];
  return { applied: completed.map((row) => row.name), pending: pending.map((migration) => migration.name) };
}
