import type { Knex } from 'knex';
import { columnValue, tableExists } from '../../src/db/dialect';

/**
 * The ledger of tables Meterline created: `down` drops exactly these, so a WSO2 table that was
 * there before Meterline (and was only attached to) is never dropped.
 */
export const OWNERSHIP_TABLE = 'ML_SCHEMA_OWNERSHIP';

export async function ownedTables(knex: Knex, migration: string): Promise<Set<string>> {
  if (!(await tableExists(knex, OWNERSHIP_TABLE))) return new Set();
  const rows = (await knex(OWNERSHIP_TABLE).select('TABLE_NAME').where({ MIGRATION: migration })) as Array<
    Record<string, unknown>
  >;
  return new Set(rows.map((row) => String(columnValue(row, 'TABLE_NAME'))));
}

export async function recordOwnership(knex: Knex, table: string, migration: string): Promise<void> {
  await knex(OWNERSHIP_TABLE).insert({ TABLE_NAME: table, MIGRATION: migration });
}

export async function forgetOwnership(knex: Knex, table: string): Promise<void> {
  await knex(OWNERSHIP_TABLE).where({ TABLE_NAME: table }).delete();
}
