import type { Knex } from 'knex';
import { dialectOf } from '../src/db/dialect';
import type { TableSpec } from './support/table-group';

/**
 * Usage events are identified per tenant, and each row says which ingestion request stored it:
 * - the unique key ML_USAGE_EVENT_ID_UK (EVENT_ID) becomes ML_USAGE_EVENT_TENANT_ID_UK
 *   (TENANT_DOMAIN, EVENT_ID): one tenant's event id no longer hides another tenant's event;
 * - INGEST_BATCH (nullable): a random id per ingestion request, written on each row it inserts.
 *   MySQL's INSERT IGNORE cannot say which rows it inserted, so ingestion reads its own rows back
 *   by key and batch (see `EventStore.insert`); elsewhere it records which request stored a row.
 * Creates no table, so `tables` is empty; the DDL test compiles `upSchema` and `downSchema`.
 */
export const tables: readonly TableSpec[] = [];

const TABLE = 'ML_USAGE_EVENT';
const OLD_KEY = 'ML_USAGE_EVENT_ID_UK';
const NEW_KEY = 'ML_USAGE_EVENT_TENANT_ID_UK';

/** The DDL `up` runs, as a schema builder (compiled without a connection by test/db/ddl.test.ts). */
export function upSchema(knex: Knex): Knex.SchemaBuilder {
  return dropUniqueKey(knex, OLD_KEY, ['EVENT_ID']).alterTable(TABLE, (t) => {
    t.string('INGEST_BATCH', 36);
    t.unique(['TENANT_DOMAIN', 'EVENT_ID'], { indexName: NEW_KEY, useConstraint: true });
  });
}

/** The DDL `down` runs once it has checked that no event id is stored for two tenants. */
export function downSchema(knex: Knex): Knex.SchemaBuilder {
  const schema = dropUniqueKey(knex, NEW_KEY, ['TENANT_DOMAIN', 'EVENT_ID']).alterTable(TABLE, (t) => {
    t.unique(['EVENT_ID'], { indexName: OLD_KEY, useConstraint: true });
  });
  // knex drops a SQLite column by copying the whole table into a new one; SQLite (3.35 and
  // later) drops an unindexed column in place.
  if (dialectOf(knex) === 'sqlite') return schema.raw(`ALTER TABLE \`${TABLE}\` DROP COLUMN \`INGEST_BATCH\``);
  return schema.alterTable(TABLE, (t) => {
    t.dropColumn('INGEST_BATCH');
  });
}

export async function up(knex: Knex): Promise<void> {
  await upSchema(knex);
}

/**
 * Refuses, changing nothing, when an event id is stored for more than one tenant: the old key
 * could not hold those rows, and usage is evidence, so none is deleted to make room.
 */
export async function down(knex: Knex): Promise<void> {
  const shared = (await knex(TABLE).groupBy('EVENT_ID').havingRaw('count(*) > 1').select('EVENT_ID').limit(3)) as Array<Record<string, unknown>>;
  if (shared.length > 0) {
    const examples = shared.map((row) => JSON.stringify(String(Object.values(row)[0]))).join(', ');
    throw new Error(
      `Cannot roll back 20261130000000_usage_event_per_tenant: event ids are stored for more than one tenant (${examples}), ` +
        `which the older unique key ${OLD_KEY} (EVENT_ID) cannot hold. Keep this migration, or move those events aside first.`,
    );
  }
  await downSchema(knex);
}

/**
 * Drops a unique key created with `useConstraint: true`. knex's `dropUnique` drops a constraint
 * everywhere but SQL Server, where it emits DROP INDEX, which SQL Server refuses for the index of
 * a UNIQUE constraint.
 */
function dropUniqueKey(knex: Knex, name: string, columns: string[]): Knex.SchemaBuilder {
  if (dialectOf(knex) === 'mssql') return knex.schema.raw(`ALTER TABLE [${TABLE}] DROP CONSTRAINT [${name}]`);
  return knex.schema.alterTable(TABLE, (t) => {
    t.dropUnique(columns, name);
  });
}
