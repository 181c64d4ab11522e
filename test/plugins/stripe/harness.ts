import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import Stripe from 'stripe';
import { stripeEngine } from '../../../plugins/stripe';
import type { ApiRef, PolicyPricing, SubscriptionPolicy, SubscriptionRef, TenantRef } from '../../../src/domain/model';
import { ApiMonetizationStateRepository } from '../../../src/apim/api-monetization.repository';
import { apimCoreRecords } from '../../../src/apim/core-records';
import type { Monetization, TenantSettings } from '../../../src/monetization/monetization';
import { createLogger } from '../../../src/logger';
import { insertReturningId } from '../../../src/db/insert-returning-id';
import { startStripeServer, type StripeServer } from '../../../dev/stripe-server';

/**
 * Starts one local Stripe server for the test file (before its tests, closed after them) and
 * returns it through a getter valid inside hooks and tests.
 */
export function useStripeServer(): () => StripeServer {
  let server: StripeServer | undefined;
  beforeAll(async () => {
    server = await startStripeServer({ port: 0 });
  });
  afterAll(() => server?.close());
  return () => {
    if (!server) throw new Error('the Stripe server is not running (used outside a test?)');
    return server;
  };
}

export const SUPER_TENANT: TenantRef = { domain: 'carbon.super', id: -1234 };

let keyCounter = 0;
/** A platform key no other test uses, so every test gets its own platform account. */
export function uniquePlatformKey(): string {
  keyCounter += 1;
  return `sk_test_${process.pid}_${Date.now()}_${keyCounter}`;
}

export function sdkFor(server: StripeServer, key: string): Stripe {
  return new Stripe(key, { host: server.host, port: server.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false });
}

/** Builds the Stripe engine the way the service does, pointed at the local Stripe server. */
export function buildEngine(
  server: StripeServer,
  db: Knex,
  tenants: readonly TenantSettings[],
  options: Record<string, unknown> = {},
): Monetization {
  return stripeEngine.create(
    { api_host: server.host, api_port: server.port, api_protocol: 'http', retries: 0, ...options },
    {
      core: apimCoreRecords(db),
      store: db,
      logger: createLogger('silent'),
      clock: () => new Date(server.clock.now() * 1000),
      tenants: { find: (domain) => tenants.find((t) => t.domain === domain) },
    },
  );
}

export function tenantWithKey(key: string | undefined, tenant: TenantRef = SUPER_TENANT): TenantSettings {
  return { ...tenant, platformAccountKey: key, secrets: {} };
}

const NOW = '2026-11-01 00:00:00';

/** Inserts gateway rows (what WSO2 API Manager or Meterline's REST API would have written). */
export class GatewaySeed {
  constructor(
    private readonly db: Knex,
    readonly tenant: TenantRef = SUPER_TENANT,
  ) {}

  async subscriber(userId = `user-${randomUUID().slice(0, 8)}`, email: string | null = `${userId}@example.com`) {
    const id = await insertReturningId(
      this.db,
      'AM_SUBSCRIBER',
      { USER_ID: userId, TENANT_ID: this.tenant.id, EMAIL_ADDRESS: email, DATE_SUBSCRIBED: NOW },
      'SUBSCRIBER_ID',
    );
    return { id, userId, email };
  }

  async application(subscriber: { id: number }, name = `app-${randomUUID().slice(0, 8)}`) {
    const uuid = randomUUID();
    const id = await insertReturningId(this.db, 'AM_APPLICATION', { NAME: name, SUBSCRIBER_ID: subscriber.id, UUID: uuid }, 'APPLICATION_ID');
    return { id, uuid, name };
  }

  async api(input: { name?: string; version?: string; provider?: string } = {}): Promise<ApiRef & { id: number }> {
    const uuid = randomUUID();
    const api = {
      uuid,
      name: input.name ?? `api-${uuid.slice(0, 8)}`,
      version: input.version ?? '1.0.0',
      provider: input.provider ?? 'publisher',
      tenant: this.tenant,
    };
    const id = await insertReturningId(
      this.db,
      'AM_API',
      {
        API_UUID: uuid,
        API_PROVIDER: api.provider,
        API_NAME: api.name,
        API_VERSION: api.version,
        CONTEXT: `/${api.name}/${api.version}`,
        API_TYPE: 'HTTP',
        STATUS: 'PUBLISHED',
        ORGANIZATION: this.tenant.domain,
      },
      'API_ID',
    );
    return { ...api, id };
  }

  /** A policy named `<label>-<random>`, so tests sharing a database never collide. */
  async policy(label: string, pricing: PolicyPricing | null): Promise<SubscriptionPolicy> {
    const uuid = randomUUID();
    const name = `${label}-${uuid.slice(0, 6)}`;
    await this.db('AM_POLICY_SUBSCRIPTION').insert({
      NAME: name,
      DISPLAY_NAME: name,
      TENANT_ID: this.tenant.id,
      QUOTA_TYPE: 'requestCount',
      QUOTA: 1000,
      UNIT_TIME: 1,
      TIME_UNIT: 'min',
      BILLING_PLAN: pricing ? 'COMMERCIAL' : 'FREE',
      UUID: uuid,
      MONETIZATION_PLAN: pricing?.plan ?? null,
      FIXED_RATE: pricing?.plan === 'FIXEDRATE' ? pricing.fixedPrice : null,
      PRICE_PER_REQUEST: pricing?.plan === 'DYNAMICRATE' ? pricing.pricePerRequest : null,
      BILLING_CYCLE: pricing?.billingCycle ?? null,
      CURRENCY: pricing?.currency ?? null,
    });
    return { uuid, name, tenant: this.tenant, billingPlan: pricing ? 'COMMERCIAL' : 'FREE', pricing };
  }

  /** What the core does after the engine enabled or disabled monetization. */
  async recordMonetization(api: { id: number }, enabled: boolean, properties: Record<string, string>): Promise<void> {
    await new ApiMonetizationStateRepository(this.db).save(api.id, { enabled, properties });
  }

  async subscription(
    api: ApiRef & { id: number },
    application: { id: number; uuid: string; name: string },
    subscriber: { userId: string; email: string | null },
    policy: SubscriptionPolicy,
  ): Promise<SubscriptionRef> {
    const uuid = randomUUID();
    await this.db('AM_SUBSCRIPTION').insert({
      TIER_ID: policy.name,
      API_ID: api.id,
      APPLICATION_ID: application.id,
      SUB_STATUS: 'UNBLOCKED',
      SUBS_CREATE_STATE: 'SUBSCRIBE',
      UUID: uuid,
    });
    const { id: _id, ...apiRef } = api;
    return { uuid, api: apiRef, application: { uuid: application.uuid, name: application.name }, subscriber, policy };
  }
}

export const fixedMonthly = (fixedPrice: string, currency = 'usd'): PolicyPricing => ({
  plan: 'FIXEDRATE',
  currency,
  billingCycle: 'month',
  fixedPrice,
});

export const perRequest = (pricePerRequest: string, currency = 'usd'): PolicyPricing => ({
  plan: 'DYNAMICRATE',
  currency,
  billingCycle: 'month',
  pricePerRequest,
});

/** A connected account of the platform, as a publisher would link through Stripe Connect. */
export async function connectedAccount(platform: Stripe): Promise<string> {
  const account = await platform.accounts.create({ type: 'express', country: 'US', business_profile: { name: 'Publisher Inc' } });
  return account.id;
}

/** A platform, its engine, one connected account and one API monetized there on a Gold plan. */
export interface MonetizedWorld {
  db: Knex;
  engine: Monetization;
  seed: GatewaySeed;
  stripe: Stripe;
  account: string;
  gold: SubscriptionPolicy;
  api: Awaited<ReturnType<GatewaySeed['api']>>;
}

/** A new platform key on `server`, and an API of a new provider monetized on Gold (10 a month) in a new connected account. */
export async function monetizedWorld(server: StripeServer, db: Knex): Promise<MonetizedWorld> {
  const key = uniquePlatformKey();
  const engine = buildEngine(server, db, [tenantWithKey(key)]);
  const seed = new GatewaySeed(db);
  const stripe = sdkFor(server, key);
  const account = await connectedAccount(stripe);
  const gold = await seed.policy('Gold', fixedMonthly('10'));
  const api = await seed.api({ provider: `alice-${account.slice(-6)}` });
  const properties = { ConnectedAccountKey: account };
  await engine.enableMonetization({ api, policies: [gold], properties });
  await seed.recordMonetization(api, true, properties);
  return { db, engine, seed, stripe, account, gold, api };
}
