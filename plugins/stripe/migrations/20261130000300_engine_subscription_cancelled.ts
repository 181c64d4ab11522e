import type { Knex } from 'knex';
import { dialectOf } from '../../../src/db/dialect';
import type { TableSpec } from '../../../migrations/support/table-group';

/**
 * ML_ENGINE_SUBSCRIPTION.CANCELLED_AT (epoch ms, nullable): when the engine cancelled the Stripe
 * subscription. A cancel used to delete the row; it now keeps it, marked, so `meterline
 * reconcile usage` still finds a cancelled subscription's Stripe subscription and account for its
 * last period (its final invoice). Null: live, or not yet recorded as billed. Every reader that
 * means "live" reaches the row through AM_MONETIZATION_SUBSCRIPTIONS, which a cancel still
 * deletes. Creates no table.
 */
export const tables: readonly TableSpec[] = [];

const TABLE = 'ML_ENGINE_SUBSCRIPTION';
const COLUMN = 'CANCELLED_AT';

export function upSchema(knex: Knex): Knex.SchemaBuilder {
  return knex.schema.alterTable(TABLE, (t) => {
    t.bigInteger(COLUMN);
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

/** The rows of cancelled subscriptions are deleted first: before this migration a cancel left none. */
export async function down(knex: Knex): Promise<void> {
  await knex(TABLE).whereNotNull(COLUMN).delete();
  await downSchema(knex);
}
