import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import Stripe from 'stripe';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { StripeClients } from '../../plugins/stripe/stripe.clients';
import { parseStripeOptions, type StripeOptions } from '../../plugins/stripe/stripe.options';
import { retryingHttpClient } from '../../plugins/stripe/retry';

/**
 * Where the contract suite runs: the local Stripe server (dev/stripe-server, in process over
 * HTTP) or Stripe's own test mode. Everything else in the suite is the same for both.
 */
export interface ContractTarget {
  readonly name: 'local Stripe server' | 'Stripe test mode';
  /** The platform account's client, built as the engine builds it (stripe.clients.ts). */
  readonly stripe: Stripe;
  /** The connected account the engine's per-API calls go to (`Stripe-Account`). */
  readonly account: string;
  /** Unique per run: names, metadata and idempotency keys carry it, so reruns never collide. */
  readonly runId: string;
  /** The API version every request is sent at (`Stripe-Version`). */
  readonly apiVersion: string;
  /** Now on the target's clock, Unix seconds (the local server's is simulated). */
  now(): number;
  /** Lets time pass for asynchronous work (meter aggregation, error reports): local moves its clock, live waits. */
  pass(seconds: number): Promise<void>;
  /** How long, on the target's clock, asynchronous work may take before the suite gives up. */
  readonly asyncBudgetSeconds: number;
  /**
   * The id of the `v1.billing.meter.error_report_triggered` thin event about `meterId`, or
   * undefined when there is none yet. Local: read from the delivery to the endpoint `prepare`
   * made; Stripe: listed with GET /v2/core/events?object_id= (https://docs.stripe.com/api/v2/core/events/list).
   */
  meterErrorReport(meterId: string): Promise<string | undefined>;
  /** Called before the suite sends the meter event that should be reported. */
  prepareMeterErrorReports(): Promise<void>;
  close(): Promise<void>;
}

/** The tenant the engine's client is built for (any name: one tenant, one platform key). */
const TENANT = 'contract.test';
export const METER_ERROR_REPORT_TYPE = 'v1.billing.meter.error_report_triggered';

/** Unique per run, short enough for Stripe's 100-character meter event names. */
export function newRunId(): string {
  return `c${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

/**
 * The engine's client for a platform key: StripeClients.forTenant, the engine's own construction
 * (its retry layer, timeout, no SDK retries). With `apiVersion` (an upgrade check), the same
 * construction plus that version: the engine itself has no option for it, the SDK pins it.
 */
export function engineClient(key: string, options: StripeOptions, apiVersion?: string): Stripe {
  if (apiVersion === undefined) {
    const tenants = { find: (domain: string) => (domain === TENANT ? { domain, id: 1, platformAccountKey: key, secrets: {} } : undefined) };
    return new StripeClients(tenants, options).forTenant(TENANT);
  }
  return new Stripe(key, {
    apiVersion: apiVersion as Stripe.LatestApiVersion,
    maxNetworkRetries: 0,
    timeout: options.timeout_ms,
    telemetry: false,
    appInfo: { name: 'Meterline' },
    httpClient: retryingHttpClient({ retries: options.retries, initialDelayMs: options.retry_initial_delay_ms, maxDelayMs: options.retry_max_delay_ms }),
    ...(options.api_host === undefined ? {} : { host: options.api_host }),
    ...(options.api_port === undefined ? {} : { port: options.api_port }),
    ...(options.api_protocol === undefined ? {} : { protocol: options.api_protocol }),
  });
}

/** 2030-01-15T00:00:00Z: the local server's clock starts here, so nothing depends on today's date. */
const LOCAL_START = Date.UTC(2030, 0, 15) / 1000;

/** The local Stripe server, in process over HTTP, with a connected account made for the run. */
export async function localTarget(): Promise<ContractTarget> {
  const runId = newRunId();
  const server: StripeServer = await startStripeServer({ port: 0, startAt: LOCAL_START });
  const key = `sk_test_contract_${runId}`;
  const stripe = engineClient(key, parseStripeOptions({ api_host: server.host, api_port: server.port, api_protocol: 'http', retries: 0 }));
  // Test setup, not an engine call: Stripe's connected account is given (STRIPE_TEST_CONNECTED_ACCOUNT).
  const account = await stripe.accounts.create({ type: 'standard', country: 'US', business_profile: { name: `Meterline contract ${runId}` } });
  let reportEndpoint: string | undefined;
  return {
    name: 'local Stripe server',
    stripe,
    account: account.id,
    runId,
    apiVersion: Stripe.API_VERSION,
    now: () => server.clock.now(),
    pass: async (seconds) => {
      server.clock.advance(seconds);
    },
    asyncBudgetSeconds: 600,
    async prepareMeterErrorReports() {
      // Thin events are delivered to event destinations; the delivery carries the event's id.
      if (reportEndpoint) return;
      const destination = await stripe.v2.core.eventDestinations.create({
        name: 'meterline contract: meter error reports',
        type: 'webhook_endpoint',
        event_payload: 'thin',
        enabled_events: [METER_ERROR_REPORT_TYPE],
        events_from: ['self', 'other_accounts'],
        webhook_endpoint: { url: 'http://127.0.0.1:9/meter-error-reports' },
      });
      reportEndpoint = destination.id;
    },
    async meterErrorReport(meterId) {
      await server.webhooks.flush();
      const delivery = server.webhooks
        .deliveries()
        .find((d) => d.endpointId === reportEndpoint && d.eventType === METER_ERROR_REPORT_TYPE && JSON.parse(d.payload).related_object?.id === meterId);
      return delivery?.eventId;
    },
    close: () => server.close(),
  };
}

/** What the environment asks of the Stripe test-mode half. */
export type LivePlan =
  | { run: false; line: string }
  | { run: true; key: string; account: string; apiVersion: string | undefined; asyncBudgetSeconds: number };

export class LiveConfigurationError extends Error {
  override readonly name = 'LiveConfigurationError';
}

export const LIVE_SKIP_LINE =
  'stripe contract (Stripe test mode): skipped: STRIPE_TEST_SECRET_KEY and STRIPE_TEST_CONNECTED_ACCOUNT are not set ' +
  '(to run it: STRIPE_TEST_SECRET_KEY=sk_test_... STRIPE_TEST_CONNECTED_ACCOUNT=acct_... npm run test:stripe-live)';

const API_VERSION = /^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/;

/**
 * Reads STRIPE_TEST_SECRET_KEY, STRIPE_TEST_CONNECTED_ACCOUNT, STRIPE_API_VERSION_CANDIDATE and
 * STRIPE_CONTRACT_ASYNC_BUDGET_SECONDS. Neither key nor account: skipped, with the line to print.
 * A live key (`sk_live_`), a restricted or unknown key, an account id that is not `acct_…`, or
 * only one of the two: refused, before any request is made.
 */
export function livePlan(env: NodeJS.ProcessEnv = process.env): LivePlan {
  const key = env.STRIPE_TEST_SECRET_KEY?.trim() || undefined;
  const account = env.STRIPE_TEST_CONNECTED_ACCOUNT?.trim() || undefined;
  if (key === undefined && account === undefined) return { run: false, line: LIVE_SKIP_LINE };
  if (key?.startsWith('sk_live_')) {
    throw new LiveConfigurationError('STRIPE_TEST_SECRET_KEY is a live key (sk_live_...): the contract suite creates and deletes objects and runs only in test mode; use an sk_test_... key');
  }
  if (key === undefined || !key.startsWith('sk_test_')) {
    throw new LiveConfigurationError('STRIPE_TEST_SECRET_KEY must be a test-mode secret key (sk_test_...) of the platform account');
  }
  if (account === undefined || !/^acct_[A-Za-z0-9]+$/.test(account)) {
    throw new LiveConfigurationError('STRIPE_TEST_CONNECTED_ACCOUNT must be the id (acct_...) of a test-mode connected account of that platform');
  }
  const apiVersion = env.STRIPE_API_VERSION_CANDIDATE?.trim() || undefined;
  if (apiVersion !== undefined && !API_VERSION.test(apiVersion)) {
    throw new LiveConfigurationError(`STRIPE_API_VERSION_CANDIDATE must be a Stripe API version such as 2026-10-28.endive, got "${apiVersion}"`);
  }
  const budget = Number(env.STRIPE_CONTRACT_ASYNC_BUDGET_SECONDS ?? 300);
  if (!Number.isInteger(budget) || budget < 1) throw new LiveConfigurationError('STRIPE_CONTRACT_ASYNC_BUDGET_SECONDS must be a whole number of seconds');
  return { run: true, key, account, apiVersion, asyncBudgetSeconds: budget };
}

/** Stripe's test mode, with the given platform key and connected account. */
export async function liveTarget(plan: Extract<LivePlan, { run: true }>): Promise<ContractTarget> {
  await preflight(plan);
  const stripe = engineClient(plan.key, parseStripeOptions({}), plan.apiVersion);
  return {
    name: 'Stripe test mode',
    stripe,
    account: plan.account,
    runId: newRunId(),
    apiVersion: plan.apiVersion ?? Stripe.API_VERSION,
    now: () => Math.floor(Date.now() / 1000),
    pass: (seconds) => delay(seconds * 1000),
    asyncBudgetSeconds: plan.asyncBudgetSeconds,
    prepareMeterErrorReports: async () => undefined,
    async meterErrorReport(meterId) {
      const page = await stripe.v2.core.events.list({ object_id: meterId, types: [METER_ERROR_REPORT_TYPE], limit: 20 }, { stripeContext: plan.account });
      return page.data[0]?.id;
    },
    close: async () => undefined,
  };
}

/**
 * One request without retries before the suite starts, so a run that cannot reach Stripe, or whose
 * key or account is wrong, fails at once with what to fix instead of after every test's retries.
 * The connected account must take charges: the suite clones a card and charges a subscription there
 * (`charges_enabled`: https://docs.stripe.com/api/accounts/object#account_object-charges_enabled).
 */
async function preflight(plan: Extract<LivePlan, { run: true }>): Promise<void> {
  const probe = new Stripe(plan.key, { maxNetworkRetries: 0, timeout: 15_000, telemetry: false, ...(plan.apiVersion ? { apiVersion: plan.apiVersion as Stripe.LatestApiVersion } : {}) });
  let connected: Stripe.Account;
  try {
    connected = await probe.accounts.retrieve(plan.account);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    if (error instanceof Stripe.errors.StripeConnectionError) throw new LiveConfigurationError(`cannot reach Stripe (api.stripe.com) from this machine: ${why}`);
    throw new LiveConfigurationError(`STRIPE_TEST_CONNECTED_ACCOUNT ${plan.account} could not be read with STRIPE_TEST_SECRET_KEY (is it a connected account of that platform, in test mode?): ${why}`);
  }
  if (!connected.charges_enabled) {
    throw new LiveConfigurationError(`STRIPE_TEST_CONNECTED_ACCOUNT ${plan.account} cannot take charges yet (charges_enabled: false): finish its onboarding in test mode`);
  }
}
