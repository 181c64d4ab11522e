import type { MeterlineMigration } from '../../../migrations/support/migration';
import * as monetizationTables from './20250601000200_monetization_tables';
import * as engineSubscriptionAccount from './20261130000100_engine_subscription_account';
import * as engineSubscriptionCancelled from './20261130000300_engine_subscription_cancelled';

/**
 * The Stripe engine's own tables: WSO2's monetization tables and the account of each billed
 * subscription (kept, marked cancelled, after a cancel). Their names are those they had when
 * they were part of the core's list, so a database migrated before they moved here records them
 * as applied already.
 */
export const stripeMigrations: readonly MeterlineMigration[] = [
  { name: '20250601000200_monetization_tables', ...monetizationTables },
  { name: '20261130000100_engine_subscription_account', ...engineSubscriptionAccount },
  { name: '20261130000300_engine_subscription_cancelled', ...engineSubscriptionCancelled },
];
