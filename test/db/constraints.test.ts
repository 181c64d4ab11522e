import type { Knex } from 'knex';
import { migrateLatest, rollbackAll } from '../helpers/migrations';
import { forEachTestDatabase } from '../helpers/databases';
import { apiRow, countRows, deleteAllRows, policyRow, seedWorld, TENANT_ID, violationOf, type World } from './fixtures';

/** A second row that repeats `world`'s values for exactly one key. */
type Duplicate = (knex: Knex, world: World) => Promise<unknown>;

const DUPLICATES: Array<[string, Duplicate]> = [
  [
    'AM_SUBSCRIBER: one subscriber per tenant and user',
    (knex, w) => knex('AM_SUBSCRIBER').insert({ USER_ID: `user-${w.tag}`, TENANT_ID, DATE_SUBSCRIBED: '2025-06-02 00:00:00' }),
  ],
  [
    'AM_APPLICATION: one application per UUID',
    (knex, w) => knex('AM_APPLICATION').insert({ NAME: 'other', SUBSCRIBER_ID: w.subscriberId, UUID: `app-uuid-${w.tag}` }),
  ],
  ['AM_API: one API per UUID', (knex, w) => knex('AM_API').insert({ ...apiRow('other'), API_UUID: `api-uuid-${w.tag}` })],
  [
    'AM_API: one API per provider, name, version and organization',
    (knex, w) => knex('AM_API').insert({ ...apiRow(w.tag), API_UUID: 'api-uuid-other' }),
  ],
  [
    'AM_POLICY_SUBSCRIPTION: one policy per UUID',
    (knex, w) => knex('AM_POLICY_SUBSCRIPTION').insert(policyRow('other', w.policyUuid)),
  ],
  [
    'AM_POLICY_SUBSCRIPTION: one policy per name and tenant',
    (knex, w) => knex('AM_POLICY_SUBSCRIPTION').insert(policyRow(w.tag, 'policy-uuid-other')),
  ],
  [
    'AM_SUBSCRIPTION: one subscription per UUID',
    (knex, w) =>
      knex('AM_SUBSCRIPTION').insert({ TIER_ID: 'Gold', API_ID: w.apiId, APPLICATION_ID: w.applicationId, UUID: `sub-uuid-${w.tag}` }),
  ],
  [
    'AM_MONETIZATION_USAGE: one publisher state row per ID',
    async (knex) => {
      const row = { ID: 'USAGE_PUBLISHER', STATE: 'INITIATED', STATUS: 'INPROGRESS', STARTED_TIME: '0', PUBLISHED_TIME: '0' };
      await knex('AM_MONETIZATION_USAGE').insert(row);
      await knex('AM_MONETIZATION_USAGE').insert(row);
    },
  ],
  [
    'AM_MONETIZATION: one plan per API and tier',
    (knex, w) => knex('AM_MONETIZATION').insert({ API_ID: w.apiId, TIER_NAME: `Gold-${w.tag}`, STRIPE_PLAN_ID: 'price_other' }),
  ],
  [
    'AM_POLICY_PLAN_MAPPING: one mapping per policy',
    (knex, w) => knex('AM_POLICY_PLAN_MAPPING').insert({ POLICY_UUID: w.policyUuid, PRODUCT_ID: 'prod_other', PLAN_ID: 'price_other' }),
  ],
  [
    'AM_MONETIZATION_PLATFORM_CUSTOMERS: one customer per subscriber and tenant',
    (knex, w) =>
      knex('AM_MONETIZATION_PLATFORM_CUSTOMERS').insert({ SUBSCRIBER_ID: w.subscriberId, TENANT_ID, CUSTOMER_ID: 'cus_other' }),
  ],
  [
    'AM_MONETIZATION_SHARED_CUSTOMERS: one shared customer per application, provider and tenant',
    (knex, w) =>
      knex('AM_MONETIZATION_SHARED_CUSTOMERS').insert({
        APPLICATION_ID: w.applicationId,
        API_PROVIDER: `provider-${w.tag}`,
        TENANT_ID,
        SHARED_CUSTOMER_ID: 'cus_shared_other',
        PARENT_CUSTOMER_ID: w.platformCustomerId,
      }),
  ],
  [
    'AM_MONETIZATION_SUBSCRIPTIONS: one billing subscription per API and application',
    (knex, w) =>
      knex('AM_MONETIZATION_SUBSCRIPTIONS').insert({
        SUBSCRIBED_APPLICATION_ID: w.applicationId,
        SUBSCRIBED_API_ID: w.apiId,
        TENANT_ID,
        SUBSCRIPTION_ID: 'sub_other',
        SHARED_CUSTOMER_ID: w.sharedCustomerId,
      }),
  ],
  [
    'ML_API_POLICY: each tier once per API',
    (knex, w) => knex('ML_API_POLICY').insert({ API_ID: w.apiId, POLICY_NAME: `Gold-${w.tag}` }),
  ],
  [
    'ML_API_MONETIZATION: one monetization state per API',
    (knex, w) => knex('ML_API_MONETIZATION').insert({ API_ID: w.apiId, ENABLED: 0 }),
  ],
];

/** [what is deleted, the parent row, the child table, which of its rows belong to the parent] */
type Cascade = [string, (w: World) => [string, Record<string, string | number>], string, (w: World) => Record<string, string | number>];

const CASCADES: Cascade[] = [
  ['a subscriber', (w) => ['AM_SUBSCRIBER', { SUBSCRIBER_ID: w.subscriberId }], 'AM_APPLICATION', (w) => ({ SUBSCRIBER_ID: w.subscriberId })],
  [
    'a subscriber',
    (w) => ['AM_SUBSCRIBER', { SUBSCRIBER_ID: w.subscriberId }],
    'AM_MONETIZATION_PLATFORM_CUSTOMERS',
    (w) => ({ SUBSCRIBER_ID: w.subscriberId }),
  ],
  [
    'a subscriber',
    (w) => ['AM_SUBSCRIBER', { SUBSCRIBER_ID: w.subscriberId }],
    'AM_MONETIZATION_SUBSCRIPTIONS',
    (w) => ({ SUBSCRIBED_APPLICATION_ID: w.applicationId }),
  ],
  ['an application', (w) => ['AM_APPLICATION', { APPLICATION_ID: w.applicationId }], 'AM_SUBSCRIPTION', (w) => ({ APPLICATION_ID: w.applicationId })],
  [
    'an application',
    (w) => ['AM_APPLICATION', { APPLICATION_ID: w.applicationId }],
    'AM_MONETIZATION_SHARED_CUSTOMERS',
    (w) => ({ APPLICATION_ID: w.applicationId }),
  ],
  [
    'an application',
    (w) => ['AM_APPLICATION', { APPLICATION_ID: w.applicationId }],
    'AM_MONETIZATION_SUBSCRIPTIONS',
    (w) => ({ SUBSCRIBED_APPLICATION_ID: w.applicationId }),
  ],
  ['an API', (w) => ['AM_API', { API_ID: w.apiId }], 'AM_SUBSCRIPTION', (w) => ({ API_ID: w.apiId })],
  ['an API', (w) => ['AM_API', { API_ID: w.apiId }], 'AM_MONETIZATION', (w) => ({ API_ID: w.apiId })],
  ['an API', (w) => ['AM_API', { API_ID: w.apiId }], 'AM_MONETIZATION_SUBSCRIPTIONS', (w) => ({ SUBSCRIBED_API_ID: w.apiId })],
  ['an API', (w) => ['AM_API', { API_ID: w.apiId }], 'ML_API_POLICY', (w) => ({ API_ID: w.apiId })],
  ['an API', (w) => ['AM_API', { API_ID: w.apiId }], 'ML_API_MONETIZATION', (w) => ({ API_ID: w.apiId })],
  [
    'a subscription policy',
    (w) => ['AM_POLICY_SUBSCRIPTION', { UUID: w.policyUuid }],
    'AM_POLICY_PLAN_MAPPING',
    (w) => ({ POLICY_UUID: w.policyUuid }),
  ],
  [
    'a platform customer',
    (w) => ['AM_MONETIZATION_PLATFORM_CUSTOMERS', { ID: w.platformCustomerId }],
    'AM_MONETIZATION_SHARED_CUSTOMERS',
    (w) => ({ PARENT_CUSTOMER_ID: w.platformCustomerId }),
  ],
  [
    'a shared customer',
    (w) => ['AM_MONETIZATION_SHARED_CUSTOMERS', { ID: w.sharedCustomerId }],
    'AM_MONETIZATION_SUBSCRIPTIONS',
    (w) => ({ SHARED_CUSTOMER_ID: w.sharedCustomerId }),
  ],
];

forEachTestDatabase((kind, db) => {
  let world: World;
  let otherWorld: World;

  beforeAll(async () => {
    await migrateLatest(db().knex);
  });
  afterAll(async () => {
    await rollbackAll(db().knex);
  });
  beforeEach(async () => {
    world = await seedWorld(db().knex, 'a');
    otherWorld = await seedWorld(db().knex, 'b');
  });
  afterEach(async () => {
    await deleteAllRows(db().knex);
  });

  describe('unique keys', () => {
    it.each(DUPLICATES)('%s', async (_key, insertDuplicate) => {
      expect(await violationOf(kind, insertDuplicate(db().knex, world))).toBe('unique');
    });

    it('AM_MONETIZATION accepts the same tier for another API', async () => {
      await db().knex('AM_MONETIZATION').insert({ API_ID: otherWorld.apiId, TIER_NAME: `Gold-${world.tag}` });
      expect(await countRows(db().knex, 'AM_MONETIZATION', { TIER_NAME: `Gold-${world.tag}` })).toBe(2);
    });
  });

  describe('identity keys', () => {
    it('numbers new rows without being given an id', () => {
      expect(otherWorld.subscriberId).toBeGreaterThan(world.subscriberId);
    });
  });

  describe('foreign keys', () => {
    it('refuse a plan for an API that does not exist', async () => {
      const write = db().knex('AM_MONETIZATION').insert({ API_ID: otherWorld.apiId + 1000, TIER_NAME: 'Gold' });
      expect(await violationOf(kind, write)).toBe('foreignKey');
    });

    it('refuse a plan mapping for a policy that does not exist', async () => {
      const write = db().knex('AM_POLICY_PLAN_MAPPING').insert({ POLICY_UUID: 'no-such-policy' });
      expect(await violationOf(kind, write)).toBe('foreignKey');
    });

    it('refuse a billing subscription for a shared customer that does not exist', async () => {
      const write = db().knex('AM_MONETIZATION_SUBSCRIPTIONS').insert({
        SUBSCRIBED_APPLICATION_ID: otherWorld.applicationId,
        SUBSCRIBED_API_ID: world.apiId,
        TENANT_ID,
        SUBSCRIPTION_ID: 'sub_orphan',
        SHARED_CUSTOMER_ID: otherWorld.sharedCustomerId + 1000,
      });
      expect(await violationOf(kind, write)).toBe('foreignKey');
    });
  });

  describe('ML_API_MONETIZATION.ENABLED', () => {
    it('accepts only 0 and 1', async () => {
      await db().knex('ML_API_MONETIZATION').where({ API_ID: world.apiId }).delete();
      const write = db().knex('ML_API_MONETIZATION').insert({ API_ID: world.apiId, ENABLED: 2 });
      expect(await violationOf(kind, write)).toBe('check');
    });
  });

  describe('cascading deletes', () => {
    it.each(CASCADES)('deleting %s removes its %s rows', async (_parent, parentOf, childTable, childrenOf) => {
      const [parentTable, parentKey] = parentOf(world);
      const before = await countRows(db().knex, childTable, childrenOf(world));
      await db().knex(parentTable).where(parentKey).delete();
      const after = await countRows(db().knex, childTable, childrenOf(world));
      expect({ before, after }).toEqual({ before: 1, after: 0 });
    });

    it.each(CASCADES)("deleting %s leaves another subscriber's %s rows", async (_parent, parentOf, childTable, childrenOf) => {
      const [parentTable, parentKey] = parentOf(world);
      await db().knex(parentTable).where(parentKey).delete();
      expect(await countRows(db().knex, childTable, childrenOf(otherWorld))).toBe(1);
    });
  });
});
