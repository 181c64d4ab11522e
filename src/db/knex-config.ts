import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Knex } from 'knex';
import type { DatabaseConfig, DatabaseType } from '../config/schema';

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
export function knexConfigFor(db: DatabaseConfig, cwd: string = process.cwd()): Knex.Config {
  const client = KNEX_CLIENT[db.type];
  if (db.type === 'sqlite') {
    const filename = db.filename === ':memory:' ? ':memory:' : resolve(cwd, db.filename);
    if (filename !== ':memory:') mkdirSync(dirname(filename), { recursive: true });
    return {
      client,
      connection: { filename },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        // SQLite enforces foreign keys (and so the cascades) only when asked, per connection.
        afterCreate: (connection: { pragma: (sql: string) => unknown }, done: (err: Error | null) => void) => {
          connection.pragma('foreign_keys = ON');
          connection.pragma('journal_mode = WAL');
          connection.pragma('busy_timeout = 5000');
          done(null);
        },
      },
    };
  }
  return {
    client,
    connection: db.url ?? connectionParts(db),
    pool: { min: db.pool.min, max: db.pool.max },
  };
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
