import type { Knex } from 'knex';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from '../../../migrations/support/table-group';
import type { SchemaConflict } from '../../../migrations/support/schema-conflict';

/**
 * The HTTP integration engine's own records (docs/custom-billing.md):
 * - ML_INTEGRATION_PLAN: the plan code the integration answered for each COMMERCIAL policy;
 * - ML_INTEGRATION_API_TIER: the tiers an API was monetized with, and their plan codes;
 * - ML_INTEGRATION_SUBSCRIPTION: each billed subscription, the integration's account code and
 *   subscription id, its cycle (anchored when it was created) and when it was cancelled;
 * - ML_INTEGRATION_DELIVERY: every request sent to the integration (the delivery log and the
 *   outbox of the asynchronous ones), one row per message id;
 * - ML_INTEGRATION_INVOICE: the invoices the integration reported, as last reported (revenue).
 * Times are epoch milliseconds; amounts minor units.
 */
const MIGRATION = '20261201002300_http_integration_tables';

const plan: TableSpec = {
  name: 'ML_INTEGRATION_PLAN',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('POLICY_UUID', 256).notNullable();
    t.string('TENANT_DOMAIN', 255).notNullable();
    t.string('POLICY_NAME', 255).notNullable();
    t.string('PLAN_CODE', 255).notNullable();
    t.bigInteger('UPDATED_AT').notNullable();
    t.primary(['POLICY_UUID'], 'ML_INTEGRATION_PLAN_PK');
  },
};

const apiTier: TableSpec = {
  name: 'ML_INTEGRATION_API_TIER',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('API_UUID', 64).notNullable();
    t.string('TIER_NAME', 255).notNullable();
    t.string('PLAN_CODE', 255).notNullable();
    t.primary(['API_UUID', 'TIER_NAME'], 'ML_INTEGRATION_API_TIER_PK');
  },
};

const subscription: TableSpec = {
  name: 'ML_INTEGRATION_SUBSCRIPTION',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('SUBSCRIPTION_UUID', 256).notNullable();
    t.string('TENANT_DOMAIN', 255).notNullable();
    t.string('API_UUID', 256).notNullable();
    t.string('APPLICATION_UUID', 256).notNullable();
    t.string('PLAN_CODE', 255).notNullable();
    t.string('ACCOUNT_CODE', 255).notNullable();
    t.string('EXTERNAL_SUBSCRIPTION_ID', 255).notNullable();
    t.string('CURRENCY', 3).notNullable();
    t.string('BILLING_CYCLE', 10).notNullable();
    t.bigInteger('ANCHOR_AT').notNullable();
    t.bigInteger('CANCELLED_AT');
    t.primary(['SUBSCRIPTION_UUID'], 'ML_INTEGRATION_SUBSCRIPTION_PK');
    t.index(['TENANT_DOMAIN'], 'ML_INTEGRATION_SUB_TENANT_IX');
  },
};

const delivery: TableSpec = {
  name: 'ML_INTEGRATION_DELIVERY',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('ID', 36).notNullable();
    t.string('TENANT_DOMAIN', 255).notNullable();
    t.string('OPERATION', 64).notNullable();
    /** The `webhook-id` of every attempt. */
    t.string('MESSAGE_ID', 255).notNullable();
    /** sync or async. */
    t.string('MODE', 5).notNullable();
    /** The JSON body as first sent, sent unchanged on every attempt. */
    t.text('BODY').notNullable();
    /** PENDING, DELIVERED, FAILED or DEAD. */
    t.string('STATUS', 16).notNullable();
    t.integer('ATTEMPTS').notNullable();
    /** When the outbox tries it next (async only; also the lease of an attempt in flight). */
    t.bigInteger('NEXT_ATTEMPT_AT');
    t.string('LAST_ERROR', 1000);
    t.bigInteger('CREATED_AT').notNullable();
    t.bigInteger('DELIVERED_AT');
    /** usage.reported only: what it reports, for the pending invoice. */
    t.string('SUBSCRIPTION_UUID', 256);
    t.bigInteger('QUANTITY');
    t.bigInteger('WINDOW_START');
    t.primary(['ID'], 'ML_INTEGRATION_DELIVERY_PK');
    t.unique(['TENANT_DOMAIN', 'MESSAGE_ID'], { indexName: 'ML_INTEGRATION_DLV_MSG_UQ' });
    t.index(['STATUS', 'NEXT_ATTEMPT_AT'], 'ML_INTEGRATION_DLV_DUE_IX');
    t.index(['SUBSCRIPTION_UUID'], 'ML_INTEGRATION_DLV_SUB_IX');
  },
};

const invoice: TableSpec = {
  name: 'ML_INTEGRATION_INVOICE',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('TENANT_DOMAIN', 255).notNullable();
    t.string('INVOICE_ID', 255).notNullable();
    t.string('SUBSCRIPTION_UUID', 256).notNullable();
    t.string('CURRENCY', 3).notNullable();
    t.string('STATUS', 16).notNullable();
    t.bigInteger('AMOUNT_PAID').notNullable();
    t.primary(['TENANT_DOMAIN', 'INVOICE_ID'], 'ML_INTEGRATION_INVOICE_PK');
    t.index(['SUBSCRIPTION_UUID'], 'ML_INTEGRATION_INV_SUB_IX');
  },
};

const group: TableGroup = { migration: MIGRATION, whenTableExists: 'refuse', tables: [plan, apiTier, subscription, delivery, invoice] };

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
