import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { dialectOf } from '../../src/db/dialect';

/**
 * A stand-in for an existing WSO2 API Manager database: the gateway tables with WSO2's column
 * names, signed INTEGER keys (as WSO2's own scripts make them, unlike knex `increments()` on
 * MySQL), a column Meterline does not know about, and one API row.
 *
 * On PostgreSQL the tables are made the way WSO2's PostgreSQL scripts make them: raw SQL with
 * unquoted upper-case names (which PostgreSQL stores in lower case: `am_api`, `api_id`), keys
 * numbered by a sequence, and the row inserted by unquoted SQL too. Elsewhere knex creates them.
 */
export const WSO2_GATEWAY_TABLES = [
  'AM_SUBSCRIBER',
  'AM_APPLICATION',
  'AM_API',
  'AM_POLICY_SUBSCRIPTION',
  'AM_SUBSCRIPTION',
  'AM_MONETIZATION_USAGE',
] as const;

export const EXISTING_API = { API_ID: 7, API_UUID: 'wso2-api-uuid', API_NAME: 'PizzaShack' } as const;

/** `key`: the table's integer key; `id`: a string primary key; `int`, `str`: plain columns. */
type ColumnKind = 'key' | 'id' | 'int' | 'str';

interface Wso2Table {
  readonly name: (typeof WSO2_GATEWAY_TABLES)[number];
  readonly columns: ReadonlyArray<readonly [string, ColumnKind]>;
  /** A unique key WSO2 declares (named only where knex creates the table). */
  readonly unique?: { readonly columns: readonly string[]; readonly knexName: string };
}

const str = (...names: string[]): Array<[string, ColumnKind]> => names.map((name) => [name, 'str']);

const TABLES: readonly Wso2Table[] = [
  {
    name: 'AM_SUBSCRIBER',
    columns: [['SUBSCRIBER_ID', 'key'], ['USER_ID', 'str'], ['TENANT_ID', 'int'], ...str('EMAIL_ADDRESS', 'DATE_SUBSCRIBED')],
  },
  {
    name: 'AM_APPLICATION',
    columns: [['APPLICATION_ID', 'key'], ['NAME', 'str'], ['SUBSCRIBER_ID', 'int'], ...str('UUID', 'TOKEN_TYPE')],
  },
  {
    name: 'AM_API',
    columns: [
      ['API_ID', 'key'],
      ...str('API_UUID', 'API_PROVIDER', 'API_NAME', 'API_VERSION', 'CONTEXT', 'CONTEXT_TEMPLATE', 'API_TYPE', 'STATUS', 'ORGANIZATION'),
    ],
    unique: { columns: ['API_UUID'], knexName: 'WSO2_API_UUID_UK' },
  },
  {
    name: 'AM_POLICY_SUBSCRIPTION',
    columns: [
      ['POLICY_ID', 'key'],
      ...str('NAME', 'DISPLAY_NAME', 'DESCRIPTION', 'QUOTA_TYPE', 'QUOTA_UNIT', 'TIME_UNIT', 'BILLING_PLAN', 'UUID'),
      ['TENANT_ID', 'int'],
      ['QUOTA', 'int'],
      ['UNIT_TIME', 'int'],
      ...str('MONETIZATION_PLAN', 'FIXED_RATE', 'BILLING_CYCLE', 'PRICE_PER_REQUEST', 'CURRENCY'),
    ],
    unique: { columns: ['UUID'], knexName: 'WSO2_POLICY_UUID_UK' },
  },
  {
    name: 'AM_SUBSCRIPTION',
    columns: [
      ['SUBSCRIPTION_ID', 'key'],
      ['TIER_ID', 'str'],
      ['API_ID', 'int'],
      ['APPLICATION_ID', 'int'],
      ...str('SUB_STATUS', 'SUBS_CREATE_STATE', 'UUID'),
    ],
  },
  {
    name: 'AM_MONETIZATION_USAGE',
    columns: [['ID', 'id'], ...str('STATE', 'STATUS', 'STARTED_TIME', 'PUBLISHED_TIME')],
  },
];

/** Creates the gateway tables and the API row, leaving out `omit.columns` of `omit.table`. */
export async function createWso2GatewayTables(knex: Knex, omit: { table: string; columns: string[] } = { table: '', columns: [] }): Promise<void> {
  const keep = (table: string, column: string): boolean => !(omit.table === table && omit.columns.includes(column));
  const tables = TABLES.map((table) => ({ ...table, columns: table.columns.filter(([column]) => keep(table.name, column)) }));
  const row: Record<string, string | number> = {
    ...EXISTING_API,
    API_PROVIDER: 'admin',
    API_VERSION: '1.0.0',
    ...(keep('AM_API', 'ORGANIZATION') ? { ORGANIZATION: 'carbon.super' } : {}),
  };
  if (dialectOf(knex) === 'postgres') {
    for (const table of tables) {
      for (const statement of wso2PostgresDdl(table)) await knex.raw(statement);
    }
    // As WSO2 writes it: unquoted names, values bound.
    const columns = Object.keys(row);
    await knex.raw(`INSERT INTO AM_API (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, Object.values(row));
    return;
  }
  for (const table of tables) await knex.schema.createTable(table.name, (t) => defineWithKnex(t, table));
  await knex('AM_API').insert(row);
}

export async function dropWso2GatewayTables(knex: Knex): Promise<void> {
  const postgres = dialectOf(knex) === 'postgres';
  for (const table of [...WSO2_GATEWAY_TABLES].reverse()) {
    if (!postgres) {
      await knex.schema.dropTableIfExists(table);
      continue;
    }
    await knex.raw(`DROP TABLE IF EXISTS ${table}`);
    await knex.raw(`DROP SEQUENCE IF EXISTS ${table}_SEQUENCE`);
  }
}

/** WSO2's PostgreSQL style: a sequence per numbered key, everything unquoted. */
function wso2PostgresDdl(table: Wso2Table): string[] {
  const statements: string[] = [];
  const definitions: string[] = [];
  const constraints: string[] = [];
  for (const [column, kind] of table.columns) {
    switch (kind) {
      case 'key':
        statements.push(`CREATE SEQUENCE ${table.name}_SEQUENCE START WITH 1 INCREMENT BY 1`);
        // The sequence's name is a string here, so WSO2 spells it as PostgreSQL stores it.
        definitions.push(`${column} INTEGER DEFAULT nextval('${table.name.toLowerCase()}_sequence')`);
        constraints.push(`PRIMARY KEY (${column})`);
        break;
      case 'id':
        definitions.push(`${column} VARCHAR(100) NOT NULL`);
        constraints.push(`PRIMARY KEY (${column})`);
        break;
      case 'int':
        definitions.push(`${column} INTEGER`);
        break;
      case 'str':
        definitions.push(`${column} VARCHAR(256)`);
        break;
    }
  }
  if (table.unique !== undefined) constraints.push(`UNIQUE (${table.unique.columns.join(', ')})`);
  statements.push(`CREATE TABLE IF NOT EXISTS ${table.name} (\n  ${[...definitions, ...constraints].join(',\n  ')}\n)`);
  return statements;
}

function defineWithKnex(t: Knex.CreateTableBuilder, table: Wso2Table): void {
  for (const [column, kind] of table.columns) {
    switch (kind) {
      case 'key':
        t.integer(column).notNullable().primary();
        break;
      case 'id':
        t.string(column, 100).notNullable().primary();
        break;
      case 'int':
        t.integer(column);
        break;
      case 'str':
        t.string(column, 256);
        break;
    }
  }
  if (table.unique !== undefined) t.unique([...table.unique.columns], { indexName: table.unique.knexName, useConstraint: true });
}

// --- WSO2's real scripts (test/fixtures/wso2-apim-db, see SOURCE.md there) ------------------------

export type Wso2Dialect = 'postgres' | 'mysql';

/**
 * Where WSO2's scripts are: METERLINE_WSO2_DB_SCRIPTS (to try another WSO2 release), else the
 * unmodified copies kept in the repository. A missing script fails the suite (it never skips).
 */
export const WSO2_DB_SCRIPTS = process.env.METERLINE_WSO2_DB_SCRIPTS ?? path.resolve(__dirname, '../fixtures/wso2-apim-db');

function wso2Script(file: string): string {
  const full = path.join(WSO2_DB_SCRIPTS, file);
  if (!existsSync(full)) throw new Error(`WSO2's script ${file} is not in ${WSO2_DB_SCRIPTS}; set METERLINE_WSO2_DB_SCRIPTS to the folder holding WSO2's apimgt and guide scripts`);
  return readFileSync(full, 'utf8');
}

/** Runs one of WSO2's SQL scripts as WSO2's installer would: PostgreSQL in one go, MySQL statement by statement. */
export async function runWso2Script(knex: Knex, dialect: Wso2Dialect, sql: string): Promise<void> {
  if (dialect === 'postgres') {
    await knex.raw(sql);
    return;
  }
  const statements = sql
    .split('\n')
    .filter((line) => !line.trim().startsWith('--'))
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((statement) => statement.trim())
    .filter((statement) => statement !== '');
  for (const statement of statements) await knex.raw(statement);
}

/** WSO2 API-M 4.x's apimgt script (247 tables), unmodified. */
export async function loadWso2ApimgtScript(knex: Knex, dialect: Wso2Dialect): Promise<void> {
  await runWso2Script(knex, dialect, wso2Script(`apimgt-${dialect === 'postgres' ? 'postgresql' : 'mysql'}.sql`));
}

/**
 * The shapes of the tables WSO2's "Monetizing an API" guide has users create by hand:
 * - `1.5`: the Stripe plugin up to 1.5 (API-M 4.0 to 4.4): five tables, with platform customers;
 * - `1.6`: the plugin 1.6+ (API-M 4.5+): no platform customers (AM_MONETIZATION_SHARED_CUSTOMERS
 *   has no PARENT_CUSTOMER_ID), and AM_STRIPE_CHECKOUT_SESSIONS.
 */
export type GuideShape = '1.5' | '1.6';

export const GUIDE_TABLES: Record<GuideShape, readonly string[]> = {
  '1.5': ['AM_MONETIZATION', 'AM_POLICY_PLAN_MAPPING', 'AM_MONETIZATION_PLATFORM_CUSTOMERS', 'AM_MONETIZATION_SHARED_CUSTOMERS', 'AM_MONETIZATION_SUBSCRIPTIONS'],
  '1.6': ['AM_MONETIZATION', 'AM_POLICY_PLAN_MAPPING', 'AM_MONETIZATION_SHARED_CUSTOMERS', 'AM_MONETIZATION_SUBSCRIPTIONS', 'AM_STRIPE_CHECKOUT_SESSIONS'],
};

/**
 * The guide's tables for the plugin 1.6+, as the guide gives them (wso2/docs-apim
 * en/docs/design/api-monetization/monetizing-an-api.md, the revision that installs
 * org.wso2.apim.monetization.impl-1.6.0; (c) WSO2, Apache-2.0): its MySQL and PostgreSQL tabs.
 */
const GUIDE_16: Record<Wso2Dialect, string> = {
  mysql: `
CREATE TABLE IF NOT EXISTS AM_MONETIZATION (
    API_ID INTEGER NOT NULL,
    TIER_NAME VARCHAR(512),
    STRIPE_PRODUCT_ID VARCHAR(512),
    STRIPE_PLAN_ID VARCHAR(512),
    FOREIGN KEY (API_ID) REFERENCES AM_API (API_ID) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS AM_POLICY_PLAN_MAPPING (
    POLICY_UUID VARCHAR(256),
    PRODUCT_ID VARCHAR(512),
    PLAN_ID VARCHAR(512),
    FOREIGN KEY (POLICY_UUID) REFERENCES AM_POLICY_SUBSCRIPTION(UUID)
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS AM_MONETIZATION_SHARED_CUSTOMERS (
    ID INTEGER NOT NULL AUTO_INCREMENT,
    APPLICATION_ID INTEGER NOT NULL,
    API_PROVIDER VARCHAR(256) NOT NULL,
    TENANT_ID INTEGER NOT NULL,
    SHARED_CUSTOMER_ID VARCHAR(256) NOT NULL,
    PRIMARY KEY (ID),
    FOREIGN KEY (APPLICATION_ID) REFERENCES AM_APPLICATION(APPLICATION_ID) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS AM_MONETIZATION_SUBSCRIPTIONS (
    ID INTEGER NOT NULL AUTO_INCREMENT,
    SUBSCRIBED_APPLICATION_ID INTEGER NOT NULL,
    SUBSCRIBED_API_ID INTEGER NOT NULL,
    TENANT_ID INTEGER NOT NULL,
    SUBSCRIPTION_ID VARCHAR(256) NOT NULL,
    SHARED_CUSTOMER_ID INTEGER NOT NULL,
    PRIMARY KEY (ID),
    FOREIGN KEY (SUBSCRIBED_APPLICATION_ID) REFERENCES AM_APPLICATION(APPLICATION_ID) ON DELETE CASCADE,
    FOREIGN KEY (SUBSCRIBED_API_ID) REFERENCES AM_API(API_ID) ON DELETE CASCADE,
    FOREIGN KEY (SHARED_CUSTOMER_ID) REFERENCES AM_MONETIZATION_SHARED_CUSTOMERS(ID) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS AM_STRIPE_CHECKOUT_SESSIONS (
    SESSION_ID         VARCHAR(255)  NOT NULL,
    WORKFLOW_REFERENCE VARCHAR(255)  NOT NULL,
    SUBSCRIBER_ID      INTEGER       NOT NULL,
    TENANT_ID          INTEGER       NOT NULL,
    API_UUID           VARCHAR(255)  NOT NULL,
    CHECKOUT_URL       VARCHAR(2048) NOT NULL,
    STATUS             VARCHAR(20)   NOT NULL,
    CREATED_AT         TIMESTAMP     NOT NULL,
    UPDATED_AT         TIMESTAMP,
    PRIMARY KEY (SESSION_ID)
) ENGINE=InnoDB;
`,
  postgres: `
CREATE TABLE IF NOT EXISTS AM_MONETIZATION (
    API_ID INTEGER NOT NULL,
    TIER_NAME VARCHAR(512),
    STRIPE_PRODUCT_ID VARCHAR(512),
    STRIPE_PLAN_ID VARCHAR(512),
    FOREIGN KEY (API_ID) REFERENCES AM_API (API_ID) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS AM_POLICY_PLAN_MAPPING (
    POLICY_UUID VARCHAR(256),
    PRODUCT_ID VARCHAR(512),
    PLAN_ID VARCHAR(512),
    FOREIGN KEY (POLICY_UUID) REFERENCES AM_POLICY_SUBSCRIPTION(UUID)
);
CREATE SEQUENCE IF NOT EXISTS AM_MONETIZATION_SHARED_CUSTOMERS_ID_SEQ START WITH 1 INCREMENT BY 1;
CREATE TABLE IF NOT EXISTS AM_MONETIZATION_SHARED_CUSTOMERS (
    ID INTEGER PRIMARY KEY DEFAULT nextval('AM_MONETIZATION_SHARED_CUSTOMERS_ID_SEQ'),
    APPLICATION_ID INTEGER NOT NULL,
    API_PROVIDER VARCHAR(256) NOT NULL,
    TENANT_ID INTEGER NOT NULL,
    SHARED_CUSTOMER_ID VARCHAR(256) NOT NULL,
    FOREIGN KEY (APPLICATION_ID) REFERENCES AM_APPLICATION(APPLICATION_ID) ON DELETE CASCADE
);
CREATE SEQUENCE IF NOT EXISTS AM_MONETIZATION_SUBSCRIPTIONS_ID_SEQ START WITH 1 INCREMENT BY 1;
CREATE TABLE IF NOT EXISTS AM_MONETIZATION_SUBSCRIPTIONS (
    ID INTEGER PRIMARY KEY DEFAULT nextval('AM_MONETIZATION_SUBSCRIPTIONS_ID_SEQ'),
    SUBSCRIBED_APPLICATION_ID INTEGER NOT NULL,
    SUBSCRIBED_API_ID INTEGER NOT NULL,
    TENANT_ID INTEGER NOT NULL,
    SUBSCRIPTION_ID VARCHAR(256) NOT NULL,
    SHARED_CUSTOMER_ID INTEGER NOT NULL,
    FOREIGN KEY (SUBSCRIBED_APPLICATION_ID) REFERENCES AM_APPLICATION(APPLICATION_ID) ON DELETE CASCADE,
    FOREIGN KEY (SUBSCRIBED_API_ID) REFERENCES AM_API(API_ID) ON DELETE CASCADE,
    FOREIGN KEY (SHARED_CUSTOMER_ID) REFERENCES AM_MONETIZATION_SHARED_CUSTOMERS(ID) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS AM_STRIPE_CHECKOUT_SESSIONS (
    SESSION_ID         VARCHAR(255)  NOT NULL,
    WORKFLOW_REFERENCE VARCHAR(255)  NOT NULL,
    SUBSCRIBER_ID      INTEGER       NOT NULL,
    TENANT_ID          INTEGER       NOT NULL,
    API_UUID           VARCHAR(255)  NOT NULL,
    CHECKOUT_URL       VARCHAR(2048) NOT NULL,
    STATUS             VARCHAR(20)   NOT NULL,
    CREATED_AT         TIMESTAMP     NOT NULL,
    UPDATED_AT         TIMESTAMP,
    PRIMARY KEY (SESSION_ID)
);
`,
};

/** Creates the guide's tables in one shape: 1.5 from the stored script, 1.6 from the guide's later revision. */
export async function createGuideTables(knex: Knex, dialect: Wso2Dialect, shape: GuideShape): Promise<void> {
  const sql = shape === '1.5' ? wso2Script(`guide-monetization-${dialect === 'postgres' ? 'postgresql' : 'mysql'}.sql`) : GUIDE_16[dialect];
  await runWso2Script(knex, dialect, sql);
}

export async function dropGuideTables(knex: Knex, dialect: Wso2Dialect, shape: GuideShape): Promise<void> {
  for (const table of [...GUIDE_TABLES[shape]].reverse()) await knex.raw(`DROP TABLE IF EXISTS ${table}`);
  if (dialect === 'postgres') {
    for (const table of ['AM_MONETIZATION_PLATFORM_CUSTOMERS', 'AM_MONETIZATION_SHARED_CUSTOMERS', 'AM_MONETIZATION_SUBSCRIPTIONS']) {
      await knex.raw(`DROP SEQUENCE IF EXISTS ${table}_ID_SEQ`);
    }
  }
}

/** One column as the catalogue describes it. */
export interface ColumnDescription {
  table: string;
  column: string;
  type: string;
  nullable: string;
  default: string | null;
}

/** The columns of `tables` as the catalogue reports them (names upper-cased), sorted. */
export async function describeColumns(knex: Knex, dialect: Wso2Dialect, tables: readonly string[]): Promise<ColumnDescription[]> {
  const names = tables.map((t) => (dialect === 'postgres' ? t.toLowerCase() : t));
  const sql =
    dialect === 'postgres'
      ? `SELECT table_name AS t, column_name AS c, data_type || coalesce('(' || character_maximum_length || ')', '') AS ty, is_nullable AS n, column_default AS d
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN (${names.map(() => '?').join(', ')})`
      : `SELECT table_name AS t, column_name AS c, column_type AS ty, is_nullable AS n, column_default AS d
         FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name IN (${names.map(() => '?').join(', ')})`;
  const result = (await knex.raw(sql, names)) as { rows: Array<Record<string, unknown>> } | [Array<Record<string, unknown>>];
  const rows = Array.isArray(result) ? result[0] : result.rows;
  const value = (row: Record<string, unknown>, key: string) => row[key] ?? row[key.toUpperCase()];
  return rows
    .map((row) => ({
      table: String(value(row, 't')).toUpperCase(),
      column: String(value(row, 'c')).toUpperCase(),
      type: String(value(row, 'ty')),
      nullable: String(value(row, 'n')),
      default: value(row, 'd') === null || value(row, 'd') === undefined ? null : String(value(row, 'd')),
    }))
    .sort((a, b) => `${a.table}.${a.column}`.localeCompare(`${b.table}.${b.column}`));
}

/** The indexes and constraints of `tables` (name and definition), sorted: what `down` must leave as it found. */
export async function describeKeys(knex: Knex, dialect: Wso2Dialect, tables: readonly string[]): Promise<string[]> {
  const names = tables.map((t) => (dialect === 'postgres' ? t.toLowerCase() : t));
  const marks = names.map(() => '?').join(', ');
  const sql =
    dialect === 'postgres'
      ? `SELECT tablename || ' ' || indexdef AS k FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN (${marks})
         UNION ALL SELECT c.conrelid::regclass::text || ' ' || c.contype::text || ' ' || pg_get_constraintdef(c.oid) FROM pg_constraint c
         JOIN pg_class r ON r.oid = c.conrelid WHERE r.relname IN (${marks}) AND r.relnamespace = current_schema()::regnamespace`
      : `SELECT CONCAT(table_name, ' ', index_name, ' ', non_unique, ' ', GROUP_CONCAT(column_name ORDER BY seq_in_index)) AS k
         FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name IN (${marks}) GROUP BY table_name, index_name, non_unique
         UNION ALL SELECT CONCAT(table_name, ' ', constraint_name, ' ', constraint_type) FROM information_schema.table_constraints
         WHERE table_schema = DATABASE() AND table_name IN (${marks})`;
  const result = (await knex.raw(sql, [...names, ...names])) as { rows: Array<Record<string, unknown>> } | [Array<Record<string, unknown>>];
  const rows = Array.isArray(result) ? result[0] : result.rows;
  return rows.map((row) => String(row.k ?? row.K)).sort();
}
