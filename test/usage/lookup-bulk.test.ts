import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { insertReturningId } from '../../src/db/insert-returning-id';
import { utcTimestamp } from '../../src/domain/time';
import { migrateLatest } from '../helpers/migrations';
import { SubscriptionLookup, pairKey, type GatewaySubscriptions } from '../../src/usage/subscription-lookup';
import { apimCoreRecords } from '../../src/apim/core-records';
import { createLogger } from '../../src/logger';
import { stripeEngine } from '../../plugins/stripe';
import { forEachTestDatabase } from '../helpers/databases';
import { STORY_START } from '../helpers/test-clock';

/**
 * The subscription lookup reads the pairs a batch misses together: the number of queries does not
 * grow with the number of pairs, and each answer is the one reading the pair alone gives.
 */
const NOW = STORY_START * 1000;
const TENANTS: Record<string, number> = { 'carbon.super': -1234, 'acme.com': 7 };

type Pair = readonly [apiUuid: string, applicationUuid: string];

/**
 * `count` pairs on one API of `tenant`, of four kinds in turn: billed on a DYNAMICRATE tier,
 * billed on a tier without a policy, not billed by the engine (no engine row), and billed on the
 * DYNAMICRATE tier again (so two pairs already hold every kind a tenant's reads touch). Written in
 * a few bulk statements.
 */
async function seedPairs(db: Knex, tenant: string, count: number): Promise<Pair[]> {
  const tag = randomUUID().slice(0, 8);
  const tenantId = TENANTS[tenant]!;
  const subscriberId = await insertReturningId(db, 'AM_SUBSCRIBER', { USER_ID: `bulk-${tag}`, TENANT_ID: tenantId, DATE_SUBSCRIBED: '2025-01-01 00:00:00' }, 'SUBSCRIBER_ID');
  const apiUuid = `api-${tag}`;
  const apiId = await insertReturningId(db, 'AM_API', { API_UUID: apiUuid, API_PROVIDER: 'provider', API_NAME: `Bulk-${tag}`, API_VERSION: '1.0.0', ORGANIZATION: tenant }, 'API_ID');
  await db('ML_API_MONETIZATION').insert({ API_ID: apiId, ENABLED: 1, PROPERTIES: JSON.stringify({ ConnectedAccountKey: 'acct_bulk' }) });
  const dynamic = `PerCall-${tag}`;
  await db('AM_POLICY_SUBSCRIPTION').insert({
    NAME: dynamic, TENANT_ID: tenantId, QUOTA_TYPE: 'requestCount', QUOTA: 1000, UNIT_TIME: 1, TIME_UNIT: 'min', BILLING_PLAN: 'COMMERCIAL',
    UUID: `policy-${tag}`, MONETIZATION_PLAN: 'DYNAMICRATE', PRICE_PER_REQUEST: '0.01', BILLING_CYCLE: 'month', CURRENCY: 'usd',
  });
  const applications = Array.from({ length: count }, (_, i) => `app-${tag}-${i}`);
  await db('AM_APPLICATION').insert(applications.map((uuid) => ({ NAME: uuid, SUBSCRIBER_ID: subscriberId, UUID: uuid })));
  const rows = (await db('AM_APPLICATION').whereIn('UUID', applications).select('UUID', 'APPLICATION_ID')) as Array<Record<string, unknown>>;
  const idOf = new Map(rows.map((r) => [String(r.UUID), Number(r.APPLICATION_ID)]));
  await db('AM_SUBSCRIPTION').insert(
    applications.map((uuid, i) => ({
      TIER_ID: i % 4 === 1 ? `NoPolicy-${tag}` : dynamic, API_ID: apiId, APPLICATION_ID: idOf.get(uuid), SUB_STATUS: 'UNBLOCKED', SUBS_CREATE_STATE: 'SUBSCRIBE',
      UUID: `sub-${tag}-${i}`, CREATED_TIME: i % 2 === 0 ? utcTimestamp(new Date(NOW - i * 60_000)) : null,
    })),
  );
  const billed = applications.filter((_, i) => i % 4 !== 2);
  await db('AM_MONETIZATION_SHARED_CUSTOMERS').insert(billed.map((uuid) => ({ APPLICATION_ID: idOf.get(uuid), API_PROVIDER: 'provider', TENANT_ID: tenantId, SHARED_CUSTOMER_ID: `cus_${uuid}` })));
  const shared = (await db('AM_MONETIZATION_SHARED_CUSTOMERS').whereIn('SHARED_CUSTOMER_ID', billed.map((uuid) => `cus_${uuid}`)).select('ID', 'APPLICATION_ID')) as Array<Record<string, unknown>>;
  await db('AM_MONETIZATION_SUBSCRIPTIONS').insert(
    shared.map((r) => ({ SUBSCRIBED_APPLICATION_ID: Number(r.APPLICATION_ID), SUBSCRIBED_API_ID: apiId, TENANT_ID: tenantId, SUBSCRIPTION_ID: `sub_${tag}_${Number(r.APPLICATION_ID)}`, SHARED_CUSTOMER_ID: Number(r.ID) })),
  );
  // The first pair also has a later subscription on another tier: the oldest one answers.
  await db('AM_SUBSCRIPTION').insert({ TIER_ID: `NoPolicy-${tag}`, API_ID: apiId, APPLICATION_ID: idOf.get(applications[0]!), SUB_STATUS: 'UNBLOCKED', SUBS_CREATE_STATE: 'SUBSCRIBE', UUID: `sub-${tag}-later` });
  return applications.map((application) => [apiUuid, application] as const);
}

const engineOn = (db: Knex) =>
  stripeEngine.create(
    { api_host: '127.0.0.1', api_port: 9, api_protocol: 'http' },
    { core: apimCoreRecords(db), store: db, logger: createLogger('silent'), clock: () => new Date(NOW), tenants: { find: () => undefined } },
  );

forEachTestDatabase((_kind, database) => {
  let small: Pair[];
  let large: Pair[];

  beforeAll(async () => {
    const db = database().knex;
    await migrateLatest(db);
    // Pairs on two tenants, and one the gateway does not know, at both sizes.
    const sized = async (n: number): Promise<Pair[]> => [
      ...(await seedPairs(db, 'carbon.super', Math.ceil(n / 2))),
      ...(await seedPairs(db, 'acme.com', Math.floor(n / 2))),
      [`api-unknown-${randomUUID()}`, `app-unknown-${randomUUID()}`],
    ];
    small = await sized(5);
    large = await sized(50);
  });

  /** The queries `billingOfPairs` sends for the pairs (no cache), and its answers. */
  const read = async (gateway: GatewaySubscriptions, engine: ReturnType<typeof engineOn>, pairs: readonly Pair[]) => {
    const db = database().knex;
    let queries = 0;
    const count = () => (queries += 1);
    db.on('query', count);
    try {
      const answers = await new SubscriptionLookup(gateway, engine, (domain) => TENANTS[domain], 0, () => NOW).billingOfPairs(pairs);
      return { queries, answers };
    } finally {
      db.removeListener('query', count);
    }
  };

  it('reads 5 and 50 distinct pairs in the same number of queries, and pair by pair in many more', async () => {
    const db = database().knex;
    const fewer = await read(apimCoreRecords(db), engineOn(db), small);
    const more = await read(apimCoreRecords(db), engineOn(db), large);
    expect(more.answers.size).toBe(large.length);
    expect(more.queries).toBe(fewer.queries);
    // Without the bulk reads (an older core) the same pairs cost queries per pair.
    const core = apimCoreRecords(db);
    const alone = await read({ subscriptionOfPair: core.subscriptionOfPair.bind(core), policyByName: core.policyByName.bind(core), subscriptionRefs: core.subscriptionRefs.bind(core) }, engineOn(db), large);
    expect(alone.queries).toBeGreaterThan(large.length * 3);
  });

  it('answers each pair exactly as reading it alone does', async () => {
    const db = database().knex;
    const core = apimCoreRecords(db);
    const engine = engineOn(db);
    const { answers } = await read(core, engine, large);
    const oneByOne = { subscriptionOfPair: core.subscriptionOfPair.bind(core), policyByName: core.policyByName.bind(core), subscriptionRefs: core.subscriptionRefs.bind(core) };
    const singleEngine = Object.assign(engineOn(db), { billedSubscriptionsOf: undefined });
    const alone = await read(oneByOne, singleEngine, large);
    expect(answers).toEqual(alone.answers);
    // Every kind of answer is among them.
    const reasons = new Set([...answers.values()].map((a) => a.notBillable));
    expect(reasons).toEqual(new Set([null, 'NOT_MONETIZED', 'NOT_DYNAMIC_PLAN', 'UNKNOWN_SUBSCRIPTION']));
    expect(answers.get(pairKey(...large[0]!))).toMatchObject({ subscriptionUuid: expect.stringMatching(/-0$/), notBillable: null, startedAt: NOW });
  });
});
