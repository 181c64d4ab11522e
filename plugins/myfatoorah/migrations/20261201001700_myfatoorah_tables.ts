import type { Knex } from 'knex';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from '../../../migrations/support/table-group';
import type { SchemaConflict } from '../../../migrations/support/schema-conflict';

/**
 * The MyFatoorah engine's own records (MyFatoorah has no plans, subscriptions or customers, so
 * Meterline keeps what it billed here):
 * - ML_MYFATOORAH_API_PLAN: the COMMERCIAL tiers an API was monetized with (tier → policy);
 * - ML_MYFATOORAH_SUBSCRIPTION: each billed subscription, its cycle and when it was cancelled;
 * - ML_MYFATOORAH_INVOICE: each invoice submitted (Meterline's invoice id → MyFatoorah's InvoiceId
 *   and pay link), what it bills, and the last status GetPaymentStatus confirmed.
 * Times are epoch milliseconds; amounts minor units.
 */
const MIGRATION = '20261201001700_myfatoorah_tables';

const apiPlan: TableSpec = {
  name: 'ML_MYFATOORAH_API_PLAN',
  requiredColumns: [],
  references: [],
  define(t) {
    // An API UUID is 36 characters; 64 keeps the key within SQL Server's 900 bytes with the tier name.
    t.string('API_UUID', 64).notNullable();
    t.string('TIER_NAME', 255).notNullable();
    t.string('POLICY_UUID', 256).notNullable();
    t.primary(['API_UUID', 'TIER_NAME'], 'ML_MYFATOORAH_API_PLAN_PK');
  },
};

const subscription: TableSpec = {
  name: 'ML_MYFATOORAH_SUBSCRIPTION',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('SUBSCRIPTION_UUID', 256).notNullable();
    t.string('ENGINE_SUBSCRIPTION_ID', 300).notNullable();
    t.string('TENANT_DOMAIN', 255).notNullable();
    t.string('API_UUID', 256).notNullable();
    t.string('APPLICATION_UUID', 256).notNullable();
    t.string('CURRENCY', 3).notNullable();
    t.string('BILLING_CYCLE', 10).notNullable();
    t.bigInteger('ANCHOR_AT').notNullable();
    t.bigInteger('CANCELLED_AT');
    t.primary(['SUBSCRIPTION_UUID'], 'ML_MYFATOORAH_SUBSCRIPTION_PK');
    t.unique(['ENGINE_SUBSCRIPTION_ID'], { indexName: 'ML_MYFATOORAH_SUB_ENGINE_UQ' });
    t.index(['TENANT_DOMAIN'], 'ML_MYFATOORAH_SUB_TENANT_IX');
  },
};

const invoice: TableSpec = {
  name: 'ML_MYFATOORAH_INVOICE',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('INVOICE_ID', 255).notNullable();
    t.string('MF_INVOICE_ID', 64).notNullable();
    t.string('TENANT_DOMAIN', 255).notNullable();
    t.string('SUBSCRIPTION_UUID', 256).notNullable();
    t.string('KIND', 32).notNullable();
    t.string('CURRENCY', 3).notNullable();
    t.bigInteger('TOTAL').notNullable();
    t.bigInteger('PERIOD_START').notNullable();
    t.bigInteger('PERIOD_END').notNullable();
    t.string('INVOICE_URL', 2048);
    /** OPEN, PAID or VOID: the last status GetPaymentStatus confirmed. */
    t.string('STATUS', 16).notNullable();
    t.bigInteger('CREATED_AT').notNullable();
    t.primary(['INVOICE_ID'], 'ML_MYFATOORAH_INVOICE_PK');
    t.unique(['TENANT_DOMAIN', 'MF_INVOICE_ID'], { indexName: 'ML_MYFATOORAH_INV_MF_UQ' });
    t.index(['SUBSCRIPTION_UUID'], 'ML_MYFATOORAH_INV_SUB_IX');
  },
};

const group: TableGroup = { migration: MIGRATION, whenTableExists: 'refuse', tables: [apiPlan, subscription, invoice] };

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
