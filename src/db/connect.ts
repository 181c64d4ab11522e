import knex, { type Knex } from 'knex';
import type { DatabaseConfig } from '../config/schema';
import type { Logger } from '../logger';
import { knexConfigFor } from './knex-config';

/** Opens the connection pool for `[database.apim_db]`. The caller owns it and must `destroy()` it. */
export function connectDatabase(db: DatabaseConfig, options: { cwd?: string; logger?: Logger } = {}): Knex {
  return knex(knexConfigFor(db, options.cwd, options.logger));
}

/** A cheap round trip proving the database answers (used by `GET /health`). */
export async function pingDatabase(db: Knex): Promise<void> {
  const client = String(db.client.config.client);
  await db.raw(client === 'oracledb' ? 'SELECT 1 FROM DUAL' : 'SELECT 1');
}
