import type { Knex } from 'knex';
import { identityPrimaryKey } from '../src/db/dialect';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from './support/table-group';
import type { SchemaConflict } from './support/schema-conflict';

/**
 * Billing records kept in step with the billing engine by its webhooks (see README, "Invoices,
 * webhooks and access"):
 * - ML_INVOICE: one row per engine invoice, amounts in minor units, status DRAFT → OPEN → PAID,
 *   or VOID / UNCOLLECTIBLE, with the time of each transition;
 * - ML_SUBSCRIPTION_BILLING: per billed subscription, the engine's subscription id and the
 *   payment standing access is decided from (awaiting first payment, failing since);
 * - ML_WEBHOOK_EVENT: every delivery applied, by the engine's event id, so a retried delivery
 *   changes nothing.
 * No foreign keys: the final invoice of a subscription arrives after the subscription is gone.
 * Times are epoch milliseconds in BIGINT columns, as in the usage tables.
 */
const MIGRATION = '20250901000000_billing_records';

const invoice: TableSpec = {
  name: 'ML_INVOICE',
  requiredColumns: [],
  references: [],
  define(t, { dialect }) {
    identityPrimaryKey(t, dialect, 'INVOICE_ID', 'ML_INVOICE_PK');
    t.string('TENANT_DOMAIN', 100).notNullable();
    t.string('ENGINE_INVOICE_ID', 255).notNullable();
    t.string('ENGINE_ACCOUNT', 255);
    t.string('ENGINE_SUBSCRIPTION_ID', 255);
    /** AM_SUBSCRIPTION.UUID, API and application, when the invoice belongs to a known subscription. */
    t.string('SUBSCRIPTION_UUID', 256);
    t.string('API_UUID', 256);
    t.string('APPLICATION_UUID', 256);
    t.string('STATUS', 20).notNullable();
    t.string('CURRENCY', 3).notNullable();
    t.bigInteger('TOTAL').notNullable();
    t.bigInteger('AMOUNT_DUE').notNullable();
    t.bigInteger('AMOUNT_PAID').notNullable();
    t.bigInteger('AMOUNT_REMAINING').notNullable();
    t.bigInteger('PERIOD_START').notNullable();
    t.bigInteger('PERIOD_END').notNullable();
    t.string('HOSTED_INVOICE_URL', 2048);
    t.string('BILLING_REASON', 50);
    /** The engine's last error for this invoice (a failed payment), safe to show. */
    t.string('LAST_ERROR', 1000);
    t.bigInteger('CREATED_AT').notNullable();
    t.bigInteger('FINALIZED_AT');
    t.bigInteger('PAID_AT');
    t.bigInteger('VOIDED_AT');
    t.bigInteger('UNCOLLECTIBLE_AT');
    /** The first failed payment attempt; the grace period runs from here. */
    t.bigInteger('FIRST_FAILED_AT');
    t.bigInteger('UPDATED_AT').notNullable();
    t.unique(['ENGINE_INVOICE_ID'], { indexName: 'ML_INVOICE_ENGINE_ID_UK', useConstraint: true });
    t.check("?? in ('DRAFT', 'OPEN', 'PAID', 'VOID', 'UNCOLLECTIBLE')", ['STATUS'], 'ML_INVOICE_STATUS_CK');
    t.index(['SUBSCRIPTION_UUID'], 'ML_INVOICE_SUBSCRIPTION_IX');
    t.index(['API_UUID'], 'ML_INVOICE_API_IX');
  },
};

const subscriptionBilling: TableSpec = {
  name: 'ML_SUBSCRIPTION_BILLING',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('SUBSCRIPTION_UUID', 256).notNullable();
    t.string('TENANT_DOMAIN', 100).notNullable();
    t.string('API_UUID', 256).notNullable();
    t.string('APPLICATION_UUID', 256).notNullable();
    t.string('ENGINE_SUBSCRIPTION_ID', 255).notNullable();
    t.string('ENGINE_ACCOUNT', 255);
    /** 1 while the subscription's first invoice is unpaid. */
    t.smallint('AWAITING_FIRST_PAYMENT').notNullable();
    /** When an invoice first failed or became uncollectible, unpaid since; null when in good standing. */
    t.bigInteger('FAILING_SINCE');
    t.bigInteger('CANCELLED_AT');
    t.bigInteger('UPDATED_AT').notNullable();
    t.primary(['SUBSCRIPTION_UUID'], 'ML_SUBSCRIPTION_BILLING_PK');
    t.unique(['ENGINE_SUBSCRIPTION_ID'], { indexName: 'ML_SUB_BILLING_ENGINE_UK', useConstraint: true });
    t.check('?? in (0, 1)', ['AWAITING_FIRST_PAYMENT'], 'ML_SUB_BILLING_AWAITING_CK');
  },
};

const webhookEvent: TableSpec = {
  name: 'ML_WEBHOOK_EVENT',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('EVENT_ID', 255).notNullable();
    t.string('TENANT_DOMAIN', 100).notNullable();
    t.string('EVENT_TYPE', 100).notNullable();
    /** APPLIED, IGNORED (a type Meterline does not handle) or UNKNOWN_OBJECT (nothing of ours). */
    t.string('OUTCOME', 20).notNullable();
    t.bigInteger('RECEIVED_AT').notNullable();
    t.primary(['EVENT_ID'], 'ML_WEBHOOK_EVENT_PK');
  },
};

const group: TableGroup = {
  migration: MIGRATION,
  whenTableExists: 'refuse',
  tables: [invoice, subscriptionBilling, webhookEvent],
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
