import type { Knex } from 'knex';
import { dbErrorKind, type DbErrorKind } from '../../src/db/errors';
import type { TestDatabaseKind } from '../helpers/databases';

/**
 * One subscriber's whole monetized world, written through plain inserts: a subscriber with an
 * application subscribed to a monetized API on a commercial policy, and every monetization row
 * that hangs off them. `tag` keeps two worlds apart in one database.
 */
export interface World {
  readonly tag: string;
  readonly subscriberId: number;
  readonly applicationId: number;
  readonly apiId: number;
  readonly policyUuid: string;
  readonly platformCustomerId: number;
  readonly sharedCustomerId: number;
}

export const TENANT_ID = -1234;

export async function seedWorld(knex: Knex, tag: string): Promise<World> {
  await knex('AM_SUBSCRIBER').insert({
    USER_ID: `user-${tag}`,
    TENANT_ID,
    EMAIL_ADDRESS: `${tag}@example.com`,
    DATE_SUBSCRIBED: '2025-06-01 00:00:00',
  });
  const subscriberId = await idOf(knex, 'AM_SUBSCRIBER', 'SUBSCRIBER_ID', { USER_ID: `user-${tag}`, TENANT_ID });

  await knex('AM_APPLICATION').insert({ NAME: `app-${tag}`, SUBSCRIBER_ID: subscriberId, UUID: `app-uuid-${tag}` });
  const applicationId = await idOf(knex, 'AM_APPLICATION', 'APPLICATION_ID', { UUID: `app-uuid-${tag}` });

  await knex('AM_API').insert(apiRow(tag));
  const apiId = await idOf(knex, 'AM_API', 'API_ID', { API_UUID: `api-uuid-${tag}` });

  const policyUuid = `policy-uuid-${tag}`;
  await knex('AM_POLICY_SUBSCRIPTION').insert(policyRow(tag, policyUuid));

  await knex('AM_SUBSCRIPTION').insert({
    TIER_ID: `Gold-${tag}`,
    API_ID: apiId,
    APPLICATION_ID: applicationId,
    SUB_STATUS: 'UNBLOCKED',
    SUBS_CREATE_STATE: 'SUBSCRIBE',
    UUID: `sub-uuid-${tag}`,
  });
  await knex('AM_MONETIZATION').insert({
    API_ID: apiId,
    TIER_NAME: `Gold-${tag}`,
    STRIPE_PRODUCT_ID: `prod_${tag}`,
    STRIPE_PLAN_ID: `price_${tag}`,
  });
  await knex('AM_POLICY_PLAN_MAPPING').insert({ POLICY_UUID: policyUuid, PRODUCT_ID: `prod_p_${tag}`, PLAN_ID: `price_p_${tag}` });

  await knex('AM_MONETIZATION_PLATFORM_CUSTOMERS').insert({ SUBSCRIBER_ID: subscriberId, TENANT_ID, CUSTOMER_ID: `cus_${tag}` });
  const platformCustomerId = await idOf(knex, 'AM_MONETIZATION_PLATFORM_CUSTOMERS', 'ID', { CUSTOMER_ID: `cus_${tag}` });

  await knex('AM_MONETIZATION_SHARED_CUSTOMERS').insert({
    APPLICATION_ID: applicationId,
    API_PROVIDER: `provider-${tag}`,
    TENANT_ID,
    SHARED_CUSTOMER_ID: `cus_shared_${tag}`,
    PARENT_CUSTOMER_ID: platformCustomerId,
  });
  const sharedCustomerId = await idOf(knex, 'AM_MONETIZATION_SHARED_CUSTOMERS', 'ID', {
    SHARED_CUSTOMER_ID: `cus_shared_${tag}`,
  });

  await knex('AM_MONETIZATION_SUBSCRIPTIONS').insert({
    SUBSCRIBED_APPLICATION_ID: applicationId,
    SUBSCRIBED_API_ID: apiId,
    TENANT_ID,
    SUBSCRIPTION_ID: `sub_${tag}`,
    SHARED_CUSTOMER_ID: sharedCustomerId,
  });
  await knex('ML_API_POLICY').insert({ API_ID: apiId, POLICY_NAME: `Gold-${tag}` });
  await knex('ML_API_MONETIZATION').insert({
    API_ID: apiId,
    ENABLED: 1,
    PROPERTIES: JSON.stringify({ ConnectedAccountKey: `acct_${tag}` }),
  });

  return { tag, subscriberId, applicationId, apiId, policyUuid, platformCustomerId, sharedCustomerId };
}

export function apiRow(tag: string): Record<string, string> {
  return {
    API_UUID: `api-uuid-${tag}`,
    API_PROVIDER: `provider-${tag}`,
    API_NAME: `Weather-${tag}`,
    API_VERSION: '1.0.0',
    CONTEXT: `/weather-${tag}/1.0.0`,
    API_TYPE: 'HTTP',
    STATUS: 'PUBLISHED',
    ORGANIZATION: 'carbon.super',
  };
}

export function policyRow(tag: string, uuid: string): Record<string, string | number> {
  return {
    NAME: `Gold-${tag}`,
    DISPLAY_NAME: 'Gold',
    TENANT_ID,
    QUOTA_TYPE: 'requestCount',
    QUOTA: 5000,
    UNIT_TIME: 1,
    TIME_UNIT: 'min',
    BILLING_PLAN: 'COMMERCIAL',
    UUID: uuid,
    MONETIZATION_PLAN: 'FIXEDRATE',
    FIXED_RATE: '10.00',
    BILLING_CYCLE: 'month',
    CURRENCY: 'USD',
  };
}

/** Children first, so it works whatever the foreign keys do. */
const ALL_TABLES_CHILDREN_FIRST = [
  'ML_POLICY_PRICING',
  'ML_API_MONETIZATION',
  'ML_API_POLICY',
  'AM_MONETIZATION_SUBSCRIPTIONS',
  'AM_MONETIZATION_SHARED_CUSTOMERS',
  'AM_MONETIZATION_PLATFORM_CUSTOMERS',
  'AM_POLICY_PLAN_MAPPING',
  'AM_MONETIZATION',
  'AM_MONETIZATION_USAGE',
  'AM_SUBSCRIPTION',
  'AM_POLICY_SUBSCRIPTION',
  'AM_API',
  'AM_APPLICATION',
  'AM_SUBSCRIBER',
] as const;

export async function deleteAllRows(knex: Knex): Promise<void> {
  for (const table of ALL_TABLES_CHILDREN_FIRST) await knex(table).delete();
}

export async function countRows(knex: Knex, table: string, where: Record<string, string | number>): Promise<number> {
  // An upper-case alias: result keys are upper case on every database (see knexConfigFor).
  const rows = (await knex(table).where(where).count({ N: '*' })) as Array<{ N: number | string }>;
  return Number(rows[0]?.N ?? 0);
}

async function idOf(knex: Knex, table: string, column: string, where: Record<string, string | number>): Promise<number> {
  const row = (await knex(table).where(where).first(column)) as Record<string, number | string> | undefined;
  const id = row?.[column];
  if (id === undefined) throw new Error(`fixture: no ${table} row where ${JSON.stringify(where)}`);
  return Number(id);
}

const VIOLATIONS: Partial<Record<DbErrorKind, 'unique' | 'foreignKey' | 'check'>> = {
  UNIQUE_VIOLATION: 'unique',
  FOREIGN_KEY_VIOLATION: 'foreignKey',
  CHECK_VIOLATION: 'check',
};

/** Which constraint rejected the write, as src/db/errors.ts classifies the driver's error. */
export async function violationOf(_kind: TestDatabaseKind, write: Promise<unknown>): Promise<'unique' | 'foreignKey' | 'check' | 'none' | string> {
  try {
    await write;
    return 'none';
  } catch (error) {
    const kind = dbErrorKind(error);
    const violation = kind === undefined ? undefined : VIOLATIONS[kind];
    if (violation) return violation;
    const { code, errno } = error as { code?: unknown; errno?: unknown };
    return `other error ${String(errno ?? code)}: ${(error as Error).message}`;
  }
}
