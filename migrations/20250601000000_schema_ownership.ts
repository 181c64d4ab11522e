import type { Knex } from 'knex';
import { dialectOf, tableExists } from '../src/db/dialect';
import { dropAdoptionLedger } from './support/adoption';
import { OWNERSHIP_TABLE } from './support/ownership';
import { contextForFreshSchema, type TableSpec } from './support/table-group';

/** The ownership ledger: one row per table Meterline created (TABLE_NAME, MIGRATION). */
const ownershipLedger: TableSpec = {
  name: OWNERSHIP_TABLE,
  requiredColumns: ['TABLE_NAME', 'MIGRATION'],
  references: [],
  define(t) {
    t.string('TABLE_NAME', 128).notNullable();
    t.string('MIGRATION', 255).notNullable();
    t.primary(['TABLE_NAME'], 'ML_SCHEMA_OWNERSHIP_PK');
  },
};

export const tables: readonly TableSpec[] = [ownershipLedger];

/**
 * If the ledger already exists, an earlier run was interrupted after creating it on a database
 * whose DDL is not transactional (MySQL, Oracle); the ML_ prefix is Meterline's, so it is reused.
 */
export async function up(knex: Knex): Promise<void> {
  if (await tableExists(knex, OWNERSHIP_TABLE)) return;
  const context = contextForFreshSchema(dialectOf(knex), ownershipLedger);
  await knex.schema.createTable(OWNERSHIP_TABLE, (t) => ownershipLedger.define(t, context));
}

/** Also drops the adoption ledger (support/adoption.ts), which later migrations create when they take a table over. */
export async function down(knex: Knex): Promise<void> {
  await dropAdoptionLedger(knex);
  await knex.schema.dropTableIfExists(OWNERSHIP_TABLE);
}
