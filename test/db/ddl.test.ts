import knex, { type Knex } from 'knex';
import { coreMigrations } from '../../migrations';
import { stripeMigrations } from '../../plugins/stripe/migrations';
import { downSchema, upSchema } from '../../migrations/20261130000000_usage_event_per_tenant';
import * as invoiceBalance from '../../migrations/20261130000200_invoice_balance';
import * as invoicePdfUrl from '../../migrations/20261201000400_invoice_pdf_url';
import { contextForFreshSchema } from '../../migrations/support/table-group';
import { dialectOf, storedName, type Dialect } from '../../src/db/dialect';
import { lowerCaseIdentifier } from '../../src/db/identifier-case';

/**
 * The DDL `up` runs on a fresh database, compiled without a connection by knex's own dialect
 * compilers, from the same table definitions. This is the only check SQL Server and Oracle get:
 * no server for either can run on our machines. The three we do run get it too (cheaply).
 */
const CLIENTS: Record<Dialect, Knex.Config> = {
  // As knexConfigFor configures it: every identifier in lower case, like WSO2's unquoted scripts.
  postgres: { client: 'pg', wrapIdentifier: lowerCaseIdentifier },
  mysql: { client: 'mysql2' },
  mssql: { client: 'mssql' },
  // 12.2 or later: WSO2's own table names (AM_MONETIZATION_PLATFORM_CUSTOMERS) exceed 30 bytes.
  oracle: { client: 'oracledb', version: '19.0' },
  sqlite: { client: 'better-sqlite3', useNullAsDefault: true },
};

interface Statement {
  readonly table: string;
  readonly sql: string;
}

function compile(dialect: Dialect): Statement[] {
  const compiler = knex(CLIENTS[dialect]);
  expect(dialectOf(compiler)).toBe(dialect);
  return [...coreMigrations, ...stripeMigrations].sort((a, b) => a.name.localeCompare(b.name)).flatMap((migration) =>
    migration.tables.flatMap((spec) =>
      compiler.schema
        .createTable(spec.name, (t) => spec.define(t, contextForFreshSchema(dialect, spec)))
        .toSQL()
        .map((query) => ({ table: spec.name, sql: query.sql })),
    ),
  );
}

const Q = '[`"\\[]?'; // an identifier's opening quote, any dialect
const E = '[`"\\]]?'; // and its closing one

interface ForeignKey {
  readonly table: string;
  readonly name: string;
  readonly columns: string;
  readonly references: string;
  readonly onDelete: string;
}

function foreignKeys(statements: readonly Statement[]): ForeignKey[] {
  const pattern = new RegExp(
    `constraint\\s+${Q}(\\w+)${E}\\s+foreign key\\s*\\(([^)]*)\\)\\s+references\\s+${Q}(\\w+)${E}\\s*\\(([^)]*)\\)\\s+on delete (CASCADE|NO ACTION)`,
    'gi',
  );
  return statements.flatMap(({ table, sql }) =>
    [...sql.matchAll(pattern)].map((m) => ({
      table,
      name: m[1] ?? '',
      columns: unquote(m[2] ?? ''),
      references: `${m[3] ?? ''}(${unquote(m[4] ?? '')})`,
      onDelete: (m[5] ?? '').toUpperCase(),
    })),
  );
}

/** Names of constraints and indexes, however the dialect spells them. */
function constraintAndIndexNames(statements: readonly Statement[]): string[] {
  const patterns = [
    new RegExp(`constraint\\s+${Q}(\\w+)${E}`, 'gi'),
    new RegExp(`create\\s+(?:unique\\s+)?index\\s+${Q}(\\w+)${E}`, 'gi'),
    new RegExp(`add\\s+(?:unique|index)\\s+${Q}(\\w+)${E}`, 'gi'),
  ];
  return statements.flatMap(({ sql }) => patterns.flatMap((pattern) => [...sql.matchAll(pattern)].map((m) => m[1] ?? '')));
}

function unquote(list: string): string {
  return list.replace(/[`"[\]\s]/g, '');
}

const FOREIGN_KEYS = [
  ['AM_APPLICATION', 'AM_APPLICATION_SUBSCRIBER_FK', 'SUBSCRIBER_ID', 'AM_SUBSCRIBER(SUBSCRIBER_ID)'],
  ['AM_SUBSCRIPTION', 'AM_SUBSCRIPTION_API_FK', 'API_ID', 'AM_API(API_ID)'],
  ['AM_SUBSCRIPTION', 'AM_SUBSCRIPTION_APP_FK', 'APPLICATION_ID', 'AM_APPLICATION(APPLICATION_ID)'],
  ['AM_MONETIZATION', 'AM_MONETIZATION_API_FK', 'API_ID', 'AM_API(API_ID)'],
  ['AM_POLICY_PLAN_MAPPING', 'AM_POLICY_PLAN_MAP_POLICY_FK', 'POLICY_UUID', 'AM_POLICY_SUBSCRIPTION(UUID)'],
  ['AM_MONETIZATION_PLATFORM_CUSTOMERS', 'AM_MON_PLATFORM_CUST_SUB_FK', 'SUBSCRIBER_ID', 'AM_SUBSCRIBER(SUBSCRIBER_ID)'],
  ['AM_MONETIZATION_SHARED_CUSTOMERS', 'AM_MON_SHARED_CUST_APP_FK', 'APPLICATION_ID', 'AM_APPLICATION(APPLICATION_ID)'],
  ['AM_MONETIZATION_SHARED_CUSTOMERS', 'AM_MON_SHARED_CUST_PARENT_FK', 'PARENT_CUSTOMER_ID', 'AM_MONETIZATION_PLATFORM_CUSTOMERS(ID)'],
  ['AM_MONETIZATION_SUBSCRIPTIONS', 'AM_MON_SUBS_APP_FK', 'SUBSCRIBED_APPLICATION_ID', 'AM_APPLICATION(APPLICATION_ID)'],
  ['AM_MONETIZATION_SUBSCRIPTIONS', 'AM_MON_SUBS_API_FK', 'SUBSCRIBED_API_ID', 'AM_API(API_ID)'],
  ['AM_MONETIZATION_SUBSCRIPTIONS', 'AM_MON_SUBS_SHARED_CUST_FK', 'SHARED_CUSTOMER_ID', 'AM_MONETIZATION_SHARED_CUSTOMERS(ID)'],
  ['ML_API_POLICY', 'ML_API_POLICY_API_FK', 'API_ID', 'AM_API(API_ID)'],
  ['ML_API_MONETIZATION', 'ML_API_MONETIZATION_API_FK', 'API_ID', 'AM_API(API_ID)'],
  ['ML_POLICY_PRICING', 'ML_POLICY_PRICING_POLICY_FK', 'POLICY_UUID', 'AM_POLICY_SUBSCRIPTION(UUID)'],
] as const;

/** The two keys SQL Server would reject as second cascade paths (see secondCascadePathRule). */
const SECOND_CASCADE_PATHS = ['AM_MON_SHARED_CUST_PARENT_FK', 'AM_MON_SUBS_SHARED_CUST_FK'];

const PRIMARY_KEYS = [
  'ML_SCHEMA_OWNERSHIP_PK',
  'AM_SUBSCRIBER_PK',
  'AM_APPLICATION_PK',
  'AM_API_PK',
  'AM_POLICY_SUBSCRIPTION_PK',
  'AM_SUBSCRIPTION_PK',
  'AM_MONETIZATION_USAGE_PK',
  'AM_POLICY_PLAN_MAPPING_PK',
  'AM_MON_PLATFORM_CUST_PK',
  'AM_MON_SHARED_CUST_PK',
  'AM_MON_SUBS_PK',
  'ML_API_MONETIZATION_PK',
  'ML_USAGE_EVENT_PK',
  'ML_USAGE_RECORD_PK',
  'ML_USAGE_PUBLISH_JOB_PK',
  'ML_USAGE_BILLING_CYCLE_PK',
  'ML_USAGE_SOURCE_POSITION_PK',
  'ML_INVOICE_PK',
  'ML_OWN_INVOICE_PK',
  'ML_OWN_INVOICE_LINE_PK',
  'ML_OWN_INVOICE_USAGE_PK',
  'ML_SUBSCRIPTION_BILLING_PK',
  'ML_WEBHOOK_EVENT_PK',
  'ML_ENGINE_SUBSCRIPTION_PK',
  'ML_POLICY_PRICING_PK',
  'ML_NOTIF_CHANNEL_PK',
  'ML_NOTIF_DELIVERY_PK',
  'ML_SPEND_LIMIT_PK',
  'ML_SPEND_STATE_PK',
];
/** SQLite declares `INTEGER PRIMARY KEY AUTOINCREMENT` inline, where it cannot carry a name. */
const IDENTITY_KEYS_SQLITE_LEAVES_UNNAMED = [
  'AM_SUBSCRIBER_PK',
  'AM_APPLICATION_PK',
  'AM_API_PK',
  'AM_POLICY_SUBSCRIPTION_PK',
  'AM_SUBSCRIPTION_PK',
  'AM_MON_PLATFORM_CUST_PK',
  'AM_MON_SHARED_CUST_PK',
  'AM_MON_SUBS_PK',
  'ML_USAGE_EVENT_PK',
  'ML_USAGE_RECORD_PK',
  'ML_INVOICE_PK',
];
const UNIQUE_KEYS = [
  'AM_SUBSCRIBER_TENANT_USER_UK',
  'AM_APPLICATION_UUID_UK',
  'AM_API_UUID_UK',
  'AM_API_PROVIDER_NAME_VER_UK',
  'AM_POLICY_SUB_UUID_UK',
  'AM_POLICY_SUB_NAME_TENANT_UK',
  'AM_SUBSCRIPTION_UUID_UK',
  'AM_MONETIZATION_API_TIER_UK',
  'AM_MON_PLATFORM_CUST_UK',
  'AM_MON_SHARED_CUST_UK',
  'AM_MON_SUBS_API_APP_UK',
  'ML_API_POLICY_UK',
  'ML_USAGE_EVENT_ID_UK',
  'ML_USAGE_RECORD_IDENT_UK',
  'ML_INVOICE_ENGINE_ID_UK',
  'ML_OWN_INVOICE_PERIOD_UK',
  'ML_OWN_INVOICE_USAGE_UK',
  'ML_NOTIF_CHANNEL_NAME_UK',
  'ML_NOTIF_DELIVERY_EVENT_UK',
  'ML_SUB_BILLING_ENGINE_UK',
];
const INDEXES = [
  'AM_APPLICATION_SUBSCRIBER_IX',
  'AM_SUBSCRIPTION_API_IX',
  'AM_SUBSCRIPTION_APP_IX',
  'AM_MON_SHARED_CUST_PARENT_IX',
  'AM_MON_SUBS_APP_IX',
  'AM_MON_SUBS_SHARED_CUST_IX',
  'ML_USAGE_RECORD_STATE_IX',
  'ML_INVOICE_SUBSCRIPTION_IX',
  'ML_OWN_INVOICE_STATUS_IX',
  'ML_OWN_INV_USAGE_INVOICE_IX',
  'ML_INVOICE_API_IX',
  'ML_NOTIF_DELIVERY_DUE_IX',
  'ML_NOTIF_DELIVERY_TENANT_IX',
];
const CHECKS = ['ML_API_MON_ENABLED_CK', 'ML_USAGE_EVENT_STATE_CK', 'ML_INVOICE_STATUS_CK', 'ML_SUB_BILLING_AWAITING_CK', 'ML_OWN_INVOICE_KIND_CK', 'ML_OWN_INVOICE_STATUS_CK', 'ML_POLICY_PRICING_MODEL_CK', 'ML_NOTIF_CHANNEL_KIND_CK', 'ML_NOTIF_DELIVERY_STATUS_CK', 'ML_SPEND_LIMIT_SET_BY_CK'];

/** The identity column each auto-numbered table gets, by dialect. */
const IDENTITY_SYNTAX: Record<Dialect, RegExp> = {
  postgres: /"(\w+)" serial\b/g,
  mysql: /modify column `(\w+)` int unsigned not null auto_increment/g,
  mssql: /\[(\w+)\] int identity\(1,1\) not null/g,
  oracle: /"(\w+)" integer generated by default as identity/g,
  sqlite: /`(\w+)` integer not null primary key autoincrement/g,
};
const IDENTITY_TABLES = [
  'AM_SUBSCRIBER.SUBSCRIBER_ID',
  'AM_APPLICATION.APPLICATION_ID',
  'AM_API.API_ID',
  'AM_POLICY_SUBSCRIPTION.POLICY_ID',
  'AM_SUBSCRIPTION.SUBSCRIPTION_ID',
  'AM_MONETIZATION_PLATFORM_CUSTOMERS.ID',
  'AM_MONETIZATION_SHARED_CUSTOMERS.ID',
  'AM_MONETIZATION_SUBSCRIPTIONS.ID',
  'ML_USAGE_EVENT.SEQ',
  'ML_USAGE_RECORD.RECORD_ID',
  'ML_INVOICE.INVOICE_ID',
];

/** Every pair (ancestor, descendant) joined by more than one chain of ON DELETE CASCADE keys. */
function multipleCascadePaths(keys: readonly ForeignKey[]): string[] {
  const children = new Map<string, string[]>();
  for (const key of keys) {
    if (key.onDelete !== 'CASCADE') continue;
    const parent = key.references.replace(/\(.*$/, '').toUpperCase(); // lower case on PostgreSQL
    children.set(parent, [...(children.get(parent) ?? []), key.table]);
  }
  const pathCounts = new Map<string, number>();
  const walk = (ancestor: string, table: string): void => {
    for (const child of children.get(table) ?? []) {
      const pair = `${ancestor} -> ${child}`;
      pathCounts.set(pair, (pathCounts.get(pair) ?? 0) + 1);
      walk(ancestor, child);
    }
  };
  for (const ancestor of children.keys()) walk(ancestor, ancestor);
  return [...pathCounts].filter(([, count]) => count > 1).map(([pair]) => pair);
}

describe.each(Object.keys(CLIENTS) as Dialect[])('the DDL compiled for %s', (dialect) => {
  const statements = compile(dialect);
  const keys = foreignKeys(statements);
  const names = constraintAndIndexNames(statements);

  it('gives every constraint and index a name of at most 30 characters', () => {
    expect(names.filter((name) => name.length > 30)).toEqual([]);
  });

  it('names every primary key, unique key, index and check it declares', () => {
    const expected = [...PRIMARY_KEYS, ...UNIQUE_KEYS, ...INDEXES, ...CHECKS, ...FOREIGN_KEYS.map(([, name]) => name)];
    const unnamedBySqlite = dialect === 'sqlite' ? IDENTITY_KEYS_SQLITE_LEAVES_UNNAMED : [];
    expect([...new Set(names.map((name) => name.toUpperCase()))].sort()).toEqual(
      expected.filter((name) => !unnamedBySqlite.includes(name)).sort(),
    );
  });

  it('declares each foreign key on the documented columns', () => {
    const stored = (name: string): string => storedName(dialect, name);
    expect(keys.map(({ table, name, columns, references }) => [table, name, columns, references])).toEqual(
      FOREIGN_KEYS.map(([table, name, columns, references]) => [table, stored(name), stored(columns), stored(references)]),
    );
  });

  it(
    dialect === 'mssql'
      ? 'cascades every delete except the two second cascade paths, which are NO ACTION'
      : 'cascades every delete along every foreign key',
    () => {
      const expected = FOREIGN_KEYS.map(([, name]) =>
        [name, dialect === 'mssql' && SECOND_CASCADE_PATHS.includes(name) ? 'NO ACTION' : 'CASCADE'].join(' '),
      );
      expect(keys.map(({ name, onDelete }) => `${name.toUpperCase()} ${onDelete}`)).toEqual(expected);
    },
  );

  it(
    dialect === 'mssql'
      ? 'reaches no table along two cascade paths (SQL Server rejects that)'
      : 'reaches the customer and subscription tables along more than one cascade path',
    () => {
      const multiple = multipleCascadePaths(keys);
      if (dialect === 'mssql') expect(multiple).toEqual([]);
      else {
        expect(multiple).toEqual(
          expect.arrayContaining(['AM_APPLICATION -> AM_MONETIZATION_SUBSCRIPTIONS', 'AM_SUBSCRIBER -> AM_MONETIZATION_SHARED_CUSTOMERS']),
        );
      }
    },
  );

  it('numbers every auto-numbered key with the dialect’s own identity mechanism', () => {
    const identities = statements.flatMap(({ table, sql }) =>
      [...sql.matchAll(IDENTITY_SYNTAX[dialect])].map((m) => `${table}.${m[1] ?? ''}`),
    );
    expect(identities).toEqual(IDENTITY_TABLES.map((name) => name.replace(/\.(\w+)$/, (_, column: string) => `.${storedName(dialect, column)}`)));
  });

  if (dialect === 'postgres') {
    it('writes every identifier in lower case, as WSO2’s unquoted PostgreSQL scripts store them', () => {
      const quoted = statements.flatMap(({ sql }) => [...sql.matchAll(/"([^"]*)"/g)].map((m) => m[1] ?? ''));
      expect(quoted.length).toBeGreaterThan(0);
      expect(quoted.filter((name) => name !== name.toLowerCase())).toEqual([]);
    });
  } else {
    it('writes table names as Meterline spells them (upper case)', () => {
      expect(statements.every(({ table, sql }) => sql.includes(table))).toBe(true);
    });
  }

  if (dialect !== 'mysql') {
    it('never uses AUTO_INCREMENT, which only MySQL knows', () => {
      expect(statements.filter(({ sql }) => /auto_increment/i.test(sql))).toEqual([]);
    });
  } else {
    it('makes every integer foreign-key column unsigned, like the increments() key it references', () => {
      const integerKeys = keys.filter((key) => !key.references.endsWith('(UUID)'));
      const declaredUnsigned = (key: ForeignKey): boolean =>
        statements.some(({ table, sql }) => table === key.table && sql.includes(`\`${key.columns}\` int unsigned`));
      const signed = integerKeys.filter((key) => !declaredUnsigned(key));
      expect(signed.map((key) => `${key.table}.${key.columns}`)).toEqual([]);
    });
  }
});

/**
 * Migrations that alter a table create none, so the checks above never see them: their DDL is
 * compiled here, for every dialect, from the same schema builders `up` and `down` run.
 */
describe.each(Object.keys(CLIENTS) as Dialect[])('20261130000000_usage_event_per_tenant compiled for %s', (dialect) => {
  const compiler = knex(CLIENTS[dialect]);
  const up = upSchema(compiler).toSQL().map((query) => query.sql);
  const down = downSchema(compiler).toSQL().map((query) => query.sql);
  const names = constraintAndIndexNames([...up, ...down].map((sql) => ({ table: 'ML_USAGE_EVENT', sql })));
  const stored = (name: string): string => storedName(dialect, name);

  it('replaces the unique key on EVENT_ID by one on (TENANT_DOMAIN, EVENT_ID), and adds INGEST_BATCH', () => {
    expect(up).toEqual([
      expect.stringMatching(new RegExp(`(drop (constraint|index)) ${Q}${stored('ML_USAGE_EVENT_ID_UK')}${E}`, 'i')),
      expect.stringMatching(new RegExp(`add (column )?${Q}${stored('INGEST_BATCH')}${E} n?varchar2?\\(36\\)`, 'i')),
      expect.stringMatching(new RegExp(`${Q}${stored('ML_USAGE_EVENT_TENANT_ID_UK')}${E}.*\\(${Q}${stored('TENANT_DOMAIN')}${E}, ${Q}${stored('EVENT_ID')}${E}\\)`, 'i')),
    ]);
  });

  it('puts the old key back and drops the column on the way down', () => {
    // SQL Server first drops the column's default constraint, if any: knex's own preamble.
    expect(down.filter((sql) => !sql.includes('DECLARE @constraint'))).toEqual([
      expect.stringMatching(new RegExp(`(drop (constraint|index)) ${Q}${stored('ML_USAGE_EVENT_TENANT_ID_UK')}${E}`, 'i')),
      expect.stringMatching(new RegExp(`${Q}${stored('ML_USAGE_EVENT_ID_UK')}${E}.*\\(${Q}${stored('EVENT_ID')}${E}\\)`, 'i')),
      expect.stringMatching(new RegExp(`drop (column )?\\(?${Q}${stored('INGEST_BATCH')}${E}`, 'i')),
    ]);
  });

  it('names its keys in at most 30 characters', () => {
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => name.length > 30)).toEqual([]);
  });

  if (dialect === 'mssql') {
    it('drops a unique key as the constraint it is (SQL Server refuses DROP INDEX on it)', () => {
      expect([up[0], down[0]]).toEqual([
        'ALTER TABLE [ML_USAGE_EVENT] DROP CONSTRAINT [ML_USAGE_EVENT_ID_UK]',
        'ALTER TABLE [ML_USAGE_EVENT] DROP CONSTRAINT [ML_USAGE_EVENT_TENANT_ID_UK]',
      ]);
    });
  }
});

/** The invoice-balance columns: two nullable BIGINT columns on ML_INVOICE, dropped on the way down. */
describe.each(Object.keys(CLIENTS) as Dialect[])('20261130000200_invoice_balance compiled for %s', (dialect) => {
  const compiler = knex(CLIENTS[dialect]);
  const up = invoiceBalance.upSchema(compiler).toSQL().map((query) => query.sql);
  const down = invoiceBalance.downSchema(compiler).toSQL().map((query) => query.sql).filter((sql) => !sql.includes('DECLARE @constraint'));
  const stored = (name: string): string => storedName(dialect, name);
  const bigint = dialect === 'oracle' ? 'number\\(20, ?0\\)' : 'bigint';

  it('adds CARRIED_TO_BALANCE and COLLECTED_FROM_BALANCE as nullable whole numbers', () => {
    const sql = up.join('\n');
    for (const column of ['CARRIED_TO_BALANCE', 'COLLECTED_FROM_BALANCE']) {
      expect(sql).toMatch(new RegExp(`${Q}${stored(column)}${E} ${bigint}`, 'i'));
    }
    expect(sql).not.toMatch(/not null/i);
  });

  it('drops both columns on the way down', () => {
    const sql = down.join('\n');
    for (const column of ['CARRIED_TO_BALANCE', 'COLLECTED_FROM_BALANCE']) expect(sql).toMatch(new RegExp(`drop (column )?\\(?.*${Q}${stored(column)}${E}`, 'i'));
  });
});

/** The invoice PDF link: one nullable string column on ML_INVOICE, dropped on the way down. */
describe.each(Object.keys(CLIENTS) as Dialect[])('20261201000400_invoice_pdf_url compiled for %s', (dialect) => {
  const compiler = knex(CLIENTS[dialect]);
  const up = invoicePdfUrl.upSchema(compiler).toSQL().map((query) => query.sql).join('\n');
  const down = invoicePdfUrl.downSchema(compiler).toSQL().map((query) => query.sql).filter((sql) => !sql.includes('DECLARE @constraint')).join('\n');
  const column = storedName(dialect, 'INVOICE_PDF_URL');

  it('adds INVOICE_PDF_URL as a nullable string as long as HOSTED_INVOICE_URL', () => {
    expect(up).toMatch(new RegExp(`${Q}${column}${E} n?varchar2?\\(2048`, 'i'));
    expect(up).not.toMatch(/not null/i);
  });

  it('drops it on the way down', () => {
    expect(down).toMatch(new RegExp(`drop (column )?\\(?.*${Q}${column}${E}`, 'i'));
  });
});
