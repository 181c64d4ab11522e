import type { Knex } from 'knex';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from './support/table-group';
import type { SchemaConflict } from './support/schema-conflict';

/**
 * Meterline's own invoices (docs/invoicing.md), made for engines that only collect payment
 * (`capabilities.invoicing = 'meterline'`):
 * - ML_OWN_INVOICE: one row per invoice Meterline made, its id deterministic from (subscription,
 *   kind, period start), which the unique key holds too: closing a period twice makes one row.
 *   STATUS is how far Meterline got with it: DRAFT (made, not yet accepted by the engine), OPEN
 *   (the engine issued it: its invoice id and pay link), PAID (nothing to pay: never submitted).
 *   From OPEN on, payment is followed on the invoice's ML_INVOICE record, as for every engine.
 * - ML_OWN_INVOICE_LINE: its lines, amounts in minor units, as `rate()` made them.
 * No foreign keys (like the billing records): the final invoice outlives the subscription.
 * Times are epoch milliseconds in BIGINT columns.
 */
const MIGRATION = '20261201000700_own_invoices';

const invoice: TableSpec = {
  name: 'ML_OWN_INVOICE',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('INVOICE_ID', 64).notNullable();
    t.string('TENANT_DOMAIN', 100).notNullable();
    t.string('SUBSCRIPTION_UUID', 256).notNullable();
    t.string('API_UUID', 256).notNullable();
    t.string('KIND', 20).notNullable();
    /** The period the invoice is for ([start, end)); its key with the subscription and kind. */
    t.bigInteger('PERIOD_START').notNullable();
    t.bigInteger('PERIOD_END').notNullable();
    /**
     * Where the usage it rates starts (null: it rates none). Unique per subscription, so a period
     * closed while the subscription is cancelled is billed once, by the PERIOD or the FINAL invoice.
     */
    t.bigInteger('USAGE_FROM');
    /** The calls rated on it (0 for an invoice without usage). */
    t.bigInteger('CALLS').notNullable();
    t.string('CURRENCY', 3).notNullable();
    t.bigInteger('TOTAL').notNullable();
    t.string('STATUS', 20).notNullable();
    /** The subscription as it was when the invoice was made (JSON), so a draft can be submitted after it is gone. */
    t.text('SUBSCRIPTION_REF').notNullable();
    t.string('CUSTOMER_NAME', 255).notNullable();
    t.string('CUSTOMER_EMAIL', 255);
    t.bigInteger('EXPIRES_AT').notNullable();
    t.string('ENGINE_INVOICE_ID', 255);
    t.string('HOSTED_INVOICE_URL', 2048);
    t.string('INVOICE_PDF_URL', 2048);
    t.integer('ATTEMPTS').notNullable();
    t.string('LAST_ERROR', 1000);
    t.bigInteger('CREATED_AT').notNullable();
    t.bigInteger('SUBMITTED_AT');
    t.bigInteger('UPDATED_AT').notNullable();
    t.primary(['INVOICE_ID'], 'ML_OWN_INVOICE_PK');
    t.unique(['SUBSCRIPTION_UUID', 'KIND', 'PERIOD_START'], { indexName: 'ML_OWN_INVOICE_PERIOD_UK', useConstraint: true });
    t.unique(['SUBSCRIPTION_UUID', 'USAGE_FROM'], { indexName: 'ML_OWN_INVOICE_USAGE_UK', useConstraint: true });
    t.check("?? in ('SUBSCRIPTION_START', 'PERIOD', 'FINAL')", ['KIND'], 'ML_OWN_INVOICE_KIND_CK');
    t.check("?? in ('DRAFT', 'OPEN', 'PAID')", ['STATUS'], 'ML_OWN_INVOICE_STATUS_CK');
    t.index(['STATUS'], 'ML_OWN_INVOICE_STATUS_IX');
  },
};

const line: TableSpec = {
  name: 'ML_OWN_INVOICE_LINE',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('INVOICE_ID', 64).notNullable();
    t.integer('LINE_NO').notNullable();
    /** SETUP_FEE, BASE_FEE or USAGE (rating's line kinds). */
    t.string('KIND', 20).notNullable();
    t.string('DESCRIPTION', 500).notNullable();
    t.bigInteger('QUANTITY').notNullable();
    t.string('UNIT_AMOUNT_DECIMAL', 40);
    t.bigInteger('AMOUNT').notNullable();
    t.primary(['INVOICE_ID', 'LINE_NO'], 'ML_OWN_INVOICE_LINE_PK');
  },
};

const group: TableGroup = {
  migration: MIGRATION,
  whenTableExists: 'refuse',
  tables: [invoice, line],
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
