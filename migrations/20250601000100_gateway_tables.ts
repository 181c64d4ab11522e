import type { Knex } from 'knex';
import { identityPrimaryKey, integerReference } from '../src/db/dialect';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from './support/table-group';
import { restoreRows, saveRows, wasAdopted } from './support/adoption';
import type { SchemaConflict } from './support/schema-conflict';

/**
 * The WSO2 API Manager tables monetization refers to, with WSO2's names and the columns Meterline
 * uses. On a WSO2 database they already exist: each is then attached to (its columns checked,
 * nothing altered) and never dropped. On a fresh database Meterline creates them.
 *
 * Types follow WSO2: identifiers are INTEGER, timestamps are timestamps without time zone that
 * hold UTC (knex `datetime`, `useTz: false`), prices stay strings. No column defaults: Meterline
 * writes every value, and SQL Server would otherwise create unnamed default constraints.
 */
const MIGRATION = '20250601000100_gateway_tables';

const subscriber: TableSpec = {
  name: 'AM_SUBSCRIBER',
  requiredColumns: ['SUBSCRIBER_ID', 'USER_ID', 'TENANT_ID', 'EMAIL_ADDRESS', 'DATE_SUBSCRIBED'],
  references: [],
  define(t, { dialect }) {
    identityPrimaryKey(t, dialect, 'SUBSCRIBER_ID', 'AM_SUBSCRIBER_PK');
    t.string('USER_ID', 255).notNullable();
    t.integer('TENANT_ID').notNullable();
    t.string('EMAIL_ADDRESS', 256);
    t.datetime('DATE_SUBSCRIBED', { useTz: false }).notNullable();
    t.string('CREATED_BY', 100);
    t.datetime('CREATED_TIME', { useTz: false });
    t.string('UPDATED_BY', 100);
    t.datetime('UPDATED_TIME', { useTz: false });
    t.unique(['TENANT_ID', 'USER_ID'], { indexName: 'AM_SUBSCRIBER_TENANT_USER_UK', useConstraint: true });
  },
};

const application: TableSpec = {
  name: 'AM_APPLICATION',
  requiredColumns: ['APPLICATION_ID', 'NAME', 'SUBSCRIBER_ID', 'UUID'],
  references: [{ table: 'AM_SUBSCRIBER', column: 'SUBSCRIBER_ID', kind: 'identity' }],
  define(t, { dialect, referenced }) {
    identityPrimaryKey(t, dialect, 'APPLICATION_ID', 'AM_APPLICATION_PK');
    t.string('NAME', 100).notNullable();
    integerReference(t, 'SUBSCRIBER_ID', referenced('AM_SUBSCRIBER', 'SUBSCRIBER_ID')).notNullable();
    t.string('APPLICATION_TIER', 50);
    t.string('DESCRIPTION', 512);
    t.string('APPLICATION_STATUS', 50);
    t.string('UUID', 256).notNullable();
    t.string('ORGANIZATION', 100);
    t.string('CREATED_BY', 100);
    t.datetime('CREATED_TIME', { useTz: false });
    t.string('UPDATED_BY', 100);
    t.datetime('UPDATED_TIME', { useTz: false });
    t.unique(['UUID'], { indexName: 'AM_APPLICATION_UUID_UK', useConstraint: true });
    t.index(['SUBSCRIBER_ID'], 'AM_APPLICATION_SUBSCRIBER_IX');
    t.foreign('SUBSCRIBER_ID', 'AM_APPLICATION_SUBSCRIBER_FK')
      .references('SUBSCRIBER_ID')
      .inTable('AM_SUBSCRIBER')
      .onDelete('CASCADE');
  },
};

const api: TableSpec = {
  name: 'AM_API',
  requiredColumns: [
    'API_ID',
    'API_UUID',
    'API_PROVIDER',
    'API_NAME',
    'API_VERSION',
    'CONTEXT',
    'API_TYPE',
    'STATUS',
    'ORGANIZATION',
  ],
  references: [],
  define(t, { dialect }) {
    identityPrimaryKey(t, dialect, 'API_ID', 'AM_API_PK');
    t.string('API_UUID', 256).notNullable();
    t.string('API_PROVIDER', 200).notNullable();
    t.string('API_NAME', 200).notNullable();
    t.string('API_VERSION', 30).notNullable();
    t.string('CONTEXT', 256);
    t.string('API_TYPE', 10);
    /** The lifecycle state: CREATED, PUBLISHED, DEPRECATED, RETIRED, ... */
    t.string('STATUS', 30);
    /** The tenant domain owning the API (carbon.super by default). */
    t.string('ORGANIZATION', 100).notNullable();
    t.string('CREATED_BY', 100);
    t.datetime('CREATED_TIME', { useTz: false });
    t.string('UPDATED_BY', 100);
    t.datetime('UPDATED_TIME', { useTz: false });
    t.unique(['API_UUID'], { indexName: 'AM_API_UUID_UK', useConstraint: true });
    t.unique(['API_PROVIDER', 'API_NAME', 'API_VERSION', 'ORGANIZATION'], {
      indexName: 'AM_API_PROVIDER_NAME_VER_UK',
      useConstraint: true,
    });
  },
};

const subscriptionPolicy: TableSpec = {
  name: 'AM_POLICY_SUBSCRIPTION',
  requiredColumns: [
    'POLICY_ID',
    'NAME',
    'DISPLAY_NAME',
    'TENANT_ID',
    'DESCRIPTION',
    'QUOTA_TYPE',
    'QUOTA',
    'QUOTA_UNIT',
    'UNIT_TIME',
    'TIME_UNIT',
    'BILLING_PLAN',
    'UUID',
    'MONETIZATION_PLAN',
    'FIXED_RATE',
    'BILLING_CYCLE',
    'PRICE_PER_REQUEST',
    'CURRENCY',
  ],
  references: [],
  define(t, { dialect }) {
    identityPrimaryKey(t, dialect, 'POLICY_ID', 'AM_POLICY_SUBSCRIPTION_PK');
    t.string('NAME', 512).notNullable();
    t.string('DISPLAY_NAME', 512);
    t.integer('TENANT_ID').notNullable();
    t.string('DESCRIPTION', 1024);
    t.string('QUOTA_TYPE', 25).notNullable();
    t.integer('QUOTA').notNullable();
    t.string('QUOTA_UNIT', 10);
    t.integer('UNIT_TIME').notNullable();
    t.string('TIME_UNIT', 25).notNullable();
    /** FREE or COMMERCIAL. */
    t.string('BILLING_PLAN', 20).notNullable();
    t.string('UUID', 256).notNullable();
    /** FIXEDRATE or DYNAMICRATE; the price columns hold exact decimal strings, as in WSO2. */
    t.string('MONETIZATION_PLAN', 25);
    t.string('FIXED_RATE', 15);
    t.string('BILLING_CYCLE', 15);
    t.string('PRICE_PER_REQUEST', 15);
    t.string('CURRENCY', 15);
    t.unique(['UUID'], { indexName: 'AM_POLICY_SUB_UUID_UK', useConstraint: true });
    t.unique(['NAME', 'TENANT_ID'], { indexName: 'AM_POLICY_SUB_NAME_TENANT_UK', useConstraint: true });
  },
};

const subscription: TableSpec = {
  name: 'AM_SUBSCRIPTION',
  requiredColumns: ['SUBSCRIPTION_ID', 'TIER_ID', 'API_ID', 'APPLICATION_ID', 'SUB_STATUS', 'SUBS_CREATE_STATE', 'UUID'],
  references: [
    { table: 'AM_API', column: 'API_ID', kind: 'identity' },
    { table: 'AM_APPLICATION', column: 'APPLICATION_ID', kind: 'identity' },
  ],
  define(t, { dialect, referenced }) {
    identityPrimaryKey(t, dialect, 'SUBSCRIPTION_ID', 'AM_SUBSCRIPTION_PK');
    /** The subscription policy's NAME (WSO2 calls the tier an id). */
    t.string('TIER_ID', 512);
    integerReference(t, 'API_ID', referenced('AM_API', 'API_ID')).notNullable();
    integerReference(t, 'APPLICATION_ID', referenced('AM_APPLICATION', 'APPLICATION_ID')).notNullable();
    /** UNBLOCKED, BLOCKED, ON_HOLD, ... */
    t.string('SUB_STATUS', 50);
    /** SUBSCRIBE or UN_SUBSCRIBE. */
    t.string('SUBS_CREATE_STATE', 50);
    t.string('UUID', 256).notNullable();
    t.string('CREATED_BY', 100);
    t.datetime('CREATED_TIME', { useTz: false });
    t.string('UPDATED_BY', 100);
    t.datetime('UPDATED_TIME', { useTz: false });
    t.unique(['UUID'], { indexName: 'AM_SUBSCRIPTION_UUID_UK', useConstraint: true });
    t.index(['API_ID'], 'AM_SUBSCRIPTION_API_IX');
    t.index(['APPLICATION_ID'], 'AM_SUBSCRIPTION_APP_IX');
    t.foreign('API_ID', 'AM_SUBSCRIPTION_API_FK').references('API_ID').inTable('AM_API').onDelete('CASCADE');
    t.foreign('APPLICATION_ID', 'AM_SUBSCRIPTION_APP_FK')
      .references('APPLICATION_ID')
      .inTable('AM_APPLICATION')
      .onDelete('CASCADE');
  },
};

/** WSO2's single-row usage-publisher state (ID = 'USAGE_PUBLISHER'); times are epoch-ms strings. */
const monetizationUsage: TableSpec = {
  name: 'AM_MONETIZATION_USAGE',
  requiredColumns: ['ID', 'STATE', 'STATUS', 'STARTED_TIME', 'PUBLISHED_TIME'],
  references: [],
  define(t) {
    t.string('ID', 100).notNullable();
    t.string('STATE', 50).notNullable();
    t.string('STATUS', 50).notNullable();
    t.string('STARTED_TIME', 50).notNullable();
    t.string('PUBLISHED_TIME', 50).notNullable();
    t.primary(['ID'], 'AM_MONETIZATION_USAGE_PK');
  },
};

const group: TableGroup = {
  migration: MIGRATION,
  whenTableExists: 'attach',
  tables: [subscriber, application, api, subscriptionPolicy, subscription, monetizationUsage],
};

export const tables: readonly TableSpec[] = group.tables;

export function conflicts(knex: Knex): Promise<SchemaConflict[]> {
  return groupConflicts(knex, group);
}

/**
 * WSO2's AM_MONETIZATION_USAGE row is rewritten by Meterline's usage publisher; when the table was
 * WSO2's, its rows are saved now and put back by `down`, so rolling back leaves WSO2's own last
 * publish time (and no USAGE_PUBLISHER row if WSO2 had none).
 */
const SAVED_ROWS = [monetizationUsage.name];

export async function up(knex: Knex): Promise<void> {
  await createOrAttachTables(knex, group);
  for (const table of SAVED_ROWS) if (await wasAdopted(knex, table)) await saveRows(knex, MIGRATION, table);
}

export async function down(knex: Knex): Promise<void> {
  for (const table of SAVED_ROWS) await restoreRows(knex, MIGRATION, table);
  await dropOwnedTables(knex, group);
}
