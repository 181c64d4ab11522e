import type { Knex } from 'knex';
import {
  columnValue,
  dialectOf,
  isStoredColumn,
  quotedCaseVariant,
  readReferencedColumn,
  storedName,
  tableExists,
  traitsOfCreatedColumn,
  type Dialect,
  type ReferencedColumnTraits,
} from '../../src/db/dialect';
import {
  adoptionsOf,
  forgetAdoption,
  indexExists,
  mysqlIndexes,
  recordAdoption,
  restoreMysqlIndexes,
  type AdoptionEntry,
} from './adoption';
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

/** A column Meterline adds to an adopted table that lacks it: always nullable, dropped by `down`. */
export interface AddedColumn {
  readonly name: string;
  add(t: Knex.AlterTableBuilder, context: DefineContext): void;
}

/**
 * A unique key Meterline relies on (its writes are upserts). On an adopted table the rows are
 * checked first: duplicates are a conflict naming them; otherwise the key is added as a unique
 * index under Meterline's name, and `down` drops it.
 */
export interface NeededUniqueKey {
  readonly indexName: string;
  readonly columns: readonly string[];
}

/** What Meterline does to a table it adopts (group mode `adopt`): never a change to WSO2's columns. */
export interface AdoptionSpec {
  readonly addColumns?: readonly AddedColumn[];
  readonly uniqueKeys?: readonly NeededUniqueKey[];
}

/** One table: how to create it, and what an existing copy must offer to be attached to. */
export interface TableSpec {
  readonly name: string;
  /** Columns Meterline reads or writes. An existing (attached) table must have all of them. */
  readonly requiredColumns: readonly string[];
  /** Columns of other tables this table's foreign keys reference. */
  readonly references: readonly ColumnReference[];
  /** How an existing copy is taken over, in a group whose mode is `adopt`. */
  readonly adopt?: AdoptionSpec;
  define(t: Knex.CreateTableBuilder, context: DefineContext): void;
}

/**
 * The tables of one migration, in creation order, and what to do when one already exists:
 * `attach` (a WSO2 gateway table: check its columns and leave it alone), `adopt` (a table of
 * WSO2's monetization guide: keep its columns and rows, add only what its `adopt` spec names,
 * and record it all in ML_SCHEMA_ADOPTION) or `refuse`.
 */
export interface TableGroup {
  readonly migration: string;
  readonly whenTableExists: 'attach' | 'adopt' | 'refuse';
  readonly tables: readonly TableSpec[];
}

/** What `up` will do, decided before any change: the tables to create and those to adopt. */
interface GroupPlan {
  readonly conflicts: SchemaConflict[];
  readonly toCreate: TableSpec[];
  readonly toAdopt: TableSpec[];
  readonly attached: TableSpec[];
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
  const plan = await planGroup(knex, group);
  if (plan.conflicts.length > 0) throw new SchemaConflictError(group.migration, plan.conflicts);

  // Adopted tables first: a table created below may reference one of them.
  const recorded = await adoptionsOf(knex, group.migration);
  for (const spec of plan.attached) {
    const known = recorded.some((e) => e.kind === 'TABLE' && e.table === spec.name);
    if (!known) await recordAdoption(knex, { kind: 'TABLE', table: spec.name, object: '', migration: group.migration, saved: null });
  }
  for (const spec of plan.toAdopt) await adoptTable(knex, group.migration, spec, recorded);
  for (const spec of plan.toCreate) {
    const context = await contextFromDatabase(knex, dialect, spec);
    if (!owned.has(spec.name)) await recordOwnership(knex, spec.name, group.migration);
    await knex.schema.createTable(spec.name, (t) => spec.define(t, context));
  }
}

/**
 * The conflicts `up` would throw for, computed without changing anything: the migrator asks
 * every pending migration before running the first one (on MySQL and Oracle DDL commits at once,
 * so a conflict found halfway would leave the earlier migrations applied).
 */
export async function groupConflicts(knex: Knex, group: TableGroup): Promise<SchemaConflict[]> {
  return (await planGroup(knex, group)).conflicts;
}

async function planGroup(knex: Knex, group: TableGroup): Promise<GroupPlan> {
  const dialect = dialectOf(knex);
  const owned = await ownedTables(knex, group.migration);
  const recorded = await adoptionsOf(knex, group.migration);
  const plan: GroupPlan = { conflicts: [], toCreate: [], toAdopt: [], attached: [] };
  for (const spec of group.tables) {
    if (await tableExists(knex, spec.name)) {
      if (owned.has(spec.name)) continue; // created by an interrupted earlier run of this migration
      if (group.whenTableExists === 'refuse') {
        plan.conflicts.push({ kind: 'table-exists', table: spec.name });
        continue;
      }
      const addable = new Set((spec.adopt?.addColumns ?? []).map((c) => c.name));
      const missing = (await missingColumns(knex, dialect, spec)).filter((c) => group.whenTableExists !== 'adopt' || !addable.has(c));
      if (missing.length > 0) plan.conflicts.push({ kind: 'missing-columns', table: spec.name, columns: missing });
      if (group.whenTableExists === 'attach') {
        plan.attached.push(spec);
        continue;
      }
      for (const key of spec.adopt?.uniqueKeys ?? []) {
        if (recorded.some((e) => e.kind === 'INDEX' && e.table === spec.name && e.object === key.indexName)) continue;
        const duplicates = await duplicateKeys(knex, spec.name, key.columns);
        if (duplicates.length > 0) plan.conflicts.push({ kind: 'duplicate-rows', table: spec.name, columns: key.columns, duplicates });
      }
      plan.toAdopt.push(spec);
      continue;
    }
    const storedAs = await quotedCaseVariant(knex, spec.name);
    if (storedAs !== undefined) {
      plan.conflicts.push({ kind: 'quoted-name', table: spec.name, storedAs });
      continue;
    }
    plan.toCreate.push(spec);
  }
  return plan;
}

/**
 * Takes over an existing table: records it, then adds the missing nullable columns and the
 * needed unique keys, each recorded *before* its DDL (see `createOrAttachTables`), so an
 * interrupted run resumes and `down` removes exactly these.
 */
async function adoptTable(knex: Knex, migration: string, spec: TableSpec, recorded: readonly AdoptionEntry[]): Promise<void> {
  const dialect = dialectOf(knex);
  const has = (kind: AdoptionEntry['kind'], object: string) => recorded.some((e) => e.kind === kind && e.table === spec.name && e.object === object);
  if (!has('TABLE', '')) await recordAdoption(knex, { kind: 'TABLE', table: spec.name, object: '', migration, saved: null });
  const missing = new Set(await missingColumns(knex, dialect, spec));
  for (const column of spec.adopt?.addColumns ?? []) {
    if (!missing.has(column.name)) continue;
    const context = await contextFromDatabase(knex, dialect, spec, { existingOnly: true });
    await recordAdoption(knex, { kind: 'COLUMN', table: spec.name, object: column.name, migration, saved: null });
    await knex.schema.alterTable(spec.name, (t) => column.add(t, context));
  }
  const keys = spec.adopt?.uniqueKeys ?? [];
  if (keys.length > 0 && dialect === 'mysql' && !has('INDEXES', '')) {
    const before = JSON.stringify(await mysqlIndexes(knex, spec.name));
    await recordAdoption(knex, { kind: 'INDEXES', table: spec.name, object: '', migration, saved: before });
  }
  for (const key of keys) {
    if (await indexExists(knex, spec.name, key.indexName)) continue;
    await recordAdoption(knex, { kind: 'INDEX', table: spec.name, object: key.indexName, migration, saved: null });
    await knex.schema.alterTable(spec.name, (t) => {
      t.unique([...key.columns], { indexName: key.indexName });
    });
  }
}

/** Up to ten key values held by more than one row (rows with a NULL in the key are never duplicates). */
async function duplicateKeys(knex: Knex, table: string, columns: readonly string[]): Promise<string[]> {
  let query = knex(table).select([...columns]).count({ ROW_COUNT: '*' }).groupBy([...columns]).havingRaw('COUNT(*) > 1');
  for (const column of columns) query = query.whereNotNull(column);
  const rows = (await query.limit(10)) as Array<Record<string, unknown>>;
  return rows.map((row) => `(${columns.map((c) => `${c}=${String(columnValue(row, c))}`).join(', ')}) ×${String(columnValue(row, 'ROW_COUNT'))}`);
}

/**
 * `down` for a table group: drops, children first, only the tables Meterline created, and
 * takes off adopted tables what Meterline added to them (unique keys, then columns).
 */
export async function dropOwnedTables(knex: Knex, group: TableGroup): Promise<void> {
  const owned = await ownedTables(knex, group.migration);
  const recorded = await adoptionsOf(knex, group.migration);
  for (const spec of [...group.tables].reverse()) {
    if (owned.has(spec.name)) {
      await knex.schema.dropTableIfExists(spec.name);
      await forgetOwnership(knex, spec.name);
      continue;
    }
    const mine = recorded.filter((e) => e.table === spec.name);
    if (mine.length === 0) continue;
    if (await tableExists(knex, spec.name)) {
      const savedIndexes = mine.find((e) => e.kind === 'INDEXES');
      if (savedIndexes) await restoreMysqlIndexes(knex, spec.name, savedIndexes.saved);
      for (const entry of mine.filter((e) => e.kind === 'INDEX')) {
        if (!(await indexExists(knex, spec.name, entry.object))) continue;
        const key = spec.adopt?.uniqueKeys?.find((k) => k.indexName === entry.object);
        if (key === undefined) continue;
        await knex.schema.alterTable(spec.name, (t) => {
          t.dropUnique([...key.columns], key.indexName);
        });
      }
      for (const entry of mine.filter((e) => e.kind === 'COLUMN')) {
        if (!(await knex.schema.hasColumn(storedName(dialectOf(knex), spec.name), storedName(dialectOf(knex), entry.object)))) continue;
        // SQLite: its own DROP COLUMN (3.35+), not knex's, which rebuilds the table in knex's words.
        if (dialectOf(knex) === 'sqlite') await knex.raw('ALTER TABLE ?? DROP COLUMN ??', [spec.name, entry.object]);
        else {
          await knex.schema.alterTable(spec.name, (t) => {
            t.dropColumn(entry.object);
          });
        }
      }
    }
    for (const entry of mine) await forgetAdoption(knex, entry);
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

/** `existingOnly`: skip references to tables not there yet (asking for one then throws). */
async function contextFromDatabase(knex: Knex, dialect: Dialect, spec: TableSpec, options: { existingOnly?: boolean } = {}): Promise<DefineContext> {
  const traits = new Map<string, ReferencedColumnTraits>();
  for (const ref of spec.references) {
    if (options.existingOnly && !(await tableExists(knex, ref.table))) continue;
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
