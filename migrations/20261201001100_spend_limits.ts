import type { Knex } from 'knex';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from './support/table-group';
import type { SchemaConflict } from './support/schema-conflict';

/**
 * Spend limits per subscription (docs/spend-limits.md):
 * - ML_SPEND_LIMIT: the limit each party set on a subscription, one row per (subscription, setter):
 *   SET_BY 'SUBSCRIBER' (developer portal) or 'PUBLISHER' (the API's publisher). AMOUNT in minor
 *   units of CURRENCY (the plan's), THRESHOLDS the percentages that notify ("50,80,100").
 * - ML_SPEND_STATE: what the spend watcher found per subscription and billing period ([start, end),
 *   epoch ms): the period's rated usage so far (SPENT, minor units), the thresholds already
 *   notified, and CAPPED_AT when a hard cap was reached (the access check reads this row by its
 *   primary key prefix: one indexed read).
 * No foreign keys, like the usage and billing tables: a subscription's rows may outlive it.
 */
const MIGRATION = '20261201001100_spend_limits';

const limit: TableSpec = {
  name: 'ML_SPEND_LIMIT',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('SUBSCRIPTION_UUID', 256).notNullable();
    t.string('SET_BY', 20).notNullable();
    t.string('TENANT_DOMAIN', 100).notNullable();
    t.bigInteger('AMOUNT').notNullable();
    t.string('CURRENCY', 3).notNullable();
    t.string('THRESHOLDS', 400).notNullable();
    t.boolean('HARD_CAP').notNullable();
    /** Who set it (the caller's user name), for people reading the limit. */
    t.string('UPDATED_BY', 255).notNullable();
    t.bigInteger('UPDATED_AT').notNullable();
    t.primary(['SUBSCRIPTION_UUID', 'SET_BY'], 'ML_SPEND_LIMIT_PK');
    t.check("?? in ('SUBSCRIBER', 'PUBLISHER')", ['SET_BY'], 'ML_SPEND_LIMIT_SET_BY_CK');
  },
};

const state: TableSpec = {
  name: 'ML_SPEND_STATE',
  requiredColumns: [],
  references: [],
  define(t) {
    t.string('SUBSCRIPTION_UUID', 256).notNullable();
    t.bigInteger('PERIOD_START').notNullable();
    t.bigInteger('PERIOD_END').notNullable();
    t.string('TENANT_DOMAIN', 100).notNullable();
    t.string('CURRENCY', 3).notNullable();
    t.bigInteger('CALLS').notNullable();
    t.bigInteger('SPENT').notNullable();
    t.string('THRESHOLDS_NOTIFIED', 400).notNullable();
    /** When the hard cap was reached in this period; null while the subscription may call. */
    t.bigInteger('CAPPED_AT');
    /** The cap reached (minor units) and who set it, for the access check's reason. */
    t.bigInteger('CAP_AMOUNT');
    t.string('CAP_SET_BY', 20);
    t.bigInteger('EVALUATED_AT').notNullable();
    t.primary(['SUBSCRIPTION_UUID', 'PERIOD_START'], 'ML_SPEND_STATE_PK');
  },
};

const group: TableGroup = {
  migration: MIGRATION,
  whenTableExists: 'refuse',
  tables: [limit, state],
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
