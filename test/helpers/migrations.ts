import type { Knex } from 'knex';
import { migrationsFor } from '../../src/composition';
import * as migrator from '../../src/db/migrator';

export { SchemaConflictError } from '../../src/db/migrator';

/**
 * The schema the built-in engines need (the core's migrations and every built-in engine's, as
 * `meterline migrate` runs them), bound for tests: `migrateLatest(db)` sets up a database.
 */
export const allMigrations = migrationsFor(undefined);

export const migrateLatest = (knex: Knex): Promise<string[]> => migrator.migrateLatest(knex, allMigrations);
export const rollbackAll = (knex: Knex): Promise<string[]> => migrator.rollbackAll(knex, allMigrations);
export const migrationStatus = (knex: Knex): Promise<migrator.MigrationStatus> => migrator.migrationStatus(knex, allMigrations);
