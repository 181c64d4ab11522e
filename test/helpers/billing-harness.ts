import { createServer } from 'node:net';
import Stripe from 'stripe';
import { parseConfig } from '../../src/config/load';
import type { MeterlineConfig } from '../../src/config/schema';
import { mintToken } from '../../src/http/auth/tokens';
import { createLogger, type Logger } from '../../src/logger';
import { startService, type RunningService } from '../../src/service';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { forEachTestDatabase, type TestDatabase, type TestDatabaseKind } from './databases';
import { ADMIN, DEVPORTAL, harnessConfig, policyBody, PUBLISHER, SCOPES, uniqueName, unready } from './rest-harness';

/**
 * Meterline started in-process with the Stripe engine on the local Stripe server, a webhook
 * endpoint registered there for carbon.super's platform (connected accounts included) whose
 * signing secret is in the tenant's configuration (acme.com likewise, with its own platform and
 * secret), and Meterline's clock following the Stripe server's, so moving one moves both.
 */
export interface BillingHarness {
  url: string;
  service: RunningService;
  /** The service's configuration, e.g. for another instance on the same database and Stripe server. */
  config: MeterlineConfig;
  platform: Stripe;
  webhookSecret: string;
  /** A second tenant, acme.com, with its own platform account and webhook secret. */
  acme: { platform: Stripe; webhookSecret: string };
  token(sub: string, scopes: readonly string[], email?: string): string;
  call(method: string, path: string, bearer?: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  close(): Promise<void>;
}

/** The tenant's billing rules, and the API version of carbon.super's webhook endpoint (none: the account's default). */
export interface HarnessRules {
  holdUntilPaid: boolean;
  graceDays: number;
  webhookApiVersion?: string;
  /**
   * Also a second endpoint at the same URL for Stripe's thin meter error reports (the local
   * server's stand-in for an event destination), its secret in `stripe_event_destination_secret`.
   */
  thinEventDestination?: boolean;
  /** The service's logger; default silent. A test that checks a warning passes one writing to memory. */
  logger?: Logger;
}

export async function startBillingHarness(
  database: TestDatabase,
  stripeServer: StripeServer,
  rules: HarnessRules = { holdUntilPaid: true, graceDays: 3 },
): Promise<BillingHarness> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const superKey = `sk_test_billing_${process.pid}_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`;
  const platform = new Stripe(superKey, { host: stripeServer.host, port: stripeServer.port, protocol: 'http', maxNetworkRetries: 0 });
  const endpoint = await platform.webhookEndpoints.create({
    url: `${url}/api/am/monetization/webhooks/stripe/carbon.super`,
    enabled_events: ['*'],
    connect: true,
    ...(rules.webhookApiVersion ? { api_version: rules.webhookApiVersion as Stripe.WebhookEndpointCreateParams.ApiVersion } : {}),
  });
  // Thin events reach only a v2 event destination (a v1 endpoint refuses their types); its
  // signing secret is shown once, on create, when included.
  const destination = rules.thinEventDestination
    ? await platform.v2.core.eventDestinations.create({
        name: 'meterline meter error reports',
        type: 'webhook_endpoint',
        event_payload: 'thin',
        enabled_events: ['v1.billing.meter.error_report_triggered'],
        events_from: ['self', 'other_accounts'],
        webhook_endpoint: { url: `${url}/api/am/monetization/webhooks/stripe/carbon.super` },
        include: ['webhook_endpoint.signing_secret'],
      })
    : undefined;
  const acmeKey = `${superKey}_acme`;
  const acmePlatform = new Stripe(acmeKey, { host: stripeServer.host, port: stripeServer.port, protocol: 'http', maxNetworkRetries: 0 });
  const acmeEndpoint = await acmePlatform.webhookEndpoints.create({ url: `${url}/api/am/monetization/webhooks/stripe/acme.com`, enabled_events: ['*'], connect: true });
  const base = harnessConfig(database, stripeServer, { superKey, otherKey: `${superKey}_other` });
  const jwt = base.auth.jwt!;
  const config = parseConfig(
    {
      database: { apim_db: database.config },
      auth: { jwt: { secret: jwt.secret, issuer: jwt.issuer, audience: jwt.audience } },
      apim: { monetization: { monetization_impl: 'stripe', stripe: base.apim.monetization.stripe, additional_attributes: base.apim.monetization.additional_attributes } },
      logging: { level: 'silent' },
      tenants: [
        {
          domain: 'carbon.super',
          id: -1234,
          monetization_info: {
            billing_engine_platform_account_key: superKey,
            stripe_webhook_secret: endpoint.secret,
            ...(destination?.webhook_endpoint?.signing_secret ? { stripe_event_destination_secret: destination.webhook_endpoint.signing_secret } : {}),
            hold_until_paid: rules.holdUntilPaid,
            payment_grace_period_days: rules.graceDays,
          },
        },
        { domain: 'acme.com', id: 7, monetization_info: { billing_engine_platform_account_key: acmeKey, stripe_webhook_secret: acmeEndpoint.secret } },
        // A tenant without a webhook secret: its deliveries are refused.
        { domain: 'nosecret.com', id: 9, monetization_info: { billing_engine_platform_account_key: `${superKey}_nosecret` } },
      ],
    },
    {},
    'billing-harness',
  );
  const service = await startService({ config, logger: rules.logger ?? createLogger('silent'), port, clock: () => new Date(stripeServer.clock.now() * 1000) });
  return {
    url,
    service,
    config,
    platform,
    webhookSecret: endpoint.secret!,
    acme: { platform: acmePlatform, webhookSecret: acmeEndpoint.secret! },
    token: (sub, scopes, email) => mintToken(jwt, { subject: sub, tenant: undefined, scopes, ...(email ? { email } : {}) }),
    async call(method, path, bearer, body, headers = {}) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text && (response.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
    },
    close: () => service.close(),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Through the REST API: a FIXEDRATE policy at `price` USD a month, a published API on it
 * monetized with a new connected account, and a subscriber's application subscribed to it
 * (no saved card, so its invoices are sent, not charged).
 */
/**
 * Defines the file's tests once per test database, each with its own billing harness (with
 * `rules`) on one local Stripe server shared by the file. The getters are valid inside hooks and tests.
 */
export function forEachBillingHarness(
  rules: HarnessRules,
  define: (harness: () => BillingHarness, kind: TestDatabaseKind, stripeServer: () => StripeServer) => void,
): void {
  let stripeServer: StripeServer | undefined;
  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0 });
  });
  afterAll(() => stripeServer?.close());
  forEachTestDatabase((kind, database) => {
    let harness: BillingHarness | undefined;
    beforeAll(async () => {
      harness = await startBillingHarness(database(), stripeServer!, rules);
    });
    afterAll(() => harness?.close());
    define(
      () => harness ?? unready('billing harness'),
      kind,
      () => stripeServer ?? unready('Stripe server'),
    );
  });
}

export async function fixedPriceSubscription(harness: BillingHarness, options: { price?: string; subscriber?: string } = {}) {
  const { token, call, platform } = harness;
  const subscriberName = options.subscriber ?? uniqueName('sub');
  const admin = token('admin', SCOPES.admin);
  const publisher = token('pat', SCOPES.publisher);
  const subscriber = token(subscriberName, SCOPES.subscriber, `${subscriberName}@example.com`);
  const policy = (await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: options.price ?? '10.00' }))).body;
  const name = uniqueName('Api');
  const api = (await call('POST', `${PUBLISHER}/apis`, publisher, { name, version: '1.0.0', context: `/${name.toLowerCase()}`, policies: [policy.policyName] })).body;
  await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher);
  const account = (await platform.accounts.create({ type: 'express' })).id;
  await call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: account } });
  const app = (await call('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
  const created = await call('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: app.applicationId, apiId: api.id, throttlingPolicy: policy.policyName });
  return {
    subscriptionId: created.body.subscriptionId as string,
    status: created.body.status as string,
    account,
    apiId: api.id as string,
    applicationId: app.applicationId as string,
    throttlingPolicy: policy.policyName as string,
    subscriber,
    publisher,
  };
}
