import Stripe from 'stripe';
import { parseConfig } from '../../src/config/load';
import type { MeterlineConfig } from '../../src/config/schema';
import { mintToken } from '../../src/http/auth/tokens';
import { createLogger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { forEachTestDatabase, type TestDatabase, type TestDatabaseKind } from './databases';

/**
 * Meterline's REST API started in-process on a test database, with the Stripe engine pointed at
 * the local Stripe server: the production composition (`startService`), nothing stubbed.
 * Two tenants: carbon.super and acme.com, each with its own platform account.
 */
export const OTHER_TENANT = { domain: 'acme.com', id: 7 } as const;
export const JWT_SECRET = 'rest-harness-secret-0123456789abcdef';

let keyCounter = 0;
function uniqueKey(label: string): string {
  keyCounter += 1;
  return `sk_test_${label}_${process.pid}_${Date.now()}_${keyCounter}`;
}

export interface TokenOptions {
  sub?: string;
  tenant?: string;
  scopes: readonly string[];
  email?: string;
  expiresIn?: number;
}

export interface RestHarness {
  url: string;
  service: RunningService;
  config: MeterlineConfig;
  /** The Stripe SDK on carbon.super's platform account. */
  platform: Stripe;
  /** carbon.super's platform account id on the Stripe server (for scoping faults). */
  platformAccount: string;
  token(options: TokenOptions): string;
  /** Calls the service; `path` starts with `/api/am/...`. Returns status, headers and parsed JSON (or text). */
  call(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<RestResponse>;
  close(): Promise<void>;
}

export interface RestResponse {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

export function harnessConfig(database: TestDatabase, stripeServer: StripeServer, keys: { superKey: string; otherKey: string }): MeterlineConfig {
  return parseConfig(
    {
      database: { apim_db: database.config },
      auth: { jwt: { secret: JWT_SECRET, issuer: 'meterline', audience: 'meterline' } },
      apim: {
        monetization: {
          monetization_impl: 'stripe',
          stripe: { api_host: stripeServer.host, api_port: stripeServer.port, api_protocol: 'http', max_network_retries: 0 },
          additional_attributes: [
            { name: 'ConnectedAccountKey', display_name: 'Connected Account Key', required: true, description: 'Stripe Connect account id of the API publisher' },
          ],
        },
      },
      logging: { level: 'silent' },
      tenants: [
        { domain: 'carbon.super', id: -1234, monetization_info: { billing_engine_platform_account_key: keys.superKey } },
        { domain: OTHER_TENANT.domain, id: OTHER_TENANT.id, monetization_info: { billing_engine_platform_account_key: keys.otherKey } },
      ],
    },
    {},
    'test',
  );
}

/** `clock`: the service's own time (ingestion's time bounds, billing), when a test sets it. */
export async function startRestHarness(database: TestDatabase, stripeServer: StripeServer, options: { clock?: () => Date } = {}): Promise<RestHarness> {
  const superKey = uniqueKey('super');
  const config = harnessConfig(database, stripeServer, { superKey, otherKey: uniqueKey('acme') });
  const service = await startService({ config, logger: createLogger('silent'), port: 0, ...(options.clock ? { clock: options.clock } : {}) });
  const platform = new Stripe(superKey, { host: stripeServer.host, port: stripeServer.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false });
  const jwt = config.auth.jwt!;
  return {
    url: service.url,
    service,
    config,
    platform,
    platformAccount: stripeServer.accountIdForKey(superKey),
    token: (o) =>
      mintToken(jwt, {
        subject: o.sub ?? 'alice',
        tenant: o.tenant,
        scopes: o.scopes,
        ...(o.email ? { email: o.email } : {}),
        ...(o.expiresIn === undefined ? {} : { expiresIn: o.expiresIn }),
      }),
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      if (options.body !== undefined) headers['content-type'] ??= 'application/json';
      const response = await fetch(`${service.url}${path}`, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
      });
      const text = await response.text();
      let body: unknown = undefined;
      if (text !== '' && (response.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
      return { status: response.status, headers: response.headers, body, text };
    },
    close: () => service.close(),
  };
}

/**
 * Defines the file's tests once per test database, each with its own REST harness (a running
 * service) on one local Stripe server shared by the file. `rest()` and `stripeServer()` are valid
 * inside hooks and tests.
 */
export function forEachRestHarness(define: (rest: () => RestHarness, kind: TestDatabaseKind, stripeServer: () => StripeServer) => void): void {
  let stripeServer: StripeServer | undefined;
  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0 });
  });
  afterAll(() => stripeServer?.close());
  forEachTestDatabase((kind, database) => {
    let harness: RestHarness | undefined;
    beforeAll(async () => {
      harness = await startRestHarness(database(), stripeServer!);
    });
    afterAll(() => harness?.close());
    define(
      () => harness ?? unready('REST harness'),
      kind,
      () => stripeServer ?? unready('Stripe server'),
    );
  });
}

/** For a getter used before the hook that sets its value ran. */
export function unready(what: string): never {
  throw new Error(`the ${what} is used before its beforeAll ran`);
}

/** The scopes each role of the story needs. */
export const SCOPES = {
  admin: ['apim:admin', 'apim:tier_view', 'apim:tier_manage'],
  publisher: ['apim:api_view', 'apim:api_create', 'apim:api_publish', 'apim:api_manage', 'apim:subscription_view'],
  subscriber: ['apim:subscribe'],
} as const;

export const ADMIN = '/api/am/admin/v4';
export const PUBLISHER = '/api/am/publisher/v4';
export const DEVPORTAL = '/api/am/devportal/v3';

/** A policy body as WSO2's admin portal sends it. */
export function policyBody(name: string, monetization?: { plan: 'FIXEDRATE' | 'DYNAMICRATE'; price: string; currency?: string; cycle?: string }) {
  return {
    policyName: name,
    displayName: name,
    description: `${name} plan`,
    defaultLimit: { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 1000 } },
    billingPlan: monetization ? 'COMMERCIAL' : 'FREE',
    ...(monetization
      ? {
          monetization: {
            monetizationPlan: monetization.plan,
            properties: {
              [monetization.plan === 'FIXEDRATE' ? 'fixedPrice' : 'pricePerRequest']: monetization.price,
              currencyType: monetization.currency ?? 'USD',
              billingCycle: monetization.cycle ?? 'month',
            },
          },
        }
      : {}),
  };
}

let nameCounter = 0;
/** A name no other test in the file uses. */
export function uniqueName(label: string): string {
  nameCounter += 1;
  return `${label}${nameCounter}x${Math.random().toString(36).slice(2, 6)}`;
}
