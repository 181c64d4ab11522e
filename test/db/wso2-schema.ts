import type { Knex } from 'knex';

/**
 * A stand-in for an existing WSO2 API Manager database: the gateway tables with WSO2's column
 * names, signed INTEGER keys (as WSO2's own scripts make them, unlike knex `increments()` on
 * MySQL), a column Meterline does not know about, and one API row.
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

export async function createWso2GatewayTables(knex: Knex, omit: { table: string; columns: string[] } = { table: '', columns: [] }): Promise<void> {
  const keep = (table: string, column: string): boolean => !(omit.table === table && omit.columns.includes(column));
  const columns = (t: Knex.CreateTableBuilder, table: string, spec: Array<[string, (t: Knex.CreateTableBuilder, c: string) => void]>): void => {
    for (const [column, add] of spec) if (keep(table, column)) add(t, column);
  };
  const int = (t: Knex.CreateTableBuilder, c: string): void => void t.integer(c);
  const str = (t: Knex.CreateTableBuilder, c: string): void => void t.string(c, 256);
  const intKey = (t: Knex.CreateTableBuilder, c: string): void => void t.integer(c).notNullable().primary();

  await knex.schema.createTable('AM_SUBSCRIBER', (t) =>
    columns(t, 'AM_SUBSCRIBER', [['SUBSCRIBER_ID', intKey], ['USER_ID', str], ['TENANT_ID', int], ['EMAIL_ADDRESS', str], ['DATE_SUBSCRIBED', str]]),
  );
  await knex.schema.createTable('AM_APPLICATION', (t) =>
    columns(t, 'AM_APPLICATION', [['APPLICATION_ID', intKey], ['NAME', str], ['SUBSCRIBER_ID', int], ['UUID', str], ['TOKEN_TYPE', str]]),
  );
  await knex.schema.createTable('AM_API', (t) => {
    columns(t, 'AM_API', [
      ['API_ID', intKey],
      ['API_UUID', str],
      ['API_PROVIDER', str],
      ['API_NAME', str],
      ['API_VERSION', str],
      ['CONTEXT', str],
      ['CONTEXT_TEMPLATE', str],
      ['API_TYPE', str],
      ['STATUS', str],
      ['ORGANIZATION', str],
    ]);
    t.unique(['API_UUID'], { indexName: 'WSO2_API_UUID_UK', useConstraint: true });
  });
  await knex.schema.createTable('AM_POLICY_SUBSCRIPTION', (t) => {
    columns(t, 'AM_POLICY_SUBSCRIPTION', [
      ['POLICY_ID', intKey],
      ...(['NAME', 'DISPLAY_NAME', 'DESCRIPTION', 'QUOTA_TYPE', 'QUOTA_UNIT', 'TIME_UNIT', 'BILLING_PLAN', 'UUID'] as const).map(
        (c): [string, typeof str] => [c, str],
      ),
      ['TENANT_ID', int],
      ['QUOTA', int],
      ['UNIT_TIME', int],
      ...(['MONETIZATION_PLAN', 'FIXED_RATE', 'BILLING_CYCLE', 'PRICE_PER_REQUEST', 'CURRENCY'] as const).map(
        (c): [string, typeof str] => [c, str],
      ),
    ]);
    t.unique(['UUID'], { indexName: 'WSO2_POLICY_UUID_UK', useConstraint: true });
  });
  await knex.schema.createTable('AM_SUBSCRIPTION', (t) =>
    columns(t, 'AM_SUBSCRIPTION', [
      ['SUBSCRIPTION_ID', intKey],
      ['TIER_ID', str],
      ['API_ID', int],
      ['APPLICATION_ID', int],
      ['SUB_STATUS', str],
      ['SUBS_CREATE_STATE', str],
      ['UUID', str],
    ]),
  );
  await knex.schema.createTable('AM_MONETIZATION_USAGE', (t) =>
    columns(t, 'AM_MONETIZATION_USAGE', [
      ['ID', (tb, c) => void tb.string(c, 100).notNullable().primary()],
      ['STATE', str],
      ['STATUS', str],
      ['STARTED_TIME', str],
      ['PUBLISHED_TIME', str],
    ]),
  );
  await knex('AM_API').insert({
    ...EXISTING_API,
    API_PROVIDER: 'admin',
    API_VERSION: '1.0.0',
    ...(keep('AM_API', 'ORGANIZATION') ? { ORGANIZATION: 'carbon.super' } : {}),
  });
}

export async function dropWso2GatewayTables(knex: Knex): Promise<void> {
  for (const table of [...WSO2_GATEWAY_TABLES].reverse()) await knex.schema.dropTableIfExists(table);
}
