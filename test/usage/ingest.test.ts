import type { UsageTimeLimits } from '../../src/monetization/capabilities';
import { stripeCapabilities } from '../../plugins/stripe/capabilities';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { connectDatabase } from '../../src/db/connect';
import { insertReturningId } from '../../src/db/insert-returning-id';
import { migrateLatest } from '../helpers/migrations';
import { utcTimestamp } from '../../src/domain/time';
import { UsageIngestion, usageEventSchema, type BatchResult } from '../../src/usage/ingest';
import { fieldProblems } from '../../src/validation/issues';
import { SubscriptionLookup } from '../../src/usage/subscription-lookup';
import { apimCoreRecords } from '../../src/apim/core-records';
import { createLogger } from '../../src/logger';
import { stripeEngine } from '../../plugins/stripe';
import { forEachTestDatabase } from '../helpers/databases';
import { STORY_START } from '../helpers/test-clock';
import { createSeededRandom } from './random';

/**
 * Ingestion against the database, without the HTTP layer or a billing engine: gateway rows are
 * written directly (a COMMERCIAL DYNAMICRATE subscription billed by the engine), and the clock
 * is a fixed instant.
 */
const NOW = STORY_START * 1000;
const DAY = 86_400_000;
const TENANTS: Record<string, number> = { 'carbon.super': -1234, 'acme.com': 7 };

interface Subscription {
  apiUuid: string;
  applicationUuid: string;
  uuid: string;
  tenant: string;
}

/** The gateway and monetization rows that make calls of a fresh application to a fresh API billable. */
async function billableSubscription(db: Knex, tenant: string, createdAt: number | null = null): Promise<Subscription> {
  const tag = randomUUID().slice(0, 8);
  const tenantId = TENANTS[tenant]!;
  const subscriberId = await insertReturningId(db, 'AM_SUBSCRIBER', { USER_ID: `user-${tag}`, TENANT_ID: tenantId, DATE_SUBSCRIBED: '2025-01-01 00:00:00' }, 'SUBSCRIBER_ID');
  const applicationUuid = `app-${tag}`;
  const applicationId = await insertReturningId(db, 'AM_APPLICATION', { NAME: `app-${tag}`, SUBSCRIBER_ID: subscriberId, UUID: applicationUuid }, 'APPLICATION_ID');
  const apiUuid = `api-${tag}`;
  const apiId = await insertReturningId(
    db,
    'AM_API',
    { API_UUID: apiUuid, API_PROVIDER: 'provider', API_NAME: `Weather-${tag}`, API_VERSION: '1.0.0', ORGANIZATION: tenant },
    'API_ID',
  );
  // Where the engine bills it (it answers `billedSubscriptionOf` from its rows and this account).
  await db('ML_API_MONETIZATION').insert({ API_ID: apiId, ENABLED: 1, PROPERTIES: JSON.stringify({ ConnectedAccountKey: 'acct_ingest' }) });
  await db('AM_POLICY_SUBSCRIPTION').insert({
    NAME: `PerCall-${tag}`,
    TENANT_ID: tenantId,
    QUOTA_TYPE: 'requestCount',
    QUOTA: 1000,
    UNIT_TIME: 1,
    TIME_UNIT: 'min',
    BILLING_PLAN: 'COMMERCIAL',
    UUID: `policy-${tag}`,
    MONETIZATION_PLAN: 'DYNAMICRATE',
    PRICE_PER_REQUEST: '0.01',
    BILLING_CYCLE: 'month',
    CURRENCY: 'usd',
  });
  const uuid = `sub-${tag}`;
  await db('AM_SUBSCRIPTION').insert({
    TIER_ID: `PerCall-${tag}`,
    API_ID: apiId,
    APPLICATION_ID: applicationId,
    SUB_STATUS: 'UNBLOCKED',
    SUBS_CREATE_STATE: 'SUBSCRIBE',
    UUID: uuid,
    CREATED_TIME: createdAt === null ? null : utcTimestamp(new Date(createdAt)),
  });
  const sharedCustomerId = await insertReturningId(
    db,
    'AM_MONETIZATION_SHARED_CUSTOMERS',
    { APPLICATION_ID: applicationId, API_PROVIDER: 'provider', TENANT_ID: tenantId, SHARED_CUSTOMER_ID: `cus_${tag}` },
    'ID',
  );
  await db('AM_MONETIZATION_SUBSCRIPTIONS').insert({
    SUBSCRIBED_APPLICATION_ID: applicationId,
    SUBSCRIBED_API_ID: apiId,
    TENANT_ID: tenantId,
    SUBSCRIPTION_ID: `sub_${tag}`,
    SHARED_CUSTOMER_ID: sharedCustomerId,
  });
  return { apiUuid, applicationUuid, uuid, tenant };
}

/** The Stripe engine answers from its own rows which subscriptions it bills; it makes no Stripe call here. */
const engineOn = (db: Knex) =>
  stripeEngine.create(
    { api_host: '127.0.0.1', api_port: 9, api_protocol: 'http' },
    { core: apimCoreRecords(db), store: db, logger: createLogger('silent'), clock: () => new Date(NOW), tenants: { find: () => undefined } },
  );

/**
 * A lookup over the core that records each pair it asks (`"<api> <application>"`), read one by
 * one (no bulk reads), with cache time `ttlMs` and clock `now`.
 */
const countingLookup = (db: Knex, asked: string[], ttlMs: number, now: () => number) => {
  const core = apimCoreRecords(db);
  const counting = {
    subscriptionOfPair: (api: string, app: string) => (asked.push(`${api} ${app}`), core.subscriptionOfPair(api, app)),
    policyByName: core.policyByName.bind(core),
    subscriptionRefs: core.subscriptionRefs.bind(core),
  };
  return new SubscriptionLookup(counting, engineOn(db), (domain: string) => TENANTS[domain], ttlMs, now);
};

const ingestionOn = (db: Knex, limits: UsageTimeLimits = stripeCapabilities.usage) =>
  new UsageIngestion(db, new SubscriptionLookup(apimCoreRecords(db), engineOn(db), (domain: string) => TENANTS[domain], 60_000, () => NOW), () => new Date(NOW), limits);

const call = (s: Subscription, eventId: string, at = NOW - 60_000, overrides: Record<string, unknown> = {}) => ({
  eventId,
  timestamp: at,
  apiId: s.apiUuid,
  applicationId: s.applicationUuid,
  subscriptionId: s.uuid,
  httpStatus: 200,
  tenant: s.tenant,
  ...overrides,
});

forEachTestDatabase((_kind, database) => {
  let subscription: Subscription;

  beforeAll(async () => {
    await migrateLatest(database().knex);
    subscription = await billableSubscription(database().knex, 'carbon.super');
  });

  const storedCount = async (where: Record<string, unknown>) =>
    Number((await database().knex('ML_USAGE_EVENT').where(where).count({ N: '*' }).first())?.N);

  it('answers each event accepted exactly once across four clients posting overlapping batches at once, and stores it once', async () => {
    const clients = Array.from({ length: 4 }, () => connectDatabase(database().config));
    try {
      const random = createSeededRandom(12);
      const run = randomUUID().slice(0, 8);
      const ids = Array.from({ length: 600 }, (_, i) => `race-${run}-${i}`);
      const answers: BatchResult[] = [];
      for (let round = 0; round < 3; round += 1) {
        // Each client sends 400 of the 600 ids, shuffled: every id is in two or more batches.
        const batches = clients.map(() => [...ids].sort(() => random() - 0.5).slice(0, 400).map((id) => call(subscription, `${id}-${round}`)));
        answers.push(...(await Promise.all(clients.map((client, i) => ingestionOn(client).ingest(batches[i]!)))));
      }
      const accepted = new Map<string, number>();
      const sent = new Set<string>();
      for (const answer of answers) {
        for (const result of answer.results) {
          expect(result.status).not.toBe('rejected');
          sent.add(String(result.eventId));
          if (result.status === 'accepted') accepted.set(String(result.eventId), (accepted.get(String(result.eventId)) ?? 0) + 1);
        }
      }
      expect([...accepted.values()].filter((n) => n !== 1)).toEqual([]);
      expect([...sent].filter((id) => !accepted.has(id))).toEqual([]);
      const stored = await database().knex('ML_USAGE_EVENT').where('EVENT_ID', 'like', `race-${run}-%`).select('EVENT_ID');
      expect(stored.length).toBe(sent.size);
      expect(new Set(stored.map((row) => String(row.EVENT_ID))).size).toBe(sent.size);
    } finally {
      await Promise.all(clients.map((client) => client.destroy()));
    }
  });

  it('answers an event repeated in one batch once: its first copy accepted, the later ones duplicate, whether the batch goes in whole or by the way that tells which rows it stored', async () => {
    const run = randomUUID().slice(0, 8);
    const id = (n: number) => `again-${run}-${n}`;
    const statuses = (answer: BatchResult) => answer.results.map((r) => `${r.eventId}:${r.status}`);
    // All new: the optimistic insert of the whole batch.
    const first = await ingestionOn(database().knex).ingest([call(subscription, id(2)), call(subscription, id(1)), call(subscription, id(2)), call(subscription, id(3)), call(subscription, id(2))]);
    expect(statuses(first)).toEqual([`${id(2)}:accepted`, `${id(1)}:accepted`, `${id(2)}:duplicate`, `${id(3)}:accepted`, `${id(2)}:duplicate`]);
    expect(first).toMatchObject({ accepted: 3, duplicates: 2, rejected: 0 });
    // A key already stored (id 1): the insert that tells which rows it stored, with repeats of a new key around it.
    const second = await ingestionOn(database().knex).ingest([call(subscription, id(5)), call(subscription, id(1)), call(subscription, id(4)), call(subscription, id(5)), call(subscription, id(4))]);
    expect(statuses(second)).toEqual([`${id(5)}:accepted`, `${id(1)}:duplicate`, `${id(4)}:accepted`, `${id(5)}:duplicate`, `${id(4)}:duplicate`]);
    const stored = await database().knex('ML_USAGE_EVENT').where('EVENT_ID', 'like', `again-${run}-%`).select('EVENT_ID');
    expect(stored.map((row) => String(row.EVENT_ID)).sort()).toEqual([1, 2, 3, 4, 5].map(id));
  });

  it.each(['eventId', 'apiId', 'applicationId', 'subscriptionId', 'consumerKey', 'tenant'])(
    'rejects an event with NUL in %s, naming the field, and stores the rest of its batch',
    async (field) => {
      const run = randomUUID().slice(0, 8);
      const bad = call(subscription, `nul-${run}`, NOW - 60_000, { consumerKey: 'ck', [field]: `x\u0000y` });
      const good = call(subscription, `good-${run}`);
      const answer = await ingestionOn(database().knex).ingest([good, bad]);
      expect(answer.results).toEqual([
        { index: 0, eventId: good.eventId, status: 'accepted', billable: true },
        {
          index: 1,
          eventId: bad.eventId,
          status: 'rejected',
          errors: [{ field: `events[1].${field}`, message: 'must not contain the NUL character (U+0000)' }],
        },
      ]);
      expect(await storedCount({ EVENT_ID: good.eventId })).toBe(1);
    },
  );

  it('rejects an unpaired surrogate, which the database would store as U+FFFD', async () => {
    const answer = await ingestionOn(database().knex).ingest([call(subscription, `lone-\ud800-${randomUUID()}`)]);
    expect(answer.results).toEqual([
      expect.objectContaining({ status: 'rejected', errors: [{ field: 'events[0].eventId', message: expect.stringMatching(/unpaired surrogate/) }] }),
    ]);
  });

  it('keeps event ids per tenant: the same id in two tenants is accepted and billable in each', async () => {
    const acme = await billableSubscription(database().knex, 'acme.com');
    const id = `shared-${randomUUID()}`;
    const ingestion = ingestionOn(database().knex);
    expect((await ingestion.ingest([call(acme, id)])).results).toEqual([{ index: 0, eventId: id, status: 'accepted', billable: true }]);
    expect((await ingestion.ingest([call(subscription, id)])).results).toEqual([{ index: 0, eventId: id, status: 'accepted', billable: true }]);
    expect((await ingestion.ingest([call(subscription, id), call(acme, id)])).results.map((r) => r.status)).toEqual(['duplicate', 'duplicate']);
    const rows = await database().knex('ML_USAGE_EVENT').where({ EVENT_ID: id }).orderBy('TENANT_DOMAIN').select('TENANT_DOMAIN', 'SUBSCRIPTION_UUID', 'PUBLISH_STATE');
    expect(rows.map((row) => [row.TENANT_DOMAIN, row.SUBSCRIPTION_UUID, Number(row.PUBLISH_STATE)])).toEqual([
      ['acme.com', acme.uuid, 1],
      ['carbon.super', subscription.uuid, 1],
    ]);
  });

  it('stores a call from before the subscription began as not billable (BEFORE_SUBSCRIPTION), and bills one from its first second on', async () => {
    const createdAt = NOW - 2 * DAY;
    const late = await billableSubscription(database().knex, 'carbon.super', createdAt);
    const run = randomUUID().slice(0, 8);
    const answer = await ingestionOn(database().knex).ingest([
      call(late, `before-${run}`, createdAt - 1000),
      call(late, `at-start-${run}`, createdAt),
      call(late, `after-${run}`, createdAt + DAY),
    ]);
    expect(answer.results).toEqual([
      { index: 0, eventId: `before-${run}`, status: 'accepted', billable: false, reason: 'BEFORE_SUBSCRIPTION' },
      { index: 1, eventId: `at-start-${run}`, status: 'accepted', billable: true },
      { index: 2, eventId: `after-${run}`, status: 'accepted', billable: true },
    ]);
    const before = await database().knex('ML_USAGE_EVENT').where({ EVENT_ID: `before-${run}` }).first('PUBLISH_STATE', 'NOT_BILLABLE');
    expect(before).toEqual({ PUBLISH_STATE: 0, NOT_BILLABLE: 'BEFORE_SUBSCRIPTION' });
  });

  it('rejects a call older than the 35 days the billing engine accepts, and stores one just younger', async () => {
    const run = randomUUID().slice(0, 8);
    const answer = await ingestionOn(database().knex).ingest([
      call(subscription, `old-${run}`, NOW - 35 * DAY),
      call(subscription, `recent-${run}`, NOW - 34 * DAY),
    ]);
    expect(answer.results).toEqual([
      {
        index: 0,
        eventId: `old-${run}`,
        status: 'rejected',
        errors: [{ field: 'events[0].timestamp', message: 'is older than the billing engine accepts usage (35 days)' }],
      },
      { index: 1, eventId: `recent-${run}`, status: 'accepted', billable: true },
    ]);
    expect(await storedCount({ EVENT_ID: `old-${run}` })).toBe(0);
  });

  it('reads each (API, application) pair once per batch however many of its events the batch carries, even without a cache', async () => {
    const other = await billableSubscription(database().knex, 'carbon.super');
    const asked: string[] = [];
    const lookup = countingLookup(database().knex, asked, 0, () => NOW);
    const run = randomUUID().slice(0, 8);
    const events = Array.from({ length: 12 }, (_, i) =>
      i % 3 === 2 ? call(subscription, `pairs-${run}-${i}`, NOW - 60_000, { applicationId: `unknown-${run}` }) : call(i % 3 === 0 ? subscription : other, `pairs-${run}-${i}`),
    );
    const answer = await new UsageIngestion(database().knex, lookup, () => new Date(NOW), stripeCapabilities.usage).ingest(events);
    expect(asked.sort()).toEqual([`${other.apiUuid} ${other.applicationUuid}`, `${subscription.apiUuid} ${subscription.applicationUuid}`, `${subscription.apiUuid} unknown-${run}`].sort());
    expect(answer.results.map((r) => (r.status === 'accepted' ? (r.billable ? 'billable' : r.reason) : r.status))).toEqual(
      Array.from({ length: 12 }, (_, i) => (i % 3 === 2 ? 'UNKNOWN_SUBSCRIPTION' : 'billable')),
    );
  });

  it('answers a batch mixing cached pairs and new ones from the cache and one read of the new pairs', async () => {
    const other = await billableSubscription(database().knex, 'carbon.super');
    const asked: string[] = [];
    const lookup = countingLookup(database().knex, asked, 60_000, () => NOW);
    const ingestion = new UsageIngestion(database().knex, lookup, () => new Date(NOW), stripeCapabilities.usage);
    const run = randomUUID().slice(0, 8);
    await ingestion.ingest([call(subscription, `mixed-${run}-0`)]);
    const events = Array.from({ length: 9 }, (_, i) =>
      i % 3 === 0 ? call(subscription, `mixed-${run}-${i + 1}`) : i % 3 === 1 ? call(other, `mixed-${run}-${i + 1}`) : call(subscription, `mixed-${run}-${i + 1}`, NOW - 60_000, { applicationId: `unknown-${run}` }),
    );
    const answer = await ingestion.ingest(events);
    expect(answer.results.map((r) => (r.status === 'accepted' ? (r.billable ? 'billable' : r.reason) : r.status))).toEqual(
      Array.from({ length: 9 }, (_, i) => (i % 3 === 2 ? 'UNKNOWN_SUBSCRIPTION' : 'billable')),
    );
    // The first batch's pair came from the cache; each new pair was read once.
    expect(asked.sort()).toEqual([`${other.apiUuid} ${other.applicationUuid}`, `${subscription.apiUuid} ${subscription.applicationUuid}`, `${subscription.apiUuid} unknown-${run}`].sort());
  });

  it('decides every event as the schema does, whether its check takes the fast way or zod', async () => {
    const run = randomUUID().slice(0, 8);
    const id = (n: number) => `edge-${run}-${n}`;
    const base = (n: number) => call(subscription, id(n));
    const { subscriptionId: _unused, ...withoutWho } = base(0);
    const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, base(1));
    const events: unknown[] = [
      base(2),
      { ...base(3), timestamp: new Date(NOW - 60_000).toISOString() },
      { ...base(4), timestamp: NOW - 60_000.5 },
      { ...base(5), timestamp: -1 },
      { ...base(6), httpStatus: 99 },
      { ...base(7), httpStatus: 600 },
      { ...base(8), httpStatus: 200.5 },
      { ...base(9), httpStatus: '200' },
      { ...base(10), extra: 1 },
      { ...base(11), consumerKey: undefined },
      { ...base(12), eventId: '' },
      { ...base(13), eventId: `${id(13)}-${'x'.repeat(128)}`.slice(0, 128) },
      { ...base(14), eventId: `${id(14)}-${'x'.repeat(128)}`.slice(0, 129) },
      { ...base(15), eventId: `${id(15)}-\u{1F600}` },
      { ...base(16), tenant: 'c'.repeat(101) },
      { ...withoutWho, eventId: id(17) },
      { ...base(18), consumerKey: 'ck-\t-\\-\n' },
      nullProto,
      [base(19)],
      null,
    ];
    const answer = await ingestionOn(database().knex).ingest(events);
    const decided = answer.results.map((r) => (r.status === 'rejected' ? r.errors : r.status));
    const bySchema = events.map((event, index) => {
      const parsed = usageEventSchema.safeParse(event);
      return parsed.success ? 'accepted' : fieldProblems(parsed.error.issues, { whole: 'body', at: ['events', index] });
    });
    expect(decided).toEqual(bySchema);
    expect(decided.filter((d) => d === 'accepted').length).toBeGreaterThanOrEqual(6);
    const tricky = await database().knex('ML_USAGE_EVENT').where({ EVENT_ID: id(18) }).first('CONSUMER_KEY');
    expect(tricky).toEqual({ CONSUMER_KEY: 'ck-\t-\\-\n' });
  });

  it("reads a pair's answer again in the background in its cache time's last quarter, and never answers from one older than that time", async () => {
    const asked: string[] = [];
    let now = NOW;
    const lookup = countingLookup(database().knex, asked, 1_000, () => now);
    const ingestion = new UsageIngestion(database().knex, lookup, () => new Date(NOW), stripeCapabilities.usage);
    const run = randomUUID().slice(0, 8);
    const at = async (ms: number, n: number) => {
      now = NOW + ms;
      const answer = await ingestion.ingest([call(subscription, `refresh-${run}-${n}`)]);
      expect(answer.results).toEqual([{ index: 0, eventId: `refresh-${run}-${n}`, status: 'accepted', billable: true }]);
      return asked.length;
    };
    expect(await at(0, 0)).toBe(1);
    expect(await at(500, 1)).toBe(1); // cached, not yet in the last quarter
    expect(await at(800, 2)).toBe(2); // cached, and read again in the background
    expect(await at(1_500, 3)).toBe(2); // the background read's answer (from 800), or the batch waits for it
    expect(await at(1_900, 4)).toBe(3); // that answer is 1,100 ms old: read again
  });

  it("judges times by the engine's declared limits, whatever they are", async () => {
    const run = randomUUID().slice(0, 8);
    const limits = { backdatingLimitMs: 2 * DAY, futureToleranceMs: 3_600_000, identifierMemoryMs: DAY, periodUsageGraceMs: 3_600_000 };
    const answer = await ingestionOn(database().knex, limits).ingest([
      call(subscription, `old-${run}`, NOW - 3 * DAY),
      call(subscription, `ahead-${run}`, NOW + 30 * 60_000),
      call(subscription, `far-${run}`, NOW + 2 * 3_600_000),
    ]);
    expect(answer.results.map((r) => (r.status === 'rejected' ? r.errors[0]!.message : r.status))).toEqual([
      'is older than the billing engine accepts usage (2 days)',
      'accepted',
      'is more than 1 h in the future',
    ]);
  });
});
