import type { Knex } from 'knex';
import type { TableSpec } from './support/table-group';
import * as schemaOwnership from './20250601000000_schema_ownership';
import * as gatewayTables from './20250601000100_gateway_tables';
import * as monetizationTables from './20250601000200_monetization_tables';
import * as apiMonetizationState from './20250601000300_api_monetization_state';
import * as usageTables from './20250801000000_usage_tables';
import * as billingRecords from './20250901000000_billing_records';
import * as usageEventPerTenant from './20261130000000_usage_event_per_tenant';
import * as engineSubscriptionAccount from './20261130000100_engine_subscription_account';

/** One migration: its recorded name (the module's file name), `up`, `down`, and the tables it creates. */
export interface MeterlineMigration {
  readonly name: string;
  readonly tables: readonly TableSpec[];
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/**
 * Every migration, oldest first. A static list (no directory scan) so it behaves the same under
 * ts-jest and compiled to dist/. A new migration is a new date-named module added at the end.
 */
export const migrations: readonly MeterlineMigration[] = [
  { name: '20250601000000_schema_ownership', ...schemaOwnership },
  { name: '20250601000100_gateway_tables', ...gatewayTables },
  { name: '20250601000200_monetization_tables', ...monetizationTables },
  { name: '20250601000300_api_monetization_state', ...apiMonetizationState },
  { name: '20250801000000_usage_tables', ...usageTables },
  { name: '20250901000000_billing_records', ...billingRecords },
  { name: '20261130000000_usage_event_per_tenant', ...usageEventPerTenant },
  { name: '20261130000100_engine_subscription_account', ...engineSubscriptionAccount },
];
