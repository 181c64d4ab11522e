import type { MeterlineMigration } from './support/migration';
import * as schemaOwnership from './20250601000000_schema_ownership';
import * as gatewayTables from './20250601000100_gateway_tables';
import * as apiMonetizationState from './20250601000300_api_monetization_state';
import * as usageTables from './20250801000000_usage_tables';
import * as billingRecords from './20250901000000_billing_records';
import * as usageEventPerTenant from './20261130000000_usage_event_per_tenant';
import * as invoiceBalance from './20261130000200_invoice_balance';
import * as invoicePdfUrl from './20261201000400_invoice_pdf_url';
import * as ownInvoices from './20261201000700_own_invoices';
import * as policyPricing from './20261201000800_policy_pricing';
import * as ownInvoiceUsage from './20261201000900_own_invoice_usage';
import * as notifications from './20261201001000_notifications';
import * as spendLimits from './20261201001100_spend_limits';

export type { MeterlineMigration } from './support/migration';

/**
 * The core's migrations, oldest first. A static list (no directory scan) so it behaves the same
 * under ts-jest and compiled to dist/. A new migration is a new date-named module added at the end.
 * Billing engines ship the migrations of their own tables (plugins/<engine>/migrations/); the
 * migrator merges them with these by name (src/db/migrator.ts `schemaMigrations`).
 */
export const coreMigrations: readonly MeterlineMigration[] = [
  { name: '20250601000000_schema_ownership', ...schemaOwnership },
  { name: '20250601000100_gateway_tables', ...gatewayTables },
  { name: '20250601000300_api_monetization_state', ...apiMonetizationState },
  { name: '20250801000000_usage_tables', ...usageTables },
  { name: '20250901000000_billing_records', ...billingRecords },
  { name: '20261130000000_usage_event_per_tenant', ...usageEventPerTenant },
  { name: '20261130000200_invoice_balance', ...invoiceBalance },
  { name: '20261201000400_invoice_pdf_url', ...invoicePdfUrl },
  { name: '20261201000700_own_invoices', ...ownInvoices },
  { name: '20261201000800_policy_pricing', ...policyPricing },
  { name: '20261201000900_own_invoice_usage', ...ownInvoiceUsage },
  { name: '20261201001000_notifications', ...notifications },
  { name: '20261201001100_spend_limits', ...spendLimits },
];
