import type { MeterlineMigration } from '../../../migrations/support/migration';
import * as myFatoorahTables from './20261201001700_myfatoorah_tables';
import * as myFatoorahSends from './20261201002100_myfatoorah_sends';

/** The MyFatoorah engine's own tables (see the migrations). */
export const myFatoorahMigrations: readonly MeterlineMigration[] = [
  { name: '20261201001700_myfatoorah_tables', ...myFatoorahTables },
  { name: '20261201002100_myfatoorah_sends', ...myFatoorahSends },
];
