import type { Knex } from 'knex';
import type { SchemaConflict } from './schema-conflict';
import type { TableSpec } from './table-group';

/**
 * One migration: its recorded name (the module's file name), `up`, `down`, and the tables it
 * creates. The core's are listed in migrations/index.ts; a billing engine ships those of its own
 * tables beside its code (`migrations` on its factory), and the migrator runs both in name order.
 */
export interface MeterlineMigration {
  readonly name: string;
  readonly tables: readonly TableSpec[];
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
  /** What `up` would refuse to run for, found without changing anything (asked before any migration runs). */
  conflicts?(knex: Knex): Promise<SchemaConflict[]>;
}
