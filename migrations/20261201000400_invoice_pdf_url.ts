import type { Knex } from 'knex';
import { dialectOf } from '../src/db/dialect';
import type { TableSpec } from './support/table-group';

/**
 * The engine's PDF of an invoice (ML_INVOICE.INVOICE_PDF_URL, nullable; Stripe: the invoice's
 * `invoice_pdf`), so every issued invoice, paid or not, links to its document. Null for invoices
 * recorded before it and for engines without a PDF. Creates no table; the DDL test compiles
 * `upSchema` and `downSchema`.
 */
export const tables: readonly TableSpec[] = [];

const TABLE = 'ML_INVOICE';
const COLUMN = 'INVOICE_PDF_URL';

export function upSchema(knex: Knex): Knex.SchemaBuilder {
  // As long as HOSTED_INVOICE_URL: both are engine URLs.
  return knex.schema.alterTable(TABLE, (t) => {
    t.string(COLUMN, 2048);
  });
}

export function downSchema(knex: Knex): Knex.SchemaBuilder {
  // SQLite (3.35 and later) drops an unindexed column in place; knex would copy the table.
  if (dialectOf(knex) === 'sqlite') return knex.schema.raw(`ALTER TABLE \`${TABLE}\` DROP COLUMN \`${COLUMN}\``);
  return knex.schema.alterTable(TABLE, (t) => {
    t.dropColumn(COLUMN);
  });
}

export async function up(knex: Knex): Promise<void> {
  await upSchema(knex);
}

export async function down(knex: Knex): Promise<void> {
  await downSchema(knex);
}
