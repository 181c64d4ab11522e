import type { Knex } from 'knex';
import { identityPrimaryKey, integerReference, secondCascadePathRule, stringReference } from '../../../src/db/dialect';
import { createOrAttachTables, dropOwnedTables, groupConflicts, type TableGroup, type TableSpec } from '../../../migrations/support/table-group';
import type { SchemaConflict } from '../../../migrations/support/schema-conflict';

/**
 * The billing-engine tables of WSO2's monetization guide, with the keys its scripts lack: one
 * plan per API and tier, one mapping per policy, one customer per subscriber and tenant, one
 * shared customer per application, provider and tenant, one subscription per API and application.
 *
 * A table that already exists (created by hand from WSO2's guide, plugin 1.5 or 1.6+) is adopted
 * in place: its columns and rows stay as WSO2 made them; Meterline adds only the unique keys above
 * (as unique indexes, after checking no rows share a key: duplicates are a conflict naming them)
 * and, on the 1.6+ shape, a nullable PARENT_CUSTOMER_ID (no foreign key). Tables the guide's
 * shape lacks (the 1.6+ one has no platform customers) are created. Everything added or adopted
 * is recorded in ML_SCHEMA_ADOPTION, and `down` takes off exactly that. AM_STRIPE_CHECKOUT_SESSIONS
 * (1.6+) is not Meterline's and is left alone. See docs/database.md "Adopting an existing install".
 *
 * SQL Server refuses a second cascade path to the same table; the two keys concerned use
 * `secondCascadePathRule` (NO ACTION there, CASCADE elsewhere). See docs/database.md.
 */
const MIGRATION = '20250601000200_monetization_tables';

const monetization: TableSpec = {
  name: 'AM_MONETIZATION',
  requiredColumns: ['API_ID', 'TIER_NAME', 'STRIPE_PRODUCT_ID', 'STRIPE_PLAN_ID'],
  references: [{ table: 'AM_API', column: 'API_ID', kind: 'identity' }],
  adopt: { uniqueKeys: [{ indexName: 'ML_AM_MON_API_TIER_UK', columns: ['API_ID', 'TIER_NAME'] }] },
  define(t, { referenced }) {
    // Column order is WSO2's: its plugin inserts positionally.
    integerReference(t, 'API_ID', referenced('AM_API', 'API_ID')).notNullable();
    t.string('TIER_NAME', 512).notNullable();
    t.string('STRIPE_PRODUCT_ID', 512);
    t.string('STRIPE_PLAN_ID', 512);
    // A unique key, not a primary key: SQL Server's clustered primary keys are limited to 900
    // bytes, and an NVARCHAR(512) tier name alone can take 1,024.
    t.unique(['API_ID', 'TIER_NAME'], { indexName: 'AM_MONETIZATION_API_TIER_UK', useConstraint: true });
    t.foreign('API_ID', 'AM_MONETIZATION_API_FK').references('API_ID').inTable('AM_API').onDelete('CASCADE');
  },
};

const policyPlanMapping: TableSpec = {
  name: 'AM_POLICY_PLAN_MAPPING',
  requiredColumns: ['POLICY_UUID', 'PRODUCT_ID', 'PLAN_ID'],
  references: [{ table: 'AM_POLICY_SUBSCRIPTION', column: 'UUID', kind: 'string' }],
  adopt: { uniqueKeys: [{ indexName: 'ML_AM_POLICY_PLAN_MAP_UK', columns: ['POLICY_UUID'] }] },
  define(t, { referenced }) {
    stringReference(t, 'POLICY_UUID', 256, referenced('AM_POLICY_SUBSCRIPTION', 'UUID')).notNullable();
    t.string('PRODUCT_ID', 512);
    t.string('PLAN_ID', 512);
    t.primary(['POLICY_UUID'], 'AM_POLICY_PLAN_MAPPING_PK');
    // WSO2 has no cascade here; a deleted policy must not leave its mapping pointing at nothing.
    t.foreign('POLICY_UUID', 'AM_POLICY_PLAN_MAP_POLICY_FK')
      .references('UUID')
      .inTable('AM_POLICY_SUBSCRIPTION')
      .onDelete('CASCADE');
  },
};

const platformCustomers: TableSpec = {
  name: 'AM_MONETIZATION_PLATFORM_CUSTOMERS',
  requiredColumns: ['ID', 'SUBSCRIBER_ID', 'TENANT_ID', 'CUSTOMER_ID'],
  references: [{ table: 'AM_SUBSCRIBER', column: 'SUBSCRIBER_ID', kind: 'identity' }],
  adopt: { uniqueKeys: [{ indexName: 'ML_AM_MON_PLATFORM_CUST_UK', columns: ['SUBSCRIBER_ID', 'TENANT_ID'] }] },
  define(t, { dialect, referenced }) {
    identityPrimaryKey(t, dialect, 'ID', 'AM_MON_PLATFORM_CUST_PK');
    integerReference(t, 'SUBSCRIBER_ID', referenced('AM_SUBSCRIBER', 'SUBSCRIBER_ID')).notNullable();
    t.integer('TENANT_ID').notNullable();
    t.string('CUSTOMER_ID', 256).notNullable();
    t.unique(['SUBSCRIBER_ID', 'TENANT_ID'], { indexName: 'AM_MON_PLATFORM_CUST_UK', useConstraint: true });
    t.foreign('SUBSCRIBER_ID', 'AM_MON_PLATFORM_CUST_SUB_FK')
      .references('SUBSCRIBER_ID')
      .inTable('AM_SUBSCRIBER')
      .onDelete('CASCADE');
  },
};

const sharedCustomers: TableSpec = {
  name: 'AM_MONETIZATION_SHARED_CUSTOMERS',
  requiredColumns: ['ID', 'APPLICATION_ID', 'API_PROVIDER', 'TENANT_ID', 'SHARED_CUSTOMER_ID', 'PARENT_CUSTOMER_ID'],
  references: [
    { table: 'AM_APPLICATION', column: 'APPLICATION_ID', kind: 'identity' },
    { table: 'AM_MONETIZATION_PLATFORM_CUSTOMERS', column: 'ID', kind: 'identity' },
  ],
  adopt: {
    // WSO2's plugin 1.6+ keeps no platform customer: its table has no PARENT_CUSTOMER_ID. Added
    // nullable and without a foreign key (the platform-customer table may be created after it).
    addColumns: [{ name: 'PARENT_CUSTOMER_ID', add: (t) => void t.integer('PARENT_CUSTOMER_ID').nullable() }],
    uniqueKeys: [{ indexName: 'ML_AM_MON_SHARED_CUST_UK', columns: ['APPLICATION_ID', 'API_PROVIDER', 'TENANT_ID'] }],
  },
  define(t, { dialect, referenced }) {
    identityPrimaryKey(t, dialect, 'ID', 'AM_MON_SHARED_CUST_PK');
    integerReference(t, 'APPLICATION_ID', referenced('AM_APPLICATION', 'APPLICATION_ID')).notNullable();
    t.string('API_PROVIDER', 256).notNullable();
    t.integer('TENANT_ID').notNullable();
    t.string('SHARED_CUSTOMER_ID', 256).notNullable();
    // Nullable: a billing engine that keeps no platform customer (WSO2 plugin 1.6+) leaves it empty.
    integerReference(t, 'PARENT_CUSTOMER_ID', referenced('AM_MONETIZATION_PLATFORM_CUSTOMERS', 'ID'));
    t.unique(['APPLICATION_ID', 'API_PROVIDER', 'TENANT_ID'], {
      indexName: 'AM_MON_SHARED_CUST_UK',
      useConstraint: true,
    });
    t.index(['PARENT_CUSTOMER_ID'], 'AM_MON_SHARED_CUST_PARENT_IX');
    t.foreign('APPLICATION_ID', 'AM_MON_SHARED_CUST_APP_FK')
      .references('APPLICATION_ID')
      .inTable('AM_APPLICATION')
      .onDelete('CASCADE');
    // Second path from AM_SUBSCRIBER (→ AM_APPLICATION → here, and → PLATFORM_CUSTOMERS → here).
    t.foreign('PARENT_CUSTOMER_ID', 'AM_MON_SHARED_CUST_PARENT_FK')
      .references('ID')
      .inTable('AM_MONETIZATION_PLATFORM_CUSTOMERS')
      .onDelete(secondCascadePathRule(dialect));
  },
};

const monetizationSubscriptions: TableSpec = {
  name: 'AM_MONETIZATION_SUBSCRIPTIONS',
  requiredColumns: [
    'ID',
    'SUBSCRIBED_APPLICATION_ID',
    'SUBSCRIBED_API_ID',
    'TENANT_ID',
    'SUBSCRIPTION_ID',
    'SHARED_CUSTOMER_ID',
  ],
  references: [
    { table: 'AM_APPLICATION', column: 'APPLICATION_ID', kind: 'identity' },
    { table: 'AM_API', column: 'API_ID', kind: 'identity' },
    { table: 'AM_MONETIZATION_SHARED_CUSTOMERS', column: 'ID', kind: 'identity' },
  ],
  adopt: { uniqueKeys: [{ indexName: 'ML_AM_MON_SUBS_API_APP_UK', columns: ['SUBSCRIBED_API_ID', 'SUBSCRIBED_APPLICATION_ID'] }] },
  define(t, { dialect, referenced }) {
    identityPrimaryKey(t, dialect, 'ID', 'AM_MON_SUBS_PK');
    integerReference(t, 'SUBSCRIBED_APPLICATION_ID', referenced('AM_APPLICATION', 'APPLICATION_ID')).notNullable();
    integerReference(t, 'SUBSCRIBED_API_ID', referenced('AM_API', 'API_ID')).notNullable();
    t.integer('TENANT_ID').notNullable();
    /** The billing engine's subscription id (Stripe `sub_...`). */
    t.string('SUBSCRIPTION_ID', 256).notNullable();
    /** The AM_MONETIZATION_SHARED_CUSTOMERS row (not the Stripe customer id). */
    integerReference(t, 'SHARED_CUSTOMER_ID', referenced('AM_MONETIZATION_SHARED_CUSTOMERS', 'ID')).notNullable();
    t.unique(['SUBSCRIBED_API_ID', 'SUBSCRIBED_APPLICATION_ID'], {
      indexName: 'AM_MON_SUBS_API_APP_UK',
      useConstraint: true,
    });
    t.index(['SUBSCRIBED_APPLICATION_ID'], 'AM_MON_SUBS_APP_IX');
    t.index(['SHARED_CUSTOMER_ID'], 'AM_MON_SUBS_SHARED_CUST_IX');
    t.foreign('SUBSCRIBED_APPLICATION_ID', 'AM_MON_SUBS_APP_FK')
      .references('APPLICATION_ID')
      .inTable('AM_APPLICATION')
      .onDelete('CASCADE');
    t.foreign('SUBSCRIBED_API_ID', 'AM_MON_SUBS_API_FK').references('API_ID').inTable('AM_API').onDelete('CASCADE');
    // Second path from AM_APPLICATION (directly, and → SHARED_CUSTOMERS → here).
    t.foreign('SHARED_CUSTOMER_ID', 'AM_MON_SUBS_SHARED_CUST_FK')
      .references('ID')
      .inTable('AM_MONETIZATION_SHARED_CUSTOMERS')
      .onDelete(secondCascadePathRule(dialect));
  },
};

const group: TableGroup = {
  migration: MIGRATION,
  whenTableExists: 'adopt',
  tables: [monetization, policyPlanMapping, platformCustomers, sharedCustomers, monetizationSubscriptions],
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
