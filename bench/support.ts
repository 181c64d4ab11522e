import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Knex } from 'knex';
import { insertReturningId } from '../src/db/insert-returning-id';
import { createTestDatabase, type TestDatabase, type TestDatabaseKind } from '../test/helpers/databases';

/** Benchmarks print what they measured, with the machine, as one JSON line per figure. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} × ${cpu.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : Number(raw);
}

/** The databases to measure: BENCH_DATABASES (default sqlite,postgres when a PostgreSQL URL is set). */
export function benchDatabases(): TestDatabaseKind[] {
  const pg = process.env.METERLINE_TEST_POSTGRES_URL;
  const names = (process.env.BENCH_DATABASES ?? (pg ? 'sqlite,postgres' : 'sqlite')).split(',').map((s) => s.trim());
  return names.filter((n): n is TestDatabaseKind => n === 'sqlite' || n === 'postgres' || n === 'mysql');
}

export async function openDatabase(kind: TestDatabaseKind): Promise<TestDatabase> {
  const adminUrl = kind === 'postgres' ? process.env.METERLINE_TEST_POSTGRES_URL : kind === 'mysql' ? process.env.METERLINE_TEST_MYSQL_URL : undefined;
  return createTestDatabase({ kind, ...(adminUrl ? { adminUrl } : {}) });
}

export interface SeededSubscription {
  uuid: string;
  apiUuid: string;
  applicationUuid: string;
}

/**
 * Gateway rows for `count` subscriptions billed per request, written directly (what the REST API
 * and the Stripe engine would have written), with `stripeIds(i)` as the Stripe customer and
 * subscription of each when given.
 */
export async function seedBilledSubscriptions(
  db: Knex,
  count: number,
  stripe?: { account: string; customer(i: number): string; subscription(i: number): string },
): Promise<{ apiUuid: string; subscriptions: SeededSubscription[] }> {
  const policy = `PerCall-${randomUUID().slice(0, 6)}`;
  await db('AM_POLICY_SUBSCRIPTION').insert({
    NAME: policy, DISPLAY_NAME: policy, TENANT_ID: -1234, QUOTA_TYPE: 'requestCount', QUOTA: 1000, UNIT_TIME: 1, TIME_UNIT: 'min',
    BILLING_PLAN: 'COMMERCIAL', UUID: randomUUID(), MONETIZATION_PLAN: 'DYNAMICRATE', PRICE_PER_REQUEST: '0.01', BILLING_CYCLE: 'month', CURRENCY: 'usd',
  });
  const apiUuid = randomUUID();
  const apiId = await insertReturningId(db, 'AM_API', {
    API_UUID: apiUuid, API_PROVIDER: 'bench', API_NAME: `bench-${apiUuid.slice(0, 6)}`, API_VERSION: '1.0.0', CONTEXT: '/bench', API_TYPE: 'HTTP', STATUS: 'PUBLISHED', ORGANIZATION: 'carbon.super',
  }, 'API_ID');
  await db('ML_API_MONETIZATION').insert({ API_ID: apiId, ENABLED: 1, PROPERTIES: JSON.stringify({ ConnectedAccountKey: stripe?.account ?? 'acct_bench' }) });
  const subscriberId = await insertReturningId(db, 'AM_SUBSCRIBER', { USER_ID: `bench-${apiUuid.slice(0, 6)}`, TENANT_ID: -1234, DATE_SUBSCRIBED: '2026-01-01 00:00:00' }, 'SUBSCRIBER_ID');
  const platformId = await insertReturningId(db, 'AM_MONETIZATION_PLATFORM_CUSTOMERS', { SUBSCRIBER_ID: subscriberId, TENANT_ID: -1234, CUSTOMER_ID: 'cus_platform' }, 'ID');
  const subscriptions: SeededSubscription[] = [];
  for (let i = 0; i < count; i += 1) {
    const applicationUuid = randomUUID();
    const uuid = randomUUID();
    const applicationId = await insertReturningId(db, 'AM_APPLICATION', { NAME: `app-${i}`, SUBSCRIBER_ID: subscriberId, UUID: applicationUuid }, 'APPLICATION_ID');
    await db('AM_SUBSCRIPTION').insert({ TIER_ID: policy, API_ID: apiId, APPLICATION_ID: applicationId, SUB_STATUS: 'UNBLOCKED', SUBS_CREATE_STATE: 'SUBSCRIBE', UUID: uuid });
    const sharedId = await insertReturningId(db, 'AM_MONETIZATION_SHARED_CUSTOMERS', {
      APPLICATION_ID: applicationId, API_PROVIDER: 'bench', TENANT_ID: -1234, SHARED_CUSTOMER_ID: stripe?.customer(i) ?? `cus_${i}`, PARENT_CUSTOMER_ID: platformId,
    }, 'ID');
    await db('AM_MONETIZATION_SUBSCRIPTIONS').insert({
      SUBSCRIBED_APPLICATION_ID: applicationId, SUBSCRIBED_API_ID: apiId, TENANT_ID: -1234, SUBSCRIPTION_ID: stripe?.subscription(i) ?? `sub_${i}`, SHARED_CUSTOMER_ID: sharedId,
    });
    subscriptions.push({ uuid, apiUuid, applicationUuid });
  }
  return { apiUuid, subscriptions };
}

export function event(s: SeededSubscription, id: string, timestamp: number) {
  return { eventId: id, timestamp, apiId: s.apiUuid, applicationId: s.applicationUuid, subscriptionId: s.uuid, httpStatus: 200, tenant: 'carbon.super' };
}

export function report(figures: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...figures, machine: machine() })}\n`);
}
