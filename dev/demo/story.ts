import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Stripe from 'stripe';
import { currencyExponent, formatMinorUnits, toMinorUnits } from '../../src/domain/money';
import { DemoClock, stripeServerClock } from './clock';
import { ACCESS_CACHE_MS, startDemoGateway } from './gateway';
import { STRIPE_WEBHOOK_EVENTS } from '../../plugins/stripe/webhooks';
import { demoPlatformKey, startDemoMeterline } from './meterline';
import type { DemoOutput } from './output';
import { Cleanup, startStripeChild } from './processes';
import { ADMIN, DEVPORTAL, PUBLISHER, RestClient, stripeControl } from './rest-client';
import { addDemoTeamsChannel, showTeamsCards, type TeamsNotifications } from './teams-receiver';
import { sendTraffic } from './traffic';

export const STORY_STEPS = 13;

/** The plans of the story: per request with a monthly base fee, and a flat monthly plan. */
const PER_CALL = { name: 'PerCall', pricePerRequest: '0.002', baseFee: '5.00' } as const;
const GOLD = { name: 'Gold', fixedPrice: '20.00' } as const;
const CURRENCY = 'USD';

const SCOPES = {
  admin: ['apim:admin', 'apim:tier_view', 'apim:tier_manage', 'apim:monetization_usage_publish'],
  publisher: ['apim:api_view', 'apim:api_create', 'apim:api_publish', 'apim:api_manage', 'apim:subscription_view'],
  subscriber: ['apim:subscribe', 'apim:sub_manage'],
  gateway: ['apim:usage_ingest'],
} as const;

export interface StoryOptions {
  calls: number;
  /** `dist/dev/stripe-server/cli.js`: the local Stripe server, started as a child process. */
  stripeServerScript: string;
}

/** Everything a newcomer (or a test) needs afterwards; printed as the `demo-summary:` line. */
export interface DemoSummary {
  meterlineUrl: string;
  gatewayUrl: string;
  /** The subscriber's key at the demo gateway (`apikey` header). */
  apiKey: string;
  stripeServerUrl: string;
  stripeServerPid: number;
  ports: number[];
  configPath: string;
  apiId: string;
  applicationId: string;
  subscriptionId: string;
  connectedAccount: string;
  invoicePageUrl: string;
  subscriberToken: string;
  publisherToken: string;
  /** The tenant admin's token (apim:admin and the policy scopes), for the admin REST API. */
  adminToken: string;
  currency: string;
  calls: { sent: number; succeeded: number; failed: number; refusedWhileOnHold: number; byStatus: Record<string, number> };
  eventsPublished: number;
  /** The pending invoice right after publishing: the month's calls plus the next base fee. */
  pendingAfterPublish: { total: string; expected: string };
  paidInvoices: Array<{ invoiceId: string; billingReason: string | null; total: string; status: string }>;
  /** The pending invoice at the end (the new period). */
  pendingInvoice: { total: string; periodStart: string; periodEnd: string };
  revenue: string;
  /** What carbon.super's MS Teams channel (the local stand-in) received. */
  notifications: TeamsNotifications;
}

type Invoice = { invoiceId: string; status: string; total: string; billingReason: string | null; hostedInvoiceUrl: string | null; periodStart: string | null; periodEnd: string | null };

/**
 * The whole monetization story, through Meterline's REST API as its users would drive it. Each
 * step says what it did; anything the demo starts is registered with `cleanup` first.
 */
export async function runStory(out: DemoOutput, cleanup: Cleanup, options: StoryOptions): Promise<DemoSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'meterline-demo-'));
  cleanup.add('the demo directory', async () => rmSync(dir, { recursive: true, force: true }));

  const stripeServer = await out.step('stripe-server', 'Start the local Stripe-compatible test server (child process)', async () => {
    const child = await startStripeChild(resolve(options.stripeServerScript), () => undefined);
    cleanup.add('the local Stripe server', child.stop);
    out.detail(`listening on ${child.url} (pid ${child.pid}); accepts any sk_test_... key, keeps everything in memory`);
    return child;
  });
  const clock = new DemoClock(stripeServerClock(stripeServer.url));
  cleanup.add('the clock follower', async () => clock.stop());
  const platformKey = demoPlatformKey();
  const platform = new Stripe(platformKey, { host: stripeServer.host, port: stripeServer.port, protocol: 'http', maxNetworkRetries: 2, telemetry: false });

  const { started: meterline, teams } = await out.step('meterline', 'Start Meterline (embedded SQLite, Stripe engine on the local server)', async () => {
    // The tenant admin's webhook endpoint, listening to connected accounts too; its secret goes
    // in the config. The URL is set once Meterline has its port.
    const endpoint = await platform.webhookEndpoints.create({ url: 'http://127.0.0.1:9/pending', enabled_events: [...STRIPE_WEBHOOK_EVENTS], connect: true });
    const started = await startDemoMeterline({ dir, billing: { engine: 'stripe', server: stripeServer, secrets: { platformKey, webhookSecret: endpoint.secret! } }, clock: clock.now });
    cleanup.add('Meterline', () => started.service.close());
    await platform.webhookEndpoints.update(endpoint.id, { url: `${started.url}/api/am/monetization/webhooks/stripe/carbon.super` });
    await clock.sync();
    clock.keepInStep();
    out.detail(`REST API on ${started.url}; database ${join(dir, 'meterline.db')}`);
    out.detail(`configuration ${started.configPath} (log: ${started.logPath})`);
    out.detail(`webhook endpoint ${started.url}/api/am/monetization/webhooks/stripe/carbon.super registered (connect: true)`);
    const client = new RestClient(started.url);
    const teams = await addDemoTeamsChannel((...args) => client.call(...args), started.token('admin', SCOPES.admin));
    cleanup.add('the Teams stand-in', teams.receiver.close);
    out.detail(`MS Teams channel "Ops on Teams" gets every notification of carbon.super (a local stand-in for its incoming webhook: ${teams.receiver.url})`);
    return { started, teams };
  });
  const rest = new RestClient(meterline.url);
  const tokens = {
    admin: meterline.token('admin', SCOPES.admin),
    publisher: meterline.token('pat', SCOPES.publisher, 'pat@publisher.example'),
    subscriber: meterline.token('sam', SCOPES.subscriber, 'sam@subscriber.example'),
    gateway: meterline.token('demo-gateway', SCOPES.gateway),
  };
  const deliverWebhooks = () => stripeControl(stripeServer.url, '/webhooks/flush');

  await out.step('policies', 'Admin creates a DYNAMICRATE and a FIXEDRATE subscription policy', async () => {
    const limit = { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 10_000 } };
    await rest.call('POST', `${ADMIN}/throttling/policies/subscription`, tokens.admin, {
      body: {
        policyName: PER_CALL.name, displayName: 'Per call', description: 'Pay per successful call, plus a monthly base fee', defaultLimit: limit, billingPlan: 'COMMERCIAL',
        monetization: { monetizationPlan: 'DYNAMICRATE', properties: { pricePerRequest: PER_CALL.pricePerRequest, fixedPrice: PER_CALL.baseFee, currencyType: CURRENCY, billingCycle: 'month' } },
      },
    });
    await rest.call('POST', `${ADMIN}/throttling/policies/subscription`, tokens.admin, {
      body: {
        policyName: GOLD.name, displayName: 'Gold', description: 'A flat monthly price', defaultLimit: limit, billingPlan: 'COMMERCIAL',
        monetization: { monetizationPlan: 'FIXEDRATE', properties: { fixedPrice: GOLD.fixedPrice, currencyType: CURRENCY, billingCycle: 'month' } },
      },
    });
    out.detail(`${PER_CALL.name}: ${PER_CALL.pricePerRequest} ${CURRENCY} per request + ${PER_CALL.baseFee} ${CURRENCY} base fee a month`);
    out.detail(`${GOLD.name}: ${GOLD.fixedPrice} ${CURRENCY} a month (billing plans created in the platform account)`);
  });

  const apiId = await out.step('api', 'Publisher creates the "Hello" API on both tiers and publishes it', async () => {
    const api = await rest.call<{ id: string }>('POST', `${PUBLISHER}/apis`, tokens.publisher, {
      body: { name: 'Hello', version: '1.0.0', context: '/hello', policies: [PER_CALL.name, GOLD.name] },
    });
    await rest.call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, tokens.publisher, { expect: 200 });
    out.detail(`API ${api.id} is PUBLISHED`);
    return api.id;
  });

  const connectedAccount = await out.step('monetize', "Publisher opens a Stripe Connect account and monetizes the API with it", async () => {
    // Connect onboarding happens in Stripe, not in Meterline: the publisher ends up with an acct_... id.
    const account = await platform.accounts.create({ type: 'express', country: 'US', business_profile: { name: 'Hello Inc.' } });
    await rest.call('POST', `${PUBLISHER}/apis/${apiId}/monetize`, tokens.publisher, { body: { enabled: true, properties: { ConnectedAccountKey: account.id } } });
    out.detail(`connected account ${account.id}; the API's product and prices now live there`);
    return account.id;
  });

  const { applicationId, subscriptionId } = await out.step('subscribe', `Subscriber creates an application and subscribes it on ${PER_CALL.name}`, async () => {
    const app = await rest.call<{ applicationId: string }>('POST', `${DEVPORTAL}/applications`, tokens.subscriber, { body: { name: 'greeter', throttlingPolicy: 'Unlimited' } });
    const subscription = await rest.call<{ subscriptionId: string; status: string }>('POST', `${DEVPORTAL}/subscriptions`, tokens.subscriber, {
      body: { applicationId: app.applicationId, apiId, throttlingPolicy: PER_CALL.name },
    });
    out.detail(`application ${app.applicationId}, subscription ${subscription.subscriptionId}: ${subscription.status}`);
    out.detail('(hold_until_paid = true: access starts once the first invoice, the base fee in advance, is paid)');
    return { applicationId: app.applicationId, subscriptionId: subscription.subscriptionId };
  });
  const invoicesOf = async () => (await rest.call<{ list: Invoice[] }>('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, tokens.subscriber)).list;
  /** The subscriber pays: on real Stripe with a card on the hosted page; the local server has no card processing, so it is marked paid out of band. */
  const pay = async (invoice: Invoice) => {
    await platform.invoices.pay(invoice.invoiceId, { paid_out_of_band: true }, { stripeAccount: connectedAccount });
    await deliverWebhooks();
  };

  const { gateway, apiKey, refusedWhileOnHold } = await out.step('gateway', 'Start the demo gateway (accessGuard + UsageRecorder) and pay the first invoice', async () => {
    const gateway = await startDemoGateway(meterline.url, tokens.gateway, clock.now);
    cleanup.add('the demo gateway', () => gateway.close());
    const apiKey = gateway.issueKey({ apiId, applicationId, subscriptionId, tenant: 'carbon.super' });
    out.detail(`gateway on ${gateway.url}: GET ${gateway.url}/hello/v1/greeting with header "apikey: ${apiKey}"`);
    const refused = await fetch(`${gateway.url}/hello/v1/greeting`, { headers: { apikey: apiKey } });
    const refusal = (await refused.json()) as { description?: string };
    if (refused.status !== 403) throw new Error(`a call before the first payment answered ${refused.status}, expected 403`);
    out.detail(`a call now: ${refused.status} "${refusal.description}"`);
    // Without a saved card the subscription is invoiced (send_invoice), and Stripe sends a new
    // subscription's first invoice an hour after it starts (https://docs.stripe.com/subscriptions/invoices).
    await clock.advanceTo(Math.ceil(clock.now().getTime() / 1000) + 3600);
    out.detail('an hour passes on the local Stripe server\'s clock: Stripe sends the first invoice (a draft until then)');
    await deliverWebhooks();
    const first = (await invoicesOf()).find((i) => i.status === 'OPEN');
    if (!first) throw new Error('the first invoice (the base fee) did not arrive through the webhook');
    await pay(first);
    const paid = (await invoicesOf()).find((i) => i.invoiceId === first.invoiceId);
    if (paid?.status !== 'PAID') throw new Error(`the first invoice is ${paid?.status ?? 'missing'} after payment, expected PAID`);
    out.detail(`first invoice ${first.invoiceId} (${first.total} ${CURRENCY}) paid -> webhook invoice.paid -> subscription UNBLOCKED`);
    await new Promise((r) => setTimeout(r, ACCESS_CACHE_MS + 100)); // the guard's cached "ON_HOLD" expires
    return { gateway, apiKey, refusedWhileOnHold: 1 };
  });

  const traffic = await out.step('calls', `Send ${options.calls} calls through the gateway`, async () => {
    // The deadline only guards against a hung gateway: on a loaded 2-core CI machine 3000 calls
    // have taken over 30 s (a 30 s deadline failed 2 of 2 runs there), so it is generous.
    const result = await sendTraffic(gateway.url, apiKey, { count: options.calls, concurrency: 16, deadlineMs: 180_000 });
    await gateway.flushUsage();
    const problems = gateway.usageProblems();
    if (problems.length > 0) throw new Error(`usage recording: ${problems.slice(0, 3).join('; ')}`);
    const statuses = Object.entries(result.byStatus).map(([s, n]) => `${n} × ${s}`).join(', ');
    out.detail(`${statuses} in ${(result.elapsedMs / 1000).toFixed(1)} s; all ${result.sent} recorded by the UsageRecorder into Meterline`);
    out.detail(`billable: the ${result.succeeded} successful calls; the ${result.failed} others are stored as not billed`);
    return result;
  });

  const eventsPublished = await out.step('publish-usage', 'Admin runs the usage publisher (POST .../monetization/publish-usage)', async () => {
    await clock.sync();
    const started = await rest.call<{ runId: string }>('POST', `${ADMIN}/monetization/publish-usage`, tokens.admin, { expect: 202 });
    let last = '';
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = await rest.call<{ state: string; status: string; progress: { runId: string | null; phase: string; subscriptionsTotal: number; subscriptionsDone: number; eventsPublished: number; recordsSent: number; failures: unknown[] } }>(
        'GET', `${ADMIN}/monetization/publish-usage/status`, tokens.admin,
      );
      const p = status.progress;
      const line = `${status.state} ${p.phase}: subscriptions ${p.subscriptionsDone}/${p.subscriptionsTotal}, meter events sent ${p.recordsSent}, calls published ${p.eventsPublished}`;
      if (line !== last) out.detail(line);
      last = line;
      if (p.runId === started.runId && status.state === 'COMPLETED') {
        if (status.status !== 'SUCCESSFULL' || p.failures.length > 0) throw new Error(`the publisher finished ${status.status}: ${JSON.stringify(p.failures).slice(0, 500)}`);
        if (p.eventsPublished !== traffic.succeeded) throw new Error(`${p.eventsPublished} calls published, expected the ${traffic.succeeded} successful ones`);
        return p.eventsPublished;
      }
      if (Date.now() > deadline) throw new Error(`the publisher did not finish within 60 s (${line})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  const usageFee = perRequestCharge(traffic.succeeded, PER_CALL.pricePerRequest, CURRENCY);
  const baseFee = toMinorUnits(PER_CALL.baseFee, CURRENCY);
  const money = (minor: bigint) => formatMinorUnits(minor, CURRENCY);
  const pendingUsage = () => rest.call<{ properties: Record<string, string> }>('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/usage`, tokens.subscriber);

  const pendingAfterPublish = await out.step('pending-invoice', "Subscriber views the pending invoice (devportal .../usage)", async () => {
    // Stripe aggregates meter events asynchronously: let the local server's aggregation delay pass first.
    const { seconds } = (await (await fetch(`${stripeServer.url}/_test/billing/aggregation_delay`)).json()) as { seconds: number };
    await clock.advanceTo(Math.ceil(clock.now().getTime() / 1000) + seconds);
    const { properties } = await pendingUsage();
    const expected = money(usageFee + baseFee);
    out.detail(`${properties['Period Start']} -> ${properties['Period End']}: total ${properties.Total} ${properties.Currency}`);
    out.detail(`= ${traffic.succeeded} calls × ${PER_CALL.pricePerRequest} (${money(usageFee)}) + next month's base fee (${PER_CALL.baseFee})`);
    if (properties.Total !== expected) throw new Error(`the pending invoice is ${properties.Total}, expected ${expected}`);
    return { total: properties.Total, expected, periodEnd: properties['Period End']! };
  });

  await out.step('close-period', "A month passes on the local Stripe server's clock: the period closes and is invoiced", async () => {
    const end = Date.parse(pendingAfterPublish.periodEnd.replace(' UTC', 'Z').replace(' ', 'T'));
    if (Number.isNaN(end)) throw new Error(`cannot read the period end "${pendingAfterPublish.periodEnd}"`);
    await clock.advanceTo(end / 1000 + 3600 + 60); // Stripe keeps the renewal a draft for an hour, then finalizes it
    await deliverWebhooks();
    const cycle = (await invoicesOf()).filter((i) => i.billingReason === 'subscription_cycle');
    const issued = cycle[0];
    if (!issued) throw new Error('no invoice arrived for the closed period');
    // Exactly one period closed; two renewal invoices would mean the clock passed a second period end.
    if (cycle.length !== 1) throw new Error(`${cycle.length} renewal invoices after one period closed: ${cycle.map(describeInvoice).join('; ')}`);
    if (issued.total !== pendingAfterPublish.total) {
      // Say what Stripe billed, so a mismatch names its cause (which usage was counted, for when).
      const atStripe = await platform.invoices.retrieve(issued.invoiceId, { expand: ['lines'] }, { stripeAccount: connectedAccount });
      const lines = atStripe.lines.data.map((l) => `${l.quantity ?? '?'} × ${l.description ?? ''} [${iso(l.period.start)} – ${iso(l.period.end)}] = ${l.amount}`).join('; ');
      throw new Error(
        `the period's invoice is ${issued.total}, the pending invoice said ${pendingAfterPublish.total} (period end ${pendingAfterPublish.periodEnd}); ` +
          `${describeInvoice(issued)}; at Stripe ${atStripe.status}, finalized ${iso(atStripe.status_transitions.finalized_at)}: ${lines}`,
      );
    }
    out.detail(`clock moved to ${clock.now().toISOString()}; invoice ${issued.invoiceId}: ${issued.total} ${CURRENCY}, ${issued.status}`);
    await pay(issued);
    const paid = (await invoicesOf()).find((i) => i.invoiceId === issued.invoiceId);
    if (paid?.status !== 'PAID') throw new Error(`the period's invoice is ${paid?.status ?? 'missing'} after payment, expected PAID`);
    out.detail('the subscriber pays it (marked paid out of band: the local server has no card processing) -> PAID');
    return paid;
  });

  const { revenue, paidInvoices, pending } = await out.step('revenue', "Publisher checks the API's revenue (GET /apis/{apiId}/revenue)", async () => {
    const { properties } = await rest.call<{ properties: Record<string, string> }>('GET', `${PUBLISHER}/apis/${apiId}/revenue`, tokens.publisher);
    const revenue = properties[`Total Revenue (${CURRENCY})`];
    const paidInvoices = (await invoicesOf()).filter((i) => i.status === 'PAID');
    const expected = money(paidInvoices.reduce((sum, i) => sum + toMinorUnits(i.total, CURRENCY), 0n));
    if (revenue !== expected) throw new Error(`revenue is ${revenue ?? 'absent'}, the paid invoices add up to ${expected}`);
    out.detail(`${revenue} ${CURRENCY} = ${paidInvoices.map((i) => `${i.total} (${i.billingReason})`).join(' + ')}`);
    const pending = (await pendingUsage()).properties;
    return { revenue, paidInvoices, pending };
  });

  const notifications = await out.step('notifications', "Ops' MS Teams channel shows what happened (Adaptive Cards the dispatcher delivered)", () =>
    showTeamsCards((line) => out.detail(line), (...args) => rest.call(...args), tokens.admin, teams),
  );

  return {
    meterlineUrl: meterline.url,
    gatewayUrl: gateway.url,
    apiKey,
    stripeServerUrl: stripeServer.url,
    stripeServerPid: stripeServer.pid,
    ports: [meterline.url, gateway.url, stripeServer.url].map((u) => Number(new URL(u).port)),
    configPath: meterline.configPath,
    apiId,
    applicationId,
    subscriptionId,
    connectedAccount,
    invoicePageUrl: `${meterline.url}/devportal/subscriptions/${subscriptionId}/invoice`,
    subscriberToken: tokens.subscriber,
    publisherToken: tokens.publisher,
    adminToken: tokens.admin,
    currency: CURRENCY,
    calls: { sent: traffic.sent, succeeded: traffic.succeeded, failed: traffic.failed, refusedWhileOnHold, byStatus: traffic.byStatus },
    eventsPublished,
    pendingAfterPublish: { total: pendingAfterPublish.total, expected: pendingAfterPublish.expected },
    paidInvoices: paidInvoices.map((i) => ({ invoiceId: i.invoiceId, billingReason: i.billingReason, total: i.total, status: i.status })),
    pendingInvoice: { total: pending.Total!, periodStart: pending['Period Start']!, periodEnd: pending['Period End']! },
    revenue: revenue!,
    notifications,
  };
}

const iso = (unixSeconds: number | null | undefined) => (unixSeconds == null ? 'never' : new Date(unixSeconds * 1000).toISOString());
const describeInvoice = (i: Invoice) => `${i.invoiceId} ${i.status} ${i.total} for ${i.periodStart ?? '?'} – ${i.periodEnd ?? '?'}`;

/** calls × price in minor units, exact on decimals and rounded half up once on the total (as Stripe bills a metered line). */
export function perRequestCharge(calls: number, pricePerRequest: string, currency: string): bigint {
  const [whole, fraction = ''] = pricePerRequest.split('.');
  const scaled = BigInt(`${whole}${fraction}`) * BigInt(calls) * 10n ** BigInt(currencyExponent(currency));
  const divisor = 10n ** BigInt(fraction.length);
  return (scaled * 2n + divisor) / (2n * divisor);
}
