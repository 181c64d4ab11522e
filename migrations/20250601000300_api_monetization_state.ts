import type { Knex } from 'knex';
import { integerReference } from '../src/db/dialect';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from './support/table-group';
import type { SchemaConflict } from './support/schema-conflict';

/**
 * Meterline's own tables (prefix ML_) for what WSO2 keeps in the API artifact rather than in its
 * database: the subscription tiers an API offers, and whether monetization is enabled for it with
 * which properties (e.g. ConnectedAccountKey). Both disappear with the API.
 */
const MIGRATION = '20250601000300_api_monetization_state';

const apiPolicy: TableSpec = {
  name: 'ML_API_POLICY',
  requiredColumns: ['API_ID', 'POLICY_NAME'],
  references: [{ table: 'AM_API', column: 'API_ID', kind: 'identity' }],
  define(t, { referenced }) {
    integerReference(t, 'API_ID', referenced('AM_API', 'API_ID')).notNullable();
    /** AM_POLICY_SUBSCRIPTION.NAME in the API's tenant. */
    t.string('POLICY_NAME', 512).notNullable();
    // Unique rather than primary for the same reason as AM_MONETIZATION: SQL Server's 900-byte
    // clustered-key limit is smaller than an NVARCHAR(512) name.
    t.unique(['API_ID', 'POLICY_NAME'], { indexName: 'ML_API_POLICY_UK', useConstraint: true });
    t.foreign('API_ID', 'ML_API_POLICY_API_FK').references('API_ID').inTable('AM_API').onDelete('CASCADE');
  },
};

const apiMonetization: TableSpec = {
  name: 'ML_API_MONETIZATION',
  requiredColumns: ['API_ID', 'ENABLED', 'PROPERTIES'],
  references: [{ table: 'AM_API', column: 'API_ID', kind: 'identity' }],
  define(t, { referenced }) {
    integerReference(t, 'API_ID', referenced('AM_API', 'API_ID')).notNullable();
    // 0 or 1. Not knex `boolean`: that is an unnamed CHECK on Oracle and reads back as a boolean
    // on some drivers and a number on others; a SMALLINT reads back as a number everywhere.
    t.smallint('ENABLED').notNullable();
    /** JSON object of string values: the API's monetization properties. */
    t.text('PROPERTIES');
    t.primary(['API_ID'], 'ML_API_MONETIZATION_PK');
    t.check('?? in (0, 1)', ['ENABLED'], 'ML_API_MON_ENABLED_CK');
    t.foreign('API_ID', 'ML_API_MONETIZATION_API_FK').references('API_ID').inTable('AM_API').onDelete('CASCADE');
  },
};

const group: TableGroup = {
  migration: MIGRATION,
  whenTableExists: 'refuse',
  tables: [apiPolicy, apiMonetization],
};

export const tables: readonly TableSpec[] = group.tables;

export function conflicts(knex: Knex): Promise<SchemaConflict[]> {
  return groupConflicts(knex, group);
}

export async function up(knex: Knex): Promise<void> {
  await createOrAttachTables(knex, group);
}

export async function down(knex: Knex): Promise<void> {
  await dropOwnedTables(knex, group);
}
