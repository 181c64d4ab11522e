import { migrateLatest } from '../helpers/migrations';
import { forEachTestDatabase } from '../helpers/databases';

/** Every column of every table `up` creates on an empty database. */
const COLUMNS: Record<string, string[]> = {
  ML_SCHEMA_OWNERSHIP: ['TABLE_NAME', 'MIGRATION'],
  AM_SUBSCRIBER: ['SUBSCRIBER_ID', 'USER_ID', 'TENANT_ID', 'EMAIL_ADDRESS', 'DATE_SUBSCRIBED', 'CREATED_BY', 'CREATED_TIME', 'UPDATED_BY', 'UPDATED_TIME'],
  AM_APPLICATION: [
    'APPLICATION_ID',
    'NAME',
    'SUBSCRIBER_ID',
    'APPLICATION_TIER',
    'DESCRIPTION',
    'APPLICATION_STATUS',
    'UUID',
    'ORGANIZATION',
    'CREATED_BY',
    'CREATED_TIME',
    'UPDATED_BY',
    'UPDATED_TIME',
  ],
  AM_API: [
    'API_ID',
    'API_UUID',
    'API_PROVIDER',
    'API_NAME',
    'API_VERSION',
    'CONTEXT',
    'API_TYPE',
    'STATUS',
    'ORGANIZATION',
    'CREATED_BY',
    'CREATED_TIME',
    'UPDATED_BY',
    'UPDATED_TIME',
  ],
  AM_POLICY_SUBSCRIPTION: [
    'POLICY_ID',
    'NAME',
    'DISPLAY_NAME',
    'TENANT_ID',
    'DESCRIPTION',
    'QUOTA_TYPE',
    'QUOTA',
    'QUOTA_UNIT',
    'UNIT_TIME',
    'TIME_UNIT',
    'BILLING_PLAN',
    'UUID',
    'MONETIZATION_PLAN',
    'FIXED_RATE',
    'BILLING_CYCLE',
    'PRICE_PER_REQUEST',
    'CURRENCY',
  ],
  AM_SUBSCRIPTION: [
    'SUBSCRIPTION_ID',
    'TIER_ID',
    'API_ID',
    'APPLICATION_ID',
    'SUB_STATUS',
    'SUBS_CREATE_STATE',
    'UUID',
    'CREATED_BY',
    'CREATED_TIME',
    'UPDATED_BY',
    'UPDATED_TIME',
  ],
  AM_MONETIZATION_USAGE: ['ID', 'STATE', 'STATUS', 'STARTED_TIME', 'PUBLISHED_TIME'],
  AM_MONETIZATION: ['API_ID', 'TIER_NAME', 'STRIPE_PRODUCT_ID', 'STRIPE_PLAN_ID'],
  AM_POLICY_PLAN_MAPPING: ['POLICY_UUID', 'PRODUCT_ID', 'PLAN_ID'],
  AM_MONETIZATION_PLATFORM_CUSTOMERS: ['ID', 'SUBSCRIBER_ID', 'TENANT_ID', 'CUSTOMER_ID'],
  AM_MONETIZATION_SHARED_CUSTOMERS: ['ID', 'APPLICATION_ID', 'API_PROVIDER', 'TENANT_ID', 'SHARED_CUSTOMER_ID', 'PARENT_CUSTOMER_ID'],
  AM_MONETIZATION_SUBSCRIPTIONS: ['ID', 'SUBSCRIBED_APPLICATION_ID', 'SUBSCRIBED_API_ID', 'TENANT_ID', 'SUBSCRIPTION_ID', 'SHARED_CUSTOMER_ID'],
  ML_API_POLICY: ['API_ID', 'POLICY_NAME'],
  ML_API_MONETIZATION: ['API_ID', 'ENABLED', 'PROPERTIES'],
};

/** Where WSO2 prices and publisher times are strings, they stay strings (exact, never floats). */
const STRING_COLUMNS: Array<[string, string, number]> = [
  ['AM_POLICY_SUBSCRIPTION', 'FIXED_RATE', 15],
  ['AM_POLICY_SUBSCRIPTION', 'PRICE_PER_REQUEST', 15],
  ['AM_POLICY_SUBSCRIPTION', 'BILLING_PLAN', 20],
  ['AM_POLICY_SUBSCRIPTION', 'NAME', 512],
  ['AM_POLICY_SUBSCRIPTION', 'UUID', 256],
  ['AM_MONETIZATION', 'TIER_NAME', 512],
  ['AM_MONETIZATION_USAGE', 'STARTED_TIME', 50],
  ['AM_MONETIZATION_USAGE', 'PUBLISHED_TIME', 50],
];

forEachTestDatabase((_kind, db) => {
  beforeAll(async () => {
    await migrateLatest(db().knex);
  });

  it.each(Object.entries(COLUMNS))('%s has exactly its documented columns', async (table, columns) => {
    const info = await db().knex(table).columnInfo();
    expect(Object.keys(info).sort()).toEqual([...columns].sort());
  });

  it.each(STRING_COLUMNS)('%s.%s is a string of up to %i characters', async (table, column, length) => {
    const info = await db().knex(table).columnInfo();
    const found = info[column];
    expect({ type: found?.type.replace(/\W.*$/, ''), maxLength: Number(found?.maxLength) }).toEqual({
      type: expect.stringMatching(/char/i),
      maxLength: length,
    });
  });
});
