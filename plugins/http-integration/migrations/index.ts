import type { MeterlineMigration } from '../../../migrations/support/migration';
import * as httpIntegrationTables from './20261201002300_http_integration_tables';

/** The HTTP integration engine's own tables (see the migration). */
export const httpIntegrationMigrations: readonly MeterlineMigration[] = [{ name: '20261201002300_http_integration_tables', ...httpIntegrationTables }];
