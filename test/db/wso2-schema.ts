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
