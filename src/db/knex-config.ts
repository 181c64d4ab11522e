import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Knex } from 'knex';
import type { DatabaseConfig, DatabaseType } from '../config/schema';
import type { Logger } from '../logger';
import { lowerCaseIdentifier, upperCaseRowKeys } from './identifier-case';

/**
 * Helper threads SQLite may give a large sort (a freeze's GROUP BY of millions of events sorts in
 * a temporary B-tree): one per other CPU, at most 3. The sort is synchronous on Node's thread, so
 * the other CPUs would idle; with one helper on 2 vCPUs, grouping 2,000,000 events took 25-30 % less
 * and a freeze of them about 20 % less (README, Benchmarks). Sorts that fit in memory start none.
 */
const SQLITE_SORT_HELPERS = Math.max(0, Math.min(3, availableParallelism() - 1));

/** knex's client name for each configured database type. */
const KNEX_CLIENT: Record<DatabaseType, string> = {
  sqlite: 'better-sqlite3',
  postgres: 'pg',
  mysql: 'mysql2',
  mssql: 'mssql',
  oracle: 'oracledb',
};

export function knexClientFor(type: DatabaseType): string {
  return KNEX_CLIENT[type];
}

/**
 * Turns `[database.apim_db]` into a knex configuration. Migrations are not configured here:
 * they are run through `src/db/migrator.ts`, which supplies its own migration source.
 */
export function knexConfigFor(db: DatabaseConfig, cwd: string = process.cwd(), logger?: Logger): Knex.Config {
  const client = KNEX_CLIENT[db.type];
  // knex puts the failed statement in front of a driver's error message; compiled, it would
  // carry the bound values into every log line and error text (see src/logger.ts).
  const logging = { log: knexLog(logger), compileSqlOnError: false };
  if (db.type === 'sqlite') {
    const filename = db.filename === ':memory:' ? ':memory:' : resolve(cwd, db.filename);
    if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true });
    return {
      client,
      connection: { filename },
      useNullAsDefault: true,
      ...logging,
      pool: {
        min: 1,
        max: 1,
        // SQLite enforces foreign keys (and so the cascades) only when asked, per connection.
        afterCreate: (connection: { pragma: (sql: string) => unknown }, done: (err: Error | null) => void) => {
          connection.pragma('foreign_keys = ON');
          connection.pragma('journal_mode = WAL');
          connection.pragma('busy_timeout = 5000');
          connection.pragma(`threads = ${SQLITE_SORT_HELPERS}`);
          done(null);
        },
      },
    };
  }
  return {
    client,
    connection: db.url === undefined ? connectionParts(db) : db.type === 'mssql' ? mssqlConnectionFromUrl(db.url) : db.url,
    pool: { min: db.pool.min, max: db.pool.max },
    ...logging,
    ...(db.type === 'postgres' ? POSTGRES_IDENTIFIER_CASE : {}),
  };
}

/**
 * PostgreSQL: identifiers go to the server in lower case, as WSO2's unquoted scripts leave them,
 * and result rows come back with upper-case keys, as on the other databases (see
 * `src/db/identifier-case.ts`). `src/db/migrator.ts` runs knex's migrator without the second
 * half, because knex reads its own bookkeeping rows by lower-case keys.
 */
const POSTGRES_IDENTIFIER_CASE = {
  wrapIdentifier: lowerCaseIdentifier,
  postProcessResponse: upperCaseRowKeys,
} satisfies Pick<Knex.Config, 'wrapIdentifier' | 'postProcessResponse'>;

/**
 * knex prints its warnings (and a failed migration, which we report ourselves) with console.log;
 * send them to our logger instead, or nowhere when there is none (tests).
 */
function knexLog(logger: Logger | undefined): Knex.Config['log'] {
  const child = logger?.child({ component: 'knex' });
  return {
    warn: (message: unknown) => {
      // knex warns, with a stack, each time a connection cannot be opened; whoever asked for the
      // connection reports that failure in one line (the CLI, the start-up wait, /health), so
      // here it is detail for debugging. knex gives only the text to tell it apart.
      if (typeof message === 'string' && message.startsWith('Acquire connection error')) child?.debug({ knex: message }, 'knex connection error');
      else child?.warn({ knex: message }, 'knex warning');
    },
    // An error knex reports itself goes through the logger's error serializer (no SQL values).
    error: (message: unknown) => child?.debug({ err: message }, 'knex error'),
    deprecate: (method: string, alternative: string) => child?.warn({ method, alternative }, 'knex deprecation'),
    debug: (message: unknown) => child?.debug({ knex: message }, 'knex debug'),
  };
}

/**
 * knex splits an `mssql://` URL into parts itself but leaves the port a string, which the driver
 * (tedious) refuses before connecting; so the URL is split here, the same way, with a numeric port.
 * Query parameters become connection options, JSON values parsed, as knex does.
 */
function mssqlConnectionFromUrl(url: string): Knex.MsSqlConnectionConfig {
  const parsed = new URL(url);
  const options = Object.fromEntries([...parsed.searchParams].map(([key, value]) => [key, jsonOrText(value)]));
  return {
    ...options,
    server: parsed.hostname,
    port: parsed.port === '' ? 1433 : Number(parsed.port),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')),
  } as Knex.MsSqlConnectionConfig;
}

function jsonOrText(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function connectionParts(db: DatabaseConfig): Knex.StaticConnectionConfig {
  if (db.type === 'oracle') {
    return {
      user: db.username,
      password: db.password,
      connectString: db.connect_string ?? `${db.host}:${db.port ?? 1521}/${db.database ?? 'XEPDB1'}`,
    } as Knex.OracleDbConnectionConfig;
  }
  if (db.type === 'mssql') {
    return {
      server: db.host ?? '127.0.0.1',
      port: db.port,
      user: db.username,
      password: db.password,
      database: db.database,
    } as Knex.MsSqlConnectionConfig;
  }
  return {
    host: db.host,
    port: db.port,
    user: db.username,
    password: db.password,
    database: db.database,
  };
}
