import type { Knex } from 'knex';
import { columnValue, dialectOf, storedName, tableExists } from '../../src/db/dialect';

/**
 * The ledger of what Meterline took over rather than created (docs/database.md "Adopting an
 * existing install"): tables that were there before it (`TABLE`), what it added to them
 * (`COLUMN`, `INDEX`), rows of them it saved before changing them (`ROWS`), and rows it wrote
 * into its own tables from theirs (`SEEDED`). `down` reads it to remove exactly what Meterline
 * added and to put saved rows back. Created on first use, so a database Meterline created from
 * scratch never has it; dropped with ML_SCHEMA_OWNERSHIP by the first migration's `down`.
 */
export const ADOPTION_TABLE = 'ML_SCHEMA_ADOPTION';

export type AdoptionKind = 'TABLE' | 'COLUMN' | 'INDEX' | 'INDEXES' | 'ROWS' | 'SEEDED';

export interface AdoptionEntry {
  readonly kind: AdoptionKind;
  readonly table: string;
  /** The column or index name (`COLUMN`, `INDEX`); empty for the others. */
  readonly object: string;
  readonly migration: string;
  /** `ROWS`: the saved rows; `INDEXES`: MySQL's index list before; `SEEDED`: the keys written. JSON. */
  readonly saved: string | null;
}

async function ensureLedger(knex: Knex): Promise<void> {
  if (await tableExists(knex, ADOPTION_TABLE)) return;
  await knex.schema.createTable(ADOPTION_TABLE, (t) => {
    t.string('KIND', 20).notNullable();
    t.string('TABLE_NAME', 128).notNullable();
    t.string('OBJECT_NAME', 128).notNullable();
    t.string('MIGRATION', 255).notNullable();
    t.text('SAVED');
    t.primary(['KIND', 'TABLE_NAME', 'OBJECT_NAME'], 'ML_SCHEMA_ADOPTION_PK');
  });
}

/** Writes an entry (before the change it describes: on MySQL DDL commits at once, see table-group.ts). */
export async function recordAdoption(knex: Knex, entry: AdoptionEntry): Promise<void> {
  await ensureLedger(knex);
  const key = { KIND: entry.kind, TABLE_NAME: entry.table, OBJECT_NAME: entry.object };
  await knex(ADOPTION_TABLE).where(key).delete();
  await knex(ADOPTION_TABLE).insert({ ...key, MIGRATION: entry.migration, SAVED: entry.saved });
}

export async function adoptionsOf(knex: Knex, migration: string): Promise<AdoptionEntry[]> {
  if (!(await tableExists(knex, ADOPTION_TABLE))) return [];
  const rows = (await knex(ADOPTION_TABLE).where({ MIGRATION: migration }).select()) as Array<Record<string, unknown>>;
  return rows.map((row) => ({
    kind: String(columnValue(row, 'KIND')) as AdoptionKind,
    table: String(columnValue(row, 'TABLE_NAME')),
    object: String(columnValue(row, 'OBJECT_NAME')),
    migration,
    saved: columnValue(row, 'SAVED') === null || columnValue(row, 'SAVED') === undefined ? null : String(columnValue(row, 'SAVED')),
  }));
}

/** Whether any migration recorded `table` as taken over (it existed before Meterline). */
export async function wasAdopted(knex: Knex, table: string): Promise<boolean> {
  if (!(await tableExists(knex, ADOPTION_TABLE))) return false;
  return (await knex(ADOPTION_TABLE).where({ KIND: 'TABLE', TABLE_NAME: table }).first('KIND')) !== undefined;
}

export async function forgetAdoption(knex: Knex, entry: Pick<AdoptionEntry, 'kind' | 'table' | 'object'>): Promise<void> {
  if (!(await tableExists(knex, ADOPTION_TABLE))) return;
  await knex(ADOPTION_TABLE).where({ KIND: entry.kind, TABLE_NAME: entry.table, OBJECT_NAME: entry.object }).delete();
}

export async function dropAdoptionLedger(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists(ADOPTION_TABLE);
}

// --- rows saved before Meterline changes them ---------------------------------------------------

/**
 * Saves every row of a (small, existing) table before Meterline starts writing it, unless an
 * earlier interrupted run saved them already. Keys are upper-cased, as Meterline names columns.
 */
export async function saveRows(knex: Knex, migration: string, table: string): Promise<void> {
  if ((await adoptionsOf(knex, migration)).some((e) => e.kind === 'ROWS' && e.table === table)) return;
  const rows = (await knex(table).select()) as Array<Record<string, unknown>>;
  const saved = rows.map((row) => Object.fromEntries(Object.entries(row).map(([column, value]) => [column.toUpperCase(), value])));
  await recordAdoption(knex, { kind: 'ROWS', table, object: '', migration, saved: JSON.stringify(saved) });
}

/** Puts a table's saved rows back in place of whatever it holds now, in one transaction. */
export async function restoreRows(knex: Knex, migration: string, table: string): Promise<void> {
  const entry = (await adoptionsOf(knex, migration)).find((e) => e.kind === 'ROWS' && e.table === table);
  if (entry === undefined) return;
  if (await tableExists(knex, table)) {
    const rows = JSON.parse(entry.saved ?? '[]') as Array<Record<string, unknown>>;
    await knex.transaction(async (tx) => {
      await tx(table).delete();
      if (rows.length > 0) await tx(table).insert(rows);
    });
  }
  await forgetAdoption(knex, entry);
}

// --- catalogue reads ----------------------------------------------------------------------------

/** One index as the catalogue lists it (MySQL), enough to re-create a plain one. */
interface IndexDefinition {
  readonly name: string;
  readonly unique: boolean;
  readonly columns: readonly string[];
}

/** Whether `index` exists on `table` (names as Meterline spells them). */
export async function indexExists(knex: Knex, table: string, index: string): Promise<boolean> {
  const dialect = dialectOf(knex);
  switch (dialect) {
    case 'postgres': {
      const result = (await knex.raw('SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ? AND indexname = ?', [
        storedName(dialect, table),
        storedName(dialect, index),
      ])) as { rows: unknown[] };
      return result.rows.length > 0;
    }
    case 'mysql':
      return (await mysqlIndexes(knex, table)).some((i) => i.name.toUpperCase() === index.toUpperCase());
    case 'sqlite': {
      const rows = (await knex.raw("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name = ?", [table, index])) as unknown[];
      return rows.length > 0;
    }
    case 'mssql': {
      const rows = (await knex.raw('SELECT 1 AS FOUND FROM sys.indexes WHERE object_id = OBJECT_ID(?) AND name = ?', [table, index])) as unknown[];
      return rows.length > 0;
    }
    case 'oracle': {
      const rows = (await knex.raw('SELECT 1 AS FOUND FROM user_indexes WHERE table_name = ? AND index_name = ?', [table, index])) as unknown[];
      return rows.length > 0;
    }
  }
}

export async function mysqlIndexes(knex: Knex, table: string): Promise<IndexDefinition[]> {
  const rows = (await knex
    .select('INDEX_NAME', 'NON_UNIQUE', 'COLUMN_NAME', 'SEQ_IN_INDEX')
    .from('information_schema.STATISTICS')
    .whereRaw('TABLE_SCHEMA = DATABASE()')
    .andWhere({ TABLE_NAME: table })
    .orderBy(['INDEX_NAME', 'SEQ_IN_INDEX'])) as Array<Record<string, unknown>>;
  const byName = new Map<string, { unique: boolean; columns: string[] }>();
  for (const row of rows) {
    const name = String(columnValue(row, 'INDEX_NAME'));
    const entry = byName.get(name) ?? { unique: Number(columnValue(row, 'NON_UNIQUE')) === 0, columns: [] };
    entry.columns.push(String(columnValue(row, 'COLUMN_NAME')));
    byName.set(name, entry);
  }
  return [...byName].map(([name, entry]) => ({ name, ...entry }));
}

/**
 * MySQL silently drops the index it created for a foreign key when a new index can serve the key
 * (a unique key leading with the same column), and then refuses to drop the new one. Before a
 * unique key is dropped again, the indexes saved before it was added are put back.
 */
export async function restoreMysqlIndexes(knex: Knex, table: string, saved: string | null): Promise<void> {
  if (dialectOf(knex) !== 'mysql' || saved === null) return;
  const before = JSON.parse(saved) as IndexDefinition[];
  const now = new Set((await mysqlIndexes(knex, table)).map((i) => i.name.toUpperCase()));
  for (const index of before) {
    if (index.name === 'PRIMARY' || index.unique || now.has(index.name.toUpperCase())) continue;
    await knex.schema.alterTable(table, (t) => {
      t.index([...index.columns], index.name);
    });
  }
}

