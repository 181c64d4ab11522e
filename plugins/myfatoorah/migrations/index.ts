import type { MeterlineMigration } from '../../../migrations/support/migration';
import * as myFatoorahTables from './20261201001700_myfatoorah_tables';

/** The MyFatoorah engine's own tables (see the migration). */
export const myFatoorahMigrations: readonly MeterlineMigration[] = [{ name: '20261201001700_myfatoorah_tables', ...myFatoorahTables }];
