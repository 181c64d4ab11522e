import knexFactory, { type Knex } from 'knex';
import { coreMigrations } from '../../migrations';
import { dialectOf, storedName } from './dialect';

import { SchemaConflictError, type SchemaConflict } from '../../migrations/support/schema-conflict';

export { SchemaConflictError, type SchemaConflict } from '../../migrations/support/schema-conflict';

/**
 * Runs Meterline's migrations with knex's migrator: the core's (migrations/index.ts) and those
 * billing engines ship for their own tables, merged by name (`schemaMigrations`). knex records what ran
 * in ML_MIGRATIONS (and locks with ML_MIGRATIONS_lock; on PostgreSQL `ml_migrations` and
 * `ml_migrations_lock`, like every name there); `rollbackAll` leaves those two tables in place,
 * empty of applied migrations, as knex always does.
 */
export const MIGRATIONS_TABLE = 'ML_MIGRATIONS';

export interface MigrationStatus {
  readonly applied: readonly string[];
  readonly pending: readonly string[];
}

/** One schema change as the migrator runs it: its recorded name, `up` and `down`. */
export interface SchemaMigration {
  readonly name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
  /** What `up` would refuse to run for, without changing anything (see `migrateLatest`). */
  conflicts?(knex: Knex): Promise<readonly SchemaConflict[]>;
}

/** The migrations of a schema, in the order they run: what `schemaMigrations` returns. */
export type MigrationList = readonly SchemaMigration[];

const MIGRATION_NAME = /^\d{14}_[a-z0-9_]+$/;

/**
 * The core's migrations and those of every billing engine that may write to this database, in
 * name order: engines' migrations interleave with the core's (an engine's tables may reference the
 * core's, and a later core migration may read them). Every engine ever used on the database must
 * be listed, even one not configured now: knex refuses to run when the database records a
 * migration it is not given. Throws on a name given twice or not date-named.
 */
export function schemaMigrations(engineMigrations: ReadonlyArray<readonly SchemaMigration[]> = []): MigrationList {
  const all: SchemaMigration[] = [...coreMigrations, ...engineMigrations.flat()];
  const seen = new Set<string>();
  for (const { name } of all) {
    if (!MIGRATION_NAME.test(name)) throw new Error(`migration "${name}" is not named <14-digit date>_<snake_case>`);
    if (seen.has(name)) throw new Error(`migration "${name}" is given twice (two engines, or an engine and the core)`);
    seen.add(name);
  }
  return all.sort((a, b) => (a.name < b.name ? -1 : 1));
}

class StaticMigrationSource implements Knex.MigrationSource<SchemaMigration> {
  constructor(private readonly list: readonly SchemaMigration[]) {}

  getMigrations(): Promise<SchemaMigration[]> {
    return Promise.resolve([...this.list]);
  }

  getMigrationName(migration: SchemaMigration): string {
    return migration.name;
  }

  getMigration(migration: SchemaMigration): Promise<Knex.Migration> {
    return Promise.resolve({ up: migration.up, down: migration.down });
  }
}

function migratorConfig(knex: Knex, list: MigrationList): Knex.MigratorConfig {
  return {
    migrationSource: new StaticMigrationSource(list),
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
async function withMigrator<T>(
  knex: Knex,
  list: MigrationList,
  work: (migrator: Knex.Migrator, config: Knex.MigratorConfig, migrationKnex: Knex) => Promise<T>,
): Promise<T> {
  const config = migratorConfig(knex, list);
  const clientConfig = knex.client.config as Knex.Config;
  if (clientConfig.postProcessResponse == null) return work(knex.migrate, config, knex);
  const { postProcessResponse: _omitted, ...withoutKeyConversion } = clientConfig;
  const sibling = knexFactory({ ...withoutKeyConversion, pool: { ...clientConfig.pool, min: 0 } });
  try {
    return await work(sibling.migrate, config, sibling);
  } finally {
    await sibling.destroy();
  }
}

/**
 * Applies every pending migration as one batch and returns their names, in the order they ran
 * (empty when the schema was up to date). Throws `SchemaConflictError`, before changing anything,
 * when existing tables cannot be attached to.
 */
export async function migrateLatest(knex: Knex, list: MigrationList): Promise<string[]> {
  const [, names] = (await withMigrator(knex, list, async (migrator, config, migrationKnex) => {
    await refuseConflicts(migrator, config, migrationKnex, list);
    return migrator.latest(config);
  })) as [number, string[]];
  return names;
}

/**
 * Asks every pending migration for its conflicts before the first one runs, and throws one
 * `SchemaConflictError` listing them all: on MySQL and Oracle DDL commits at once, so a
 * migration refusing halfway through the batch would leave the earlier ones applied.
 */
async function refuseConflicts(migrator: Knex.Migrator, config: Knex.MigratorConfig, knex: Knex, list: MigrationList): Promise<void> {
  const [, pending] = (await migrator.list(config)) as [unknown, SchemaMigration[]];
  const names = new Set(pending.map((migration) => migration.name));
  const found: Array<{ name: string; conflicts: readonly SchemaConflict[] }> = [];
  for (const migration of list) {
    if (!names.has(migration.name) || migration.conflicts === undefined) continue;
    const conflicts = await migration.conflicts(knex);
    if (conflicts.length > 0) found.push({ name: migration.name, conflicts });
  }
  if (found.length > 0) throw new SchemaConflictError(found.map((f) => f.name).join(', '), found.flatMap((f) => f.conflicts));
}

/**
 * Rolls back every applied migration, newest first, and returns their names in that order. Drops
 * only the tables Meterline created; tables it attached to are left as they were.
 */
export async function rollbackAll(knex: Knex, list: MigrationList): Promise<string[]> {
  const [, names] = (await withMigrator(knex, list, (migrator, config) => migrator.rollback(config, true))) as [number, string[]];
  return names;
}

export async function migrationStatus(knex: Knex, list: MigrationList): Promise<MigrationStatus> {
  const [completed, pending] = (await withMigrator(knex, list, (migrator, config) => migrator.list(config))) as [
    Array<{ name: string }>,
    SchemaMigration[],
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
export async function assertMigrated(knex: Knex, list: MigrationList): Promise<void> {
  const { pending } = await migrationStatus(knex, list);
  if (pending.length > 0) throw new PendingMigrationsError(pending);
}
