import type { Knex } from 'knex';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from './support/table-group';
import type { SchemaConflict } from './support/schema-conflict';

/**
 * ML_OWN_INVOICE_USAGE: which usage each of Meterline's own invoices billed (docs/invoicing.md,
 * "Late usage"). One row per invoice and usage period it rates: the period's calls from
 * CALLS_FROM (what earlier invoices billed of it) up to CALLS_TO. A PERIOD or FINAL invoice bills
 * its own period from 0; a later invoice bills usage of an earlier period that arrived after that
 * period was invoiced, from what was billed up to the period's new total. The primary key on
 * (subscription, period start, CALLS_FROM) lets two invoices never bill the same calls: a second
 * one starting where another already did fails as a whole (its draft is not written).
 * Existing invoices that rate usage get their row here (backfill).
 */
const MIGRATION = '20261201000900_own_invoice_usage';

const usage: TableSpec = {
  name: 'ML_OWN_INVOICE_USAGE',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('SUBSCRIPTION_UUID', 256).notNullable();
    /** The usage period ([start, end), epoch ms): the records whose window starts in it. */
    t.bigInteger('PERIOD_START').notNullable();
    t.bigInteger('PERIOD_END').notNullable();
    t.bigInteger('CALLS_FROM').notNullable();
    t.bigInteger('CALLS_TO').notNullable();
    t.string('INVOICE_ID', 64).notNullable();
    t.primary(['SUBSCRIPTION_UUID', 'PERIOD_START', 'CALLS_FROM'], 'ML_OWN_INVOICE_USAGE_PK');
    t.index(['INVOICE_ID'], 'ML_OWN_INV_USAGE_INVOICE_IX');
  },
};

const group: TableGroup = {
  migration: MIGRATION,
  whenTableExists: 'refuse',
  tables: [usage],
};

export const tables: readonly TableSpec[] = group.tables;

export function conflicts(knex: Knex): Promise<SchemaConflict[]> {
  return groupConflicts(knex, group);
}

export async function up(knex: Knex): Promise<void> {
  await createOrAttachTables(knex, group);
  const rated = (await knex('ML_OWN_INVOICE').whereNotNull('USAGE_FROM').select('INVOICE_ID', 'SUBSCRIPTION_UUID', 'USAGE_FROM', 'PERIOD_END', 'CALLS')) as Array<Record<string, unknown>>;
  for (let i = 0; i < rated.length; i += 200) {
    await knex('ML_OWN_INVOICE_USAGE').insert(
      rated.slice(i, i + 200).map((row) => ({
        SUBSCRIPTION_UUID: row.SUBSCRIPTION_UUID,
        PERIOD_START: row.USAGE_FROM,
        PERIOD_END: row.PERIOD_END,
        CALLS_FROM: 0,
        CALLS_TO: row.CALLS,
        INVOICE_ID: row.INVOICE_ID,
      })),
    );
  }
}

export async function down(knex: Knex): Promise<void> {
  await dropOwnedTables(knex, group);
}
