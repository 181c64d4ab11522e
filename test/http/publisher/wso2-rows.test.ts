import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';
import { ApisRepository, wso2Contexts } from '../../../src/apim/apis.repository';
import { PoliciesRepository } from '../../../src/apim/policies.repository';
import { forEachTestDatabase, type TestDatabaseKind } from '../../helpers/databases';
import { WSO2_DB_SCRIPTS } from '../../db/wso2-schema';

/**
 * Rows Meterline writes into WSO2's own tables look as WSO2 writes them (issue 15, item 6): on
 * AM_API and AM_POLICY_SUBSCRIPTION as WSO2's apimgt scripts create them (PostgreSQL and MySQL;
 * WSO2 ships no SQLite script, so there the same columns are made with knex), the columns
 * Meterline's own schema lacks are filled: CONTEXT with the version, CONTEXT_TEMPLATE,
 * VERSION_COMPARABLE, API_DISPLAY_NAME and IS_DEPLOYED. The REST API reads the context back as
 * WSO2's publisher answers it.
 */
const SCRIPTS = WSO2_DB_SCRIPTS;
const TENANT = { domain: 'carbon.super', id: -1234 };
const ACME = { domain: 'acme.com', id: 7 };

/** The CREATE statements of `table` (and its PostgreSQL sequence) in WSO2's script, verbatim. */
function wso2Ddl(kind: Exclude<TestDatabaseKind, 'sqlite'>, table: string, sequence: string): string[] {
  const script = readFileSync(path.join(SCRIPTS, kind === 'postgres' ? 'apimgt-postgresql.sql' : 'apimgt-mysql.sql'), 'utf8');
  const create = new RegExp(`CREATE TABLE IF NOT EXISTS ${table} \\([\\s\\S]*?\\n\\)[^;]*;`).exec(script)?.[0];
  if (!create) throw new Error(`WSO2's ${kind} script has no ${table}`);
  const sequenceStatement = new RegExp(`CREATE SEQUENCE ${sequence} [^;]*;`).exec(script)?.[0];
  return kind === 'postgres' ? [sequenceStatement!, create] : [create];
}

async function createWso2Tables(knex: Knex, kind: TestDatabaseKind): Promise<void> {
  if (kind === 'sqlite') {
    await knex.schema.createTable('AM_API', (t) => {
      t.increments('API_ID');
      for (const column of ['API_UUID', 'API_PROVIDER', 'API_NAME', 'API_VERSION', 'CONTEXT', 'CONTEXT_TEMPLATE', 'API_TYPE', 'ORGANIZATION', 'CREATED_BY', 'UPDATED_BY', 'STATUS', 'VERSION_COMPARABLE', 'API_DISPLAY_NAME']) t.string(column);
      t.timestamp('CREATED_TIME');
      t.timestamp('UPDATED_TIME');
    });
    await knex.schema.createTable('AM_POLICY_SUBSCRIPTION', (t) => {
      t.increments('POLICY_ID');
      for (const column of ['NAME', 'DISPLAY_NAME', 'DESCRIPTION', 'QUOTA_TYPE', 'QUOTA_UNIT', 'TIME_UNIT', 'BILLING_PLAN', 'UUID', 'MONETIZATION_PLAN', 'FIXED_RATE', 'BILLING_CYCLE', 'PRICE_PER_REQUEST', 'CURRENCY']) t.string(column);
      for (const column of ['TENANT_ID', 'QUOTA', 'UNIT_TIME']) t.integer(column);
      t.boolean('IS_DEPLOYED').notNullable().defaultTo(false);
    });
  } else {
    for (const statement of [...wso2Ddl(kind, 'AM_API', 'AM_API_SEQUENCE'), ...wso2Ddl(kind, 'AM_POLICY_SUBSCRIPTION', 'AM_POLICY_SUBSCRIPTION_SEQ')]) await knex.raw(statement);
  }
  await knex.schema.createTable('ML_API_POLICY', (t) => {
    t.integer('API_ID').notNullable();
    t.string('POLICY_NAME', 512).notNullable();
  });
}

describe('wso2Contexts', () => {
  it('appends the version, or puts it where {version} stands, and prefixes /t/{tenant} outside the super tenant', () => {
    expect(wso2Contexts(TENANT, '/pizzashack', '1.0.0')).toEqual({ context: '/pizzashack/1.0.0', template: '/pizzashack' });
    expect(wso2Contexts(TENANT, '/{version}/pizzashack', '2.0')).toEqual({ context: '/2.0/pizzashack', template: '/{version}/pizzashack' });
    expect(wso2Contexts(TENANT, '/pizzashack/{version}', '2.0')).toEqual({ context: '/pizzashack/2.0', template: '/pizzashack' });
    expect(wso2Contexts(ACME, '/pizzashack', '1.0.0')).toEqual({ context: '/t/acme.com/pizzashack/1.0.0', template: '/t/acme.com/pizzashack' });
  });
});

forEachTestDatabase((kind, database) => {
  let apis: ApisRepository;
  let policies: PoliciesRepository;
  beforeAll(async () => {
    await createWso2Tables(database().knex, kind);
    apis = new ApisRepository(database().knex);
    policies = new PoliciesRepository(database().knex);
  });

  it("writes AM_API as WSO2's publisher does, and answers the context without version or tenant prefix", async () => {
    const input = { name: 'PizzaShackAPI', displayName: null, version: '1.0.0', context: '/pizzashack', provider: 'pat', type: 'HTTP', policies: ['Gold'] };
    await apis.insert(TENANT, 'uuid-super', input, 'pat', '2026-11-30 10:00:00');
    await apis.insert(ACME, 'uuid-acme', { ...input, displayName: 'Pizza Shack' }, 'pat', '2026-11-30 10:00:00');
    const rows = await database().knex('AM_API').orderBy('API_UUID').select('API_UUID', 'CONTEXT', 'CONTEXT_TEMPLATE', 'VERSION_COMPARABLE', 'API_DISPLAY_NAME');
    expect(rows).toEqual([
      { API_UUID: 'uuid-acme', CONTEXT: '/t/acme.com/pizzashack/1.0.0', CONTEXT_TEMPLATE: '/t/acme.com/pizzashack', VERSION_COMPARABLE: String(Date.UTC(2026, 10, 30, 10)), API_DISPLAY_NAME: 'Pizza Shack' },
      { API_UUID: 'uuid-super', CONTEXT: '/pizzashack/1.0.0', CONTEXT_TEMPLATE: '/pizzashack', VERSION_COMPARABLE: String(Date.UTC(2026, 10, 30, 10)), API_DISPLAY_NAME: 'PizzaShackAPI' },
    ]);
    expect(await apis.findByUuid(TENANT, 'uuid-super')).toMatchObject({ context: '/pizzashack', displayName: 'PizzaShackAPI', policies: ['Gold'] });
    expect(await apis.findByUuid(ACME, 'uuid-acme')).toMatchObject({ context: '/pizzashack', displayName: 'Pizza Shack' });
    // The same context again is a clash, whether given bare or as WSO2 stores it.
    expect(await apis.findClash(TENANT, { name: 'Other', version: '2.0.0', context: '/pizzashack' })).toBe('context');
  });

  it('writes IS_DEPLOYED true, as the admin API answers isDeployed', async () => {
    await policies.insert(TENANT, 'policy-uuid', {
      name: 'Gold',
      displayName: null,
      description: null,
      limit: { type: 'REQUESTCOUNTLIMIT', timeUnit: 'min', unitTime: 1, requestCount: 10 },
      billingPlan: 'FREE',
      pricing: null,
    });
    const row = await database().knex('AM_POLICY_SUBSCRIPTION').where({ UUID: 'policy-uuid' }).first('IS_DEPLOYED');
    expect([true, 1]).toContain(row.IS_DEPLOYED);
  });
});
