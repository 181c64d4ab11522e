import type { Knex } from 'knex';
import { dialectOf } from '../src/db/dialect';
import type { TableSpec } from './support/table-group';

/**
 * What an invoice did with the customer's balance, beside what it collected (ML_INVOICE, both
 * nullable minor units; null when the engine does not say, and for invoices recorded before):
 * - CARRIED_TO_BALANCE: the invoice's own amount left on the customer's balance instead of being
 *   collected (Stripe: an invoice below the currency's minimum charge is marked paid with nothing
 *   collected, its amount a debit carried to the next invoice);
 * - COLLECTED_FROM_BALANCE: an earlier invoice's carried amount collected with this one.
 * Without them a paid invoice that collected nothing reads like one paid by a credit.
 * Creates no table; the DDL test compiles `upSchema` and `downSchema`.
 */
export const tables: readonly TableSpec[] = [];

const TABLE = 'ML_INVOICE';
const COLUMNS = ['CARRIED_TO_BALANCE', 'COLLECTED_FROM_BALANCE'] as const;

export function upSchema(knex: Knex): Knex.SchemaBuilder {
  return knex.schema.alterTable(TABLE, (t) => {
    for (const column of COLUMNS) t.bigInteger(column);
  });
}

export function downSchema(knex: Knex): Knex.SchemaBuilder {
  // SQLite (3.35 and later) drops an unindexed column in place; knex would copy the table.
  if (dialectOf(knex) === 'sqlite') {
    return COLUMNS.reduce((schema, column) => schema.raw(`ALTER TABLE \`${TABLE}\` DROP COLUMN \`${column}\``), knex.schema);
  }
  return knex.schema.alterTable(TABLE, (t) => {
    t.dropColumns(...COLUMNS);
  });
}

export async function up(knex: Knex): Promise<void> {
  await upSchema(knex);
}

export async function down(knex: Knex): Promise<void> {
  await downSchema(knex);
}
