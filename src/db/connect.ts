import knex, { type Knex } from 'knex';
import type { DatabaseConfig } from '../config/schema';
import type { Logger } from '../logger';
import { describeDatabase } from './describe';
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

/**
 * The database did not answer the first round trip (nothing listening, unknown host, refused
 * login...): an expected failure, reported as one line naming the database, never a stack.
 */
export class DatabaseUnreachableError extends Error {
  override readonly name = 'DatabaseUnreachableError';

  constructor(
    /** `describeDatabase`'s text: type and where, without credentials. */
    readonly database: string,
    override readonly cause: unknown,
  ) {
    super(`database ${database} is not reachable: ${connectionFailureMessage(cause)}`);
  }
}

/** Pings once; a failure becomes `DatabaseUnreachableError`. Commands call it before their work. */
export async function assertDatabaseReachable(db: Knex, config: DatabaseConfig): Promise<void> {
  try {
    await pingDatabase(db);
  } catch (error) {
    throw new DatabaseUnreachableError(describeDatabase(config), error);
  }
}

/**
 * The driver's own words for a failed connection, on one line. When a host name resolves to several
 * addresses, node tries each and reports an AggregateError whose message is empty; its parts
 * then say what happened (`connect ECONNREFUSED ::1:5432, connect ECONNREFUSED 127.0.0.1:5432`).
 */
export function connectionFailureMessage(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') {
    const parts = [...new Set(error.errors.map(connectionFailureMessage))];
    if (parts.length > 0) return parts.join(', ');
  }
  // One line: some drivers (oracledb) put the OS error on a second line.
  const text = error instanceof Error ? error.message || error.name : String(error);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
