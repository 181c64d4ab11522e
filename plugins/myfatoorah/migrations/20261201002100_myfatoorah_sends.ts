import type { Knex } from 'knex';
import { dialectOf } from '../../../src/db/dialect';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from '../../../migrations/support/table-group';
import type { SchemaConflict } from '../../../migrations/support/schema-conflict';

/**
 * - ML_MYFATOORAH_SEND: a SendPayment that got no answer (timed out, connection lost, a 5xx), per
 *   Meterline invoice id. MyFatoorah may still create that invoice after a lookup by its
 *   CustomerReference found nothing, so no second SendPayment goes out for the invoice until a
 *   lookup made after SETTLES_AT (the send's start + the request's time limit + a margin) finds
 *   nothing. Deleted when the invoice is recorded or MyFatoorah refused the send.
 * - ML_MYFATOORAH_INVOICE.EXPIRES_AT (epoch ms, nullable): when the pay link stops working (the
 *   ExpiryDate sent). MyFatoorah sends no event at expiry, so the engine's sweep asks
 *   GetPaymentStatus about OPEN invoices past it. Null for invoices submitted before this
 *   migration: the sweep leaves them to their next webhook delivery.
 */
const MIGRATION = '20261201002100_myfatoorah_sends';

const send: TableSpec = {
  name: 'ML_MYFATOORAH_SEND',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('INVOICE_ID', 255).notNullable();
    t.string('TENANT_DOMAIN', 255).notNullable();
    t.bigInteger('SENT_AT').notNullable();
    t.bigInteger('SETTLES_AT').notNullable();
    t.primary(['INVOICE_ID'], 'ML_MYFATOORAH_SEND_PK');
  },
};

const group: TableGroup = { migration: MIGRATION, whenTableExists: 'refuse', tables: [send] };

export const tables: readonly TableSpec[] = group.tables;

const INVOICE = 'ML_MYFATOORAH_INVOICE';
const EXPIRES_AT = 'EXPIRES_AT';

export function conflicts(knex: Knex): Promise<SchemaConflict[]> {
  return groupConflicts(knex, group);
}

export async function up(knex: Knex): Promise<void> {
  await createOrAttachTables(knex, group);
  await knex.schema.alterTable(INVOICE, (t) => {
    t.bigInteger(EXPIRES_AT);
  });
}

export async function down(knex: Knex): Promise<void> {
  // SQLite (3.35 and later) drops an unindexed column in place; knex would copy the table.
  if (dialectOf(knex) === 'sqlite') await knex.schema.raw(`ALTER TABLE \`${INVOICE}\` DROP COLUMN \`${EXPIRES_AT}\``);
  else
    await knex.schema.alterTable(INVOICE, (t) => {
      t.dropColumn(EXPIRES_AT);
    });
  await dropOwnedTables(knex, group);
}
