import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Knex } from 'knex';
import { dialectOf } from '../src/db/dialect';
import { insertReturningId } from '../src/db/insert-returning-id';
import { pgCopyIn } from '../src/usage/pg-copy-in';
import { migrateLatest } from '../src/db/migrator';
import { migrationsFor } from '../src/composition';
import { forEachConcurrently } from '../src/usage/pacer';
import { apiMeterEventName } from '../plugins/stripe/meters';
import { connectedAccount, sdkFor } from '../test/plugins/stripe/harness';
import type { StripeServer } from '../dev/stripe-server';
import { stripeEngine } from '../plugins/stripe';
import { apimCoreRecords } from '../src/apim/core-records';
import { createLogger } from '../src/logger';
import type { Monetization } from '../src/monetization/monetization';
import type { CallIdentity } from '../src/gateway-kit/usage-recorder';
import { createTestDatabase, type TestDatabase, type TestDatabaseKind } from '../test/helpers/databases';
import { withDriverConnection } from '../src/db/driver-connection';

/** Benchmarks print what they measured, with the machine, as one JSON line per figure. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} × ${cpu.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/** The middle value, or the mean of the two middle values of an even count. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
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
 * What a gateway's key validation hands the recorder for a seeded subscription's calls, with its
 * strings as a gateway's key cache holds them: parsed from JSON (its key manager's answers), so
 * flat. `randomUUID()` returns a rope (a tree of concatenations, some 400 bytes) that V8 flattens
 * the first time it is written out: a route alone would keep about 12 MB more of them alive for
 * 10,000 callers than a route whose recorder wrote them, and V8 would collect its larger heap half
 * as often at twice the cost (16 against 32 major collections per 100,000 requests).
 */
export function callerOf(s: SeededSubscription): CallIdentity {
  return JSON.parse(JSON.stringify({ apiId: s.apiUuid, applicationId: s.applicationUuid, subscriptionId: s.uuid, tenant: 'carbon.super' })) as CallIdentity;
}

/**
 * Gateway rows for `count` subscriptions billed per request, written directly and in bulk (what
 * the REST API and the Stripe engine would have written), with `stripe.customer(i)` and
 * `stripe.subscription(i)` as the Stripe customer and subscription of each when given.
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
  // In bulk: rows per statement kept under every driver's parameter limits, ids read back by UUID.
  const subscriptions: SeededSubscription[] = Array.from({ length: count }, () => ({ uuid: randomUUID(), apiUuid, applicationUuid: randomUUID() }));
  const chunk = 400;
  for (let start = 0; start < count; start += chunk) {
    const part = subscriptions.slice(start, start + chunk);
    await db('AM_APPLICATION').insert(part.map((s, j) => ({ NAME: `app-${start + j}`, SUBSCRIBER_ID: subscriberId, UUID: s.applicationUuid })));
    const rows = (await db('AM_APPLICATION').whereIn('UUID', part.map((s) => s.applicationUuid)).select('UUID', 'APPLICATION_ID')) as Array<Record<string, unknown>>;
    const appIds = new Map(rows.map((r) => [String(r.UUID), Number(r.APPLICATION_ID)]));
    const appId = (s: SeededSubscription) => appIds.get(s.applicationUuid)!;
    await db('AM_SUBSCRIPTION').insert(part.map((s) => ({ TIER_ID: policy, API_ID: apiId, APPLICATION_ID: appId(s), SUB_STATUS: 'UNBLOCKED', SUBS_CREATE_STATE: 'SUBSCRIBE', UUID: s.uuid })));
    await db('AM_MONETIZATION_SHARED_CUSTOMERS').insert(
      part.map((s, j) => ({ APPLICATION_ID: appId(s), API_PROVIDER: 'bench', TENANT_ID: -1234, SHARED_CUSTOMER_ID: stripe?.customer(start + j) ?? `cus_${start + j}`, PARENT_CUSTOMER_ID: platformId })),
    );
    const shared = (await db('AM_MONETIZATION_SHARED_CUSTOMERS').whereIn('APPLICATION_ID', part.map(appId)).select('APPLICATION_ID', 'ID')) as Array<Record<string, unknown>>;
    const sharedIds = new Map(shared.map((r) => [Number(r.APPLICATION_ID), Number(r.ID)]));
    await db('AM_MONETIZATION_SUBSCRIPTIONS').insert(
      part.map((s, j) => ({
        SUBSCRIBED_APPLICATION_ID: appId(s), SUBSCRIBED_API_ID: apiId, TENANT_ID: -1234, SUBSCRIPTION_ID: stripe?.subscription(start + j) ?? `sub_${start + j}`, SHARED_CUSTOMER_ID: sharedIds.get(appId(s)),
      })),
    );
  }
  return { apiUuid, subscriptions };
}

/** Caches each subscription's billing cycle (as a first job would have read it from the engine). */
export async function seedBillingCycles(db: Knex, subscriptions: readonly SeededSubscription[], cycle: { anchorMs: number; unit: 'day' | 'month'; now: number }): Promise<void> {
  for (let i = 0; i < subscriptions.length; i += 500) {
    await db('ML_USAGE_BILLING_CYCLE').insert(
      subscriptions.slice(i, i + 500).map((s) => ({ SUBSCRIPTION_UUID: s.uuid, ANCHOR_MS: cycle.anchorMs, INTERVAL_UNIT: cycle.unit, INTERVAL_COUNT: 1, FETCHED_AT: cycle.now })),
    );
  }
}

export function event(s: SeededSubscription, id: string, timestamp: number) {
  return { eventId: id, timestamp, apiId: s.apiUuid, applicationId: s.applicationUuid, subscriptionId: s.uuid, httpStatus: 200, tenant: 'carbon.super' };
}

/** A row of ML_USAGE_EVENT as ingestion stores a billable call. */
export function eventRow(s: SeededSubscription, id: string, time: number, receivedAt: number): Record<string, unknown> {
  return {
    EVENT_ID: id, EVENT_TIME: time, EVENT_HOUR: Math.floor(time / 3_600_000), API_UUID: s.apiUuid, APPLICATION_UUID: s.applicationUuid,
    SUBSCRIPTION_UUID: s.uuid, CONSUMER_KEY: null, TENANT_DOMAIN: 'carbon.super', HTTP_STATUS: 200, QUANTITY: 1, RECEIVED_AT: receivedAt,
    PUBLISH_STATE: 1, NOT_BILLABLE: null,
  };
}

export function report(figures: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...figures, machine: machine() })}\n`);
}

/** The Stripe engine over a bench database: it answers from its own rows which subscriptions it bills (no Stripe call). */
export function benchEngine(db: Knex): Monetization {
  return stripeEngine.create(
    { api_host: '127.0.0.1', api_port: 9, api_protocol: 'http' },
    { core: apimCoreRecords(db), store: db, logger: createLogger('silent'), clock: () => new Date(), tenants: { find: () => undefined } },
  );
}

/**
 * Writes the rows with PostgreSQL's COPY ... FROM STDIN (text format): the fastest way PostgreSQL
 * takes rows, the baseline ingestion is measured against. The same writer ingestion's first try
 * uses (src/usage/pg-copy-in.ts), so the two differ only in what ingestion adds around it.
 */
export async function copyRows(db: Knex, table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
  if (rows.length === 0) return;
  await pgCopyIn(db, table, Object.keys(rows[0]!), rows);
}

/**
 * A plain multi-row `INSERT ... VALUES` of the rows, 500 per statement (as ingestion chunks). On
 * SQLite written by hand: knex writes a multi-row insert there as `SELECT ... UNION ALL`, slower
 * than the VALUES list ingestion uses, which would flatter ingestion's ratio.
 */
export async function plainInsert(db: Knex, table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    if (dialectOf(db) !== 'sqlite') {
      await db(table).insert(chunk);
      continue;
    }
    const columns = Object.keys(chunk[0]!);
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    const values = chunk.flatMap((row) => columns.map((column) => (row[column] ?? null) as Knex.Value));
    await db.raw(`INSERT INTO ?? (${columns.map(() => '??').join(', ')}) VALUES ${chunk.map(() => tuple).join(', ')}`, [table, ...columns, ...values]);
  }
}

/**
 * The fastest plain bulk load of the rows each database has here, for floors of code that itself
 * writes by its database's fastest means (the freeze's records): PostgreSQL COPY; SQLite a
 * 500-row `INSERT ... VALUES` prepared once on the driver's connection and run with flat values
 * (no knex binding formatting); the others `plainInsert`.
 */
export async function fastestPlainInsert(db: Knex, table: string, rows: readonly Record<string, unknown>[]): Promise<void> {
  if (rows.length === 0) return;
  const dialect = dialectOf(db);
  if (dialect === 'postgres') {
    // In parts, so no one COPY's text holds every row at once.
    for (let i = 0; i < rows.length; i += 50_000) await copyRows(db, table, rows.slice(i, i + 50_000));
    return;
  }
  if (dialect !== 'sqlite') return plainInsert(db, table, rows);
  const columns = Object.keys(rows[0]!);
  await withDriverConnection<{ prepare(sql: string): { run(values: unknown[]): unknown } }, void>(db, (connection) => {
    const statements = new Map<number, { run(values: unknown[]): unknown }>();
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      let statement = statements.get(chunk.length);
      if (statement === undefined) {
        statement = connection.prepare(`INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES ${chunk.map(() => tuple).join(', ')}`);
        statements.set(chunk.length, statement);
      }
      const values = new Array<unknown>(chunk.length * columns.length);
      let n = 0;
      for (const row of chunk) for (const column of columns) values[n++] = row[column] ?? null;
      statement.run(values);
    }
  });
}

/**
 * Migrates `db` and seeds `count` billed subscriptions, each with its own customer in one new
 * connected account on the local Stripe server, the API's meter, and monthly billing cycles
 * anchored ten days ago: what the publishing benchmarks send usage for. `label` names the
 * platform key, the customers and the subscriptions.
 */
export async function seedMeteredSubscriptions(
  server: StripeServer,
  db: Knex,
  count: number,
  label: string,
): Promise<{ key: string; account: string; subscriptions: SeededSubscription[] }> {
  await migrateLatest(db, migrationsFor(undefined));
  const key = `sk_test_${label}_${randomUUID().slice(0, 8)}`;
  const stripe = sdkFor(server, key);
  const account = await connectedAccount(stripe);
  const customers: string[] = new Array<string>(count);
  await forEachConcurrently([...customers.keys()], 32, async (i) => {
    customers[i] = (await stripe.customers.create({ name: `${label} ${i}` }, { stripeAccount: account })).id;
  });
  const { apiUuid, subscriptions } = await seedBilledSubscriptions(db, count, { account, customer: (i) => customers[i]!, subscription: (i) => `sub_${label}_${i}` });
  await stripe.billing.meters.create(
    {
      display_name: `${label} calls`,
      event_name: apiMeterEventName(apiUuid),
      default_aggregation: { formula: 'sum' },
      customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' },
      value_settings: { event_payload_key: 'value' },
    },
    { stripeAccount: account },
  );
  const now = Date.now();
  await seedBillingCycles(db, subscriptions, { anchorMs: now - 10 * 86_400_000, unit: 'month', now });
  return { key, account, subscriptions };
}

/**
 * Runs `script` again in a child process (with `--expose-gc`, so it can measure its own live heap)
 * with `input` in the environment variable `envName`, and answers the JSON of the last line the
 * child printed: the child measures its own memory, undisturbed by the parent's.
 */
export function runInChild<Output>(script: string, envName: string, input: unknown, what: string): Promise<Output> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', script], { env: { ...process.env, [envName]: JSON.stringify(input) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').at(-1);
      if (code !== 0 || !line) reject(new Error(`${what} exited with ${code}: ${err.slice(0, 500)}`));
      else resolve(JSON.parse(line) as Output);
    });
  });
}
