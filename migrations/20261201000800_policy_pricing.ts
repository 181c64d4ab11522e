import type { Knex } from 'knex';
import { stringReference } from '../src/db/dialect';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from './support/table-group';
import type { SchemaConflict } from './support/schema-conflict';

/**
 * ML_POLICY_PRICING: what a subscription policy charges beyond the columns WSO2's
 * AM_POLICY_SUBSCRIPTION has (docs/pricing.md): a setup fee, and how a DYNAMICRATE plan rates its
 * calls (graduated or volume tiers, packages). One row per policy that has any of them; a policy
 * without a row (every policy of an attached WSO2 database) charges as WSO2 defines. A new
 * Meterline table beside WSO2's, so attaching to a WSO2 database creates it and changes nothing of
 * WSO2's; it goes with its policy (cascade).
 */
const MIGRATION = '20261201000800_policy_pricing';

const policyPricing: TableSpec = {
  name: 'ML_POLICY_PRICING',
  requiredColumns: ['POLICY_UUID', 'SETUP_FEE', 'USAGE_MODEL', 'TIERS', 'PACKAGE_SIZE', 'PACKAGE_PRICE'],
  references: [{ table: 'AM_POLICY_SUBSCRIPTION', column: 'UUID', kind: 'string' }],
  define(t, { referenced }) {
    stringReference(t, 'POLICY_UUID', 256, referenced('AM_POLICY_SUBSCRIPTION', 'UUID')).notNullable();
    /** Exact decimal strings in the major unit, as WSO2 keeps its prices (VARCHAR(15)). */
    t.string('SETUP_FEE', 15);
    /** per_unit, graduated, volume or package; null: per_unit at PRICE_PER_REQUEST. */
    t.string('USAGE_MODEL', 20);
    /** graduated / volume: a JSON array of {upTo, unitPrice, flatPrice}, the last upTo null. */
    t.text('TIERS');
    t.integer('PACKAGE_SIZE');
    t.string('PACKAGE_PRICE', 15);
    t.primary(['POLICY_UUID'], 'ML_POLICY_PRICING_PK');
    t.check("?? in ('per_unit', 'graduated', 'volume', 'package')", ['USAGE_MODEL'], 'ML_POLICY_PRICING_MODEL_CK');
    t.foreign('POLICY_UUID', 'ML_POLICY_PRICING_POLICY_FK').references('UUID').inTable('AM_POLICY_SUBSCRIPTION').onDelete('CASCADE');
  },
};

const group: TableGroup = {
  migration: MIGRATION,
  whenTableExists: 'refuse',
  tables: [policyPricing],
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
