import type { Knex } from 'knex';
import {
  dialectOf,
  isStoredColumn,
  quotedCaseVariant,
  readReferencedColumn,
  tableExists,
  traitsOfCreatedColumn,
  type Dialect,
  type ReferencedColumnTraits,
} from '../../src/db/dialect';
import { forgetOwnership, ownedTables, recordOwnership } from './ownership';
import { SchemaConflictError, type SchemaConflict } from './schema-conflict';

/** A column another table's foreign key points at; `kind` says how Meterline would create it. */
export interface ColumnReference {
  readonly table: string;
  readonly column: string;
  readonly kind: 'identity' | 'string';
}

/** What a table definition may ask about its surroundings while it is being built. */
export interface DefineContext {
  readonly dialect: Dialect;
  /** Traits of a column listed in the spec's `references` (MySQL signedness and collation). */
  referenced(table: string, column: string): ReferencedColumnTraits;
}

/** One table: how to create it, and what an existing copy must offer to be attached to. */
export interface TableSpec {
  readonly name: string;
  /** Columns Meterline reads or writes. An existing (attached) table must have all of them. */
  readonly requiredColumns: readonly string[];
  /** Columns of other tables this table's foreign keys reference. */
  readonly references: readonly ColumnReference[];
  define(t: Knex.CreateTableBuilder, context: DefineContext): void;
}

/**
 * The tables of one migration, in creation order, and what to do when one already exists:
 * `attach` (a WSO2 gateway table: check its columns and leave it alone) or `refuse`.
 */
export interface TableGroup {
  readonly migration: string;
  readonly whenTableExists: 'attach' | 'refuse';
  readonly tables: readonly TableSpec[];
}

/**
 * `up` for a table group. Checks every table first and throws one `SchemaConflictError` listing
 * every problem before any DDL runs. Then creates the missing tables, recording each in the
 * ownership ledger *before* its CREATE: on MySQL and Oracle DDL commits implicitly, and writing
 * the ledger first means an interrupted run can be resumed by migrating again.
 */
export async function createOrAttachTables(knex: Knex, group: TableGroup): Promise<void> {
  const dialect = dialectOf(knex);
  const owned = await ownedTables(knex, group.migration);
  const conflicts: SchemaConflict[] = [];
  const toCreate: TableSpec[] = [];
  for (const spec of group.tables) {
    if (await tableExists(knex, spec.name)) {
      if (owned.has(spec.name)) continue; // created by an interrupted earlier run of this migration
      if (group.whenTableExists === 'refuse') {
        conflicts.push({ kind: 'table-exists', table: spec.name });
        continue;
      }
      const missing = await missingColumns(knex, dialect, spec);
      if (missing.length > 0) conflicts.push({ kind: 'missing-columns', table: spec.name, columns: missing });
      continue;
    }
    const storedAs = await quotedCaseVariant(knex, spec.name);
    if (storedAs !== undefined) {
      conflicts.push({ kind: 'quoted-name', table: spec.name, storedAs });
      continue;
    }
    toCreate.push(spec);
  }
  if (conflicts.length > 0) throw new SchemaConflictError(group.migration, conflicts);

  for (const spec of toCreate) {
    const context = await contextFromDatabase(knex, dialect, spec);
    if (!owned.has(spec.name)) await recordOwnership(knex, spec.name, group.migration);
    await knex.schema.createTable(spec.name, (t) => spec.define(t, context));
  }
}

/** `down` for a table group: drops, children first, only the tables Meterline created. */
export async function dropOwnedTables(knex: Knex, group: TableGroup): Promise<void> {
  const owned = await ownedTables(knex, group.migration);
  for (const spec of [...group.tables].reverse()) {
    if (!owned.has(spec.name)) continue;
    await knex.schema.dropTableIfExists(spec.name);
    await forgetOwnership(knex, spec.name);
  }
}

/**
 * The context `up` computes when every referenced table was created by Meterline. The DDL tests
 * use it to compile the very definitions `up` runs, for databases we cannot start (SQL Server,
 * Oracle), with knex's own dialect compilers.
 */
export function contextForFreshSchema(dialect: Dialect, spec: TableSpec): DefineContext {
  return contextFrom(
    dialect,
    spec,
    new Map(spec.references.map((ref) => [key(ref.table, ref.column), traitsOfCreatedColumn(dialect, ref.kind)])),
  );
}

async function contextFromDatabase(knex: Knex, dialect: Dialect, spec: TableSpec): Promise<DefineContext> {
  const traits = new Map<string, ReferencedColumnTraits>();
  for (const ref of spec.references) {
    traits.set(key(ref.table, ref.column), await readReferencedColumn(knex, ref.table, ref.column));
  }
  return contextFrom(dialect, spec, traits);
}

function contextFrom(dialect: Dialect, spec: TableSpec, traits: ReadonlyMap<string, ReferencedColumnTraits>): DefineContext {
  return {
    dialect,
    referenced(table, column) {
      const found = traits.get(key(table, column));
      if (found === undefined) throw new Error(`${spec.name}: ${table}.${column} is not listed in its references`);
      return found;
    },
  };
}

async function missingColumns(knex: Knex, dialect: Dialect, spec: TableSpec): Promise<string[]> {
  // The catalogue's own names: migrations run without the upper-casing of result keys (migrator.ts).
  const present = Object.keys(await knex(spec.name).columnInfo());
  return spec.requiredColumns.filter((wanted) => !present.some((name) => isStoredColumn(dialect, name, wanted)));
}

function key(table: string, column: string): string {
  return `${table}.${column}`;
}
