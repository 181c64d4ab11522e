import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { configSchema, type DatabaseConfig } from '../../src/config/schema';
import { connectDatabase } from '../../src/db/connect';
import { storedName } from '../../src/db/dialect';

/**
 * The databases an integration suite runs against, chosen by one environment variable:
 *
 *   METERLINE_TEST_DATABASES=sqlite,postgres,mysql   (default: sqlite)
 *   METERLINE_TEST_POSTGRES_URL=postgres://user:pass@host:port/postgres   (an admin URL)
 *   METERLINE_TEST_MYSQL_URL=mysql://user:pass@host:port/mysql            (an admin URL)
 *
 * Each test file gets its own fresh database per target: a temporary file for SQLite, and for the
 * servers a uniquely named database created through the admin URL and dropped afterwards.
 * Connections go through `connectDatabase`, the production code path.
 *
 *   forEachTestDatabase((kind, db) => {
 *     beforeAll(() => migrateLatest(db().knex));
 *     it('...', async () => { await db().knex('AM_API').select(); });
 *   });
 */
export type TestDatabaseKind = 'sqlite' | 'postgres' | 'mysql';

export interface TestDatabaseTarget {
  readonly kind: TestDatabaseKind;
  /** Admin connection URL for the server databases; undefined for SQLite. */
  readonly adminUrl?: string;
}

export interface TestDatabase {
  readonly kind: TestDatabaseKind;
  /** The configuration it was opened with (as `[database.apim_db]` would give it). */
  readonly config: DatabaseConfig;
  readonly knex: Knex;
  /** Closes the pool and removes the database (drops it, or deletes the SQLite file). */
  destroy(): Promise<void>;
}

const KINDS: readonly TestDatabaseKind[] = ['sqlite', 'postgres', 'mysql'];
const URL_VARIABLE: Record<Exclude<TestDatabaseKind, 'sqlite'>, string> = {
  postgres: 'METERLINE_TEST_POSTGRES_URL',
  mysql: 'METERLINE_TEST_MYSQL_URL',
};

/** The selected targets. Throws (never skips) on an unknown name or a server without its URL. */
export function testDatabases(env: NodeJS.ProcessEnv = process.env): TestDatabaseTarget[] {
  const names = (env.METERLINE_TEST_DATABASES ?? 'sqlite')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (names.length === 0) throw new Error('METERLINE_TEST_DATABASES is empty; use e.g. "sqlite,postgres,mysql"');
  return [...new Set(names)].map((name) => {
    const kind = KINDS.find((known) => known === name);
    if (kind === undefined) {
      throw new Error(`METERLINE_TEST_DATABASES: unknown database "${name}" (known: ${KINDS.join(', ')})`);
    }
    if (kind === 'sqlite') return { kind };
    const variable = URL_VARIABLE[kind];
    const adminUrl = env[variable];
    if (adminUrl === undefined || adminUrl.trim() === '') {
      throw new Error(
        `METERLINE_TEST_DATABASES selects ${kind} but ${variable} is not set; give an admin URL ` +
          `(bash .ci/databases.sh start prints one) or deselect ${kind}`,
      );
    }
    return { kind, adminUrl };
  });
}

/** Creates a fresh, empty database for `target` and connects to it. */
export async function createTestDatabase(target: TestDatabaseTarget): Promise<TestDatabase> {
  const { kind, adminUrl } = target;
  if (kind === 'sqlite') return createSqliteDatabase();
  if (adminUrl === undefined) throw new Error(`${kind}: no admin URL`);
  const name = `meterline_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const dialect = SERVER_DIALECTS[kind];
  await withAdmin(kind, adminUrl, (admin) => admin.raw(dialect.create(name)));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const config = databaseConfig({ type: kind, url: url.toString(), pool: { min: 0, max: 4 } });
  const knex = connectDatabase(config);
  return {
    kind,
    config,
    knex,
    async destroy() {
      await knex.destroy();
      await withAdmin(kind, adminUrl, (admin) => admin.raw(dialect.drop(name)));
    },
  };
}

/**
 * Declares `define` once per selected database, inside `describe(kind)`, with a fresh database
 * created before the block's tests and removed after them. `db()` is valid inside hooks and tests.
 */
export function forEachTestDatabase(define: (kind: TestDatabaseKind, db: () => TestDatabase) => void): void {
  const targets = testDatabases();
  describe.each(targets.map((target) => [target.kind, target] as const))('on %s', (kind, target) => {
    let database: TestDatabase | undefined;
    beforeAll(async () => {
      database = await createTestDatabase(target);
    });
    define(kind, () => {
      if (database === undefined) throw new Error(`the ${kind} test database is not open (used outside a test?)`);
      return database;
    });
    // Declared after `define`: jest runs afterAll hooks in declaration order, and the suite's own
    // afterAll hooks (e.g. a rollback) still need the connection.
    afterAll(async () => {
      await database?.destroy();
    });
  });
}

const SERVER_DIALECTS: Record<Exclude<TestDatabaseKind, 'sqlite'>, { create(name: string): string; drop(name: string): string }> = {
  postgres: {
    create: (name) => `CREATE DATABASE "${name}"`,
    drop: (name) => `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`,
  },
  mysql: {
    create: (name) => `CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`,
    drop: (name) => `DROP DATABASE IF EXISTS \`${name}\``,
  },
};

async function withAdmin<T>(kind: 'postgres' | 'mysql', url: string, work: (admin: Knex) => Promise<T>): Promise<T> {
  const admin = connectDatabase(databaseConfig({ type: kind, url, pool: { min: 0, max: 1 } }));
  try {
    return await work(admin);
  } finally {
    await admin.destroy();
  }
}

function createSqliteDatabase(): TestDatabase {
  const directory = mkdtempSync(join(tmpdir(), 'meterline-test-'));
  const config = databaseConfig({ type: 'sqlite', filename: join(directory, 'meterline.db') });
  const knex = connectDatabase(config);
  return {
    kind: 'sqlite',
    config,
    knex,
    async destroy() {
      await knex.destroy();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Validated by the production schema, so tests connect exactly as `[database.apim_db]` would. */
function databaseConfig(apimDb: Record<string, unknown>): DatabaseConfig {
  return configSchema.parse({ database: { apim_db: apimDb } }).database.apim_db;
}

/**
 * The tables in the connected database's current schema, sorted (for "the schema is empty"
 * checks), named as the catalogue stores them: lower case on PostgreSQL. Compare with
 * `storedTableNames`.
 */
export async function listTables(db: TestDatabase): Promise<string[]> {
  const query: Record<TestDatabaseKind, string> = {
    sqlite: "SELECT name AS TABLE_NAME FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    postgres: 'SELECT table_name AS "TABLE_NAME" FROM information_schema.tables WHERE table_schema = current_schema()',
    mysql: 'SELECT table_name AS TABLE_NAME FROM information_schema.tables WHERE table_schema = DATABASE()',
  };
  const result: unknown = await db.knex.raw(query[db.kind]);
  // Each driver shapes a raw result differently: pg `{ rows }`, mysql2 `[rows, fields]`, SQLite rows.
  const rows = (db.kind === 'postgres'
    ? (result as { rows: unknown[] }).rows
    : db.kind === 'mysql'
      ? (result as [unknown[]])[0]
      : result) as Array<{ TABLE_NAME: string }>;
  return rows.map((row) => row.TABLE_NAME).sort();
}

/** `tables` (as Meterline spells them: `AM_API`) as `listTables` reports them on `db`, sorted. */
export function storedTableNames(db: TestDatabase, tables: readonly string[]): string[] {
  return tables.map((table) => storedName(db.kind, table)).sort();
}
