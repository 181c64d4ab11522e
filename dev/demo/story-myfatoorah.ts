import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { PolicyPricing } from '../../src/domain/model';
import { formatMinorUnits, toMinorUnits } from '../../src/domain/money';
import { escapeHtml } from '../../src/http/pages/html';
import { rate, type Rating } from '../../src/rating/rate';
import { nextBoundaryAfter } from '../../src/usage/windows';
import { DemoClock, myFatoorahServerClock } from './clock';
import { ACCESS_CACHE_MS, startDemoGateway } from './gateway';
import { startDemoMeterline } from './meterline';
import type { DemoOutput } from './output';
import { Cleanup, startMyFatoorahChild } from './processes';
import { ADMIN, DEVPORTAL, engineServerControl, PUBLISHER, RestClient } from './rest-client';
import { sendTraffic } from './traffic';

export const MYFATOORAH_STORY_STEPS = 12;

/**
 * The plan of the story, as the admin types it into WSO2's policy API (docs/pricing.md): a setup
 * fee once, a monthly base fee in advance, and the month's calls in graduated tiers, in KWD (three
 * decimals; the last tier's rate is finer than a fils, so its line is rounded once).
 */
const TIERED = {
  name: 'Tiered',
  currency: 'KWD',
  setupFee: '5.000',
  baseFee: '10.000',
  tiers: [
    { upTo: 200, unitPrice: '0.010', flatPrice: '0' },
    { upTo: 500, unitPrice: '0.005', flatPrice: '0' },
    { upTo: null, unitPrice: '0.0015', flatPrice: '0' },
  ],
} as const;

/** The same plan as Meterline's pricing model, to cross-check the invoices with `rate()`. */
const PRICING: PolicyPricing = {
  plan: 'DYNAMICRATE',
  currency: TIERED.currency.toLowerCase(),
  billingCycle: 'month',
  pricePerRequest: TIERED.tiers[0].unitPrice,
  fixedPrice: TIERED.baseFee,
  setupFee: TIERED.setupFee,
  usageRate: { model: 'graduated', tiers: TIERED.tiers.map((t) => ({ ...t })) },
};

/** Meterline's invoicing options for the demo: Axway's late-usage delay, and a check every 5 s (the minimum). */
const INVOICING = { closeAfterMinutes: 120, checkIntervalSeconds: 5 };

const SCOPES = {
  admin: ['apim:admin', 'apim:tier_view', 'apim:tier_manage', 'apim:monetization_usage_publish'],
  publisher: ['apim:api_view', 'apim:api_create', 'apim:api_publish', 'apim:api_manage', 'apim:subscription_view'],
  subscriber: ['apim:subscribe', 'apim:sub_manage'],
  gateway: ['apim:usage_ingest'],
} as const;

export interface MyFatoorahStoryOptions {
  calls: number;
  /** `dist/dev/myfatoorah-server/cli.js`: the local MyFatoorah server, started as a child process. */
  myFatoorahServerScript: string;
}

type Invoice = {
  invoiceId: string;
  status: string;
  currency: string;
  total: string;
  billingReason: string | null;
  hostedInvoiceUrl: string | null;
  periodStart: string | null;
  periodEnd: string | null;
};

export interface PaidOwnInvoice {
  invoiceId: string;
  kind: string;
  total: string;
  status: string;
  payLink: string;
  periodStart: string;
  periodEnd: string;
  /** What `rate()` makes of the plan and the calls, the invoice's lines and total checked against it. */
  rated: { total: string; lines: Array<{ description: string; amount: string }> };
}

/** Printed as the `demo-summary:` line (`--engine myfatoorah`). */
export interface MyFatoorahDemoSummary {
  engine: 'myfatoorah';
  meterlineUrl: string;
  gatewayUrl: string;
  apiKey: string;
  myFatoorahServerUrl: string;
  myFatoorahServerPid: number;
  ports: number[];
  configPath: string;
  apiId: string;
  applicationId: string;
  subscriptionId: string;
  invoicePageUrl: string;
  subscriberToken: string;
  publisherToken: string;
  /** The tenant admin's token (apim:admin and the policy scopes), for the admin REST API. */
  adminToken: string;
  currency: string;
  plan: typeof TIERED;
  calls: { sent: number; succeeded: number; failed: number; byStatus: Record<string, number> };
  invoices: PaidOwnInvoice[];
  revenue: string;
}

/**
 * The story with MyFatoorah, which only collects payment: Meterline rates the usage and issues
 * the invoices itself (docs/invoicing.md), MyFatoorah makes a pay link of each (SendPayment) and
 * posts a signed webhook when it is paid, which Meterline confirms with GetPaymentStatus. Every
 * figure printed comes from Meterline's REST API, its invoice page or the MyFatoorah server; the
 * demo's own `rate()` of the plan it typed in and the calls it saw succeed only cross-checks them.
 */
export async function runMyFatoorahStory(out: DemoOutput, cleanup: Cleanup, options: MyFatoorahStoryOptions): Promise<MyFatoorahDemoSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'meterline-demo-'));
  cleanup.add('the demo directory', async () => rmSync(dir, { recursive: true, force: true }));
  // The tenant's MyFatoorah vendor account (Kuwait, KWD): its API token and webhook secret key.
  const account = { token: `mf_demo_${randomBytes(12).toString('hex')}`, webhookSecret: randomBytes(24).toString('base64url') };
  const money = (minor: bigint) => formatMinorUnits(minor, TIERED.currency);
  const minor = (amount: string) => toMinorUnits(amount, TIERED.currency);

  const mf = await out.step('myfatoorah-server', 'Start the local MyFatoorah-compatible test server (child process)', async () => {
    const accountsFile = join(dir, 'myfatoorah-accounts.json');
    writeFileSync(
      accountsFile,
      JSON.stringify({ accounts: [{ token: account.token, country: 'KWT', currencies: ['KWD'], webhook: { url: null, secret: account.webhookSecret, retries: 5, retryDelaySeconds: 10 } }] }),
      { mode: 0o600 },
    );
    const child = await startMyFatoorahChild(resolve(options.myFatoorahServerScript), accountsFile, () => undefined);
    cleanup.add('the local MyFatoorah server', child.stop);
    out.detail(`listening on ${child.url} (pid ${child.pid}); one vendor account: Kuwait, invoices in KWD, keeps everything in memory`);
    return child;
  });
  const clock = new DemoClock(myFatoorahServerClock(mf.url));
  cleanup.add('the clock follower', async () => clock.stop());

  const meterline = await out.step('meterline', 'Start Meterline (embedded SQLite, MyFatoorah engine on the local server)', async () => {
    await clock.sync();
    const started = await startDemoMeterline({
      dir,
      billing: { engine: 'myfatoorah', serverUrl: mf.url, apiToken: account.token, webhookSecret: account.webhookSecret, invoicing: INVOICING },
      clock: clock.now,
    });
    cleanup.add('Meterline', () => started.service.close());
    // In MyFatoorah's portal: Integration Settings → Webhook Settings, Webhook V2, this endpoint.
    const webhookUrl = `${started.url}/api/am/monetization/webhooks/myfatoorah/carbon.super`;
    await engineServerControl(mf.url, 'POST', '/webhooks/config', { token: account.token, url: webhookUrl });
    clock.keepInStep();
    out.detail(`REST API on ${started.url}; database ${join(dir, 'meterline.db')}`);
    out.detail(`configuration ${started.configPath} (log: ${started.logPath})`);
    out.detail(`monetization_impl = "myfatoorah", api_base_url = ${mf.url}; the tenant's myfatoorah_api_token and myfatoorah_webhook_secret from the environment`);
    out.detail(`webhook V2 endpoint ${webhookUrl} set on the vendor account (signed with its secret key)`);
    out.detail(`Meterline issues the invoices: a period is invoiced ${INVOICING.closeAfterMinutes} min after it ends (checked every ${INVOICING.checkIntervalSeconds} s)`);
    return started;
  });
  const rest = new RestClient(meterline.url);
  const tokens = {
    admin: meterline.token('admin', SCOPES.admin),
    publisher: meterline.token('pat', SCOPES.publisher, 'pat@publisher.example'),
    subscriber: meterline.token('sam', SCOPES.subscriber, 'sam@subscriber.example'),
    gateway: meterline.token('demo-gateway', SCOPES.gateway),
  };

  await out.step('policy', `Admin creates a COMMERCIAL DYNAMICRATE policy in ${TIERED.currency} with graduated tiers and a setup fee`, async () => {
    const limit = { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 10_000 } };
    await rest.call('POST', `${ADMIN}/throttling/policies/subscription`, tokens.admin, {
      body: {
        policyName: TIERED.name, displayName: 'Tiered', description: 'Graduated tiers per call, a monthly base fee and a setup fee', defaultLimit: limit, billingPlan: 'COMMERCIAL',
        monetization: {
          monetizationPlan: 'DYNAMICRATE',
          properties: { currencyType: TIERED.currency, billingCycle: 'month', fixedPrice: TIERED.baseFee, setupFee: TIERED.setupFee, usageModel: 'graduated', tiers: JSON.stringify(TIERED.tiers) },
        },
      },
    });
    // What Meterline stored, as WSO2's clients read it back.
    const policies = await rest.call<{ list: Array<{ policyName: string; monetization?: { properties?: Record<string, string> } }> }>('GET', `${ADMIN}/throttling/policies/subscription`, tokens.admin);
    const properties = policies.list.find((p) => p.policyName === TIERED.name)?.monetization?.properties;
    if (!properties?.tiers) throw new Error(`the policy ${TIERED.name} came back without its tiers: ${JSON.stringify(properties)}`);
    const tiers = JSON.parse(properties.tiers) as Array<{ upTo: number | null; unitPrice: string; flatPrice: string }>;
    let from = 1;
    for (const tier of tiers) {
      out.detail(`calls ${from.toLocaleString('en-US')}${tier.upTo === null ? '+' : `–${tier.upTo.toLocaleString('en-US')}`}: ${tier.unitPrice} ${properties.currencyType} a call${tier.flatPrice !== '0' ? ` + ${tier.flatPrice} flat` : ''}`);
      if (tier.upTo !== null) from = tier.upTo + 1;
    }
    out.detail(`${properties.usageModel}; base fee ${properties.fixedPrice} ${properties.currencyType} a ${properties.billingCycle}, in advance; setup fee ${properties.setupFee} ${properties.currencyType} once`);
    out.detail('(MyFatoorah has no plans: nothing is sent to it)');
  });

  const apiId = await out.step('api', `Publisher creates the "Hello" API on ${TIERED.name} and publishes it`, async () => {
    const api = await rest.call<{ id: string }>('POST', `${PUBLISHER}/apis`, tokens.publisher, { body: { name: 'Hello', version: '1.0.0', context: '/hello', policies: [TIERED.name] } });
    await rest.call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, tokens.publisher, { expect: 200 });
    out.detail(`API ${api.id} is PUBLISHED`);
    return api.id;
  });

  await out.step('monetize', 'Publisher monetizes the API (the money goes to the tenant\'s MyFatoorah account)', async () => {
    // WSO2's call needs a property: the deployment's additional attribute (MyFatoorah takes none of its own).
    await rest.call('POST', `${PUBLISHER}/apis/${apiId}/monetize`, tokens.publisher, { body: { enabled: true, properties: { BillingContact: 'billing@hello.example' } } });
    out.detail('monetization enabled (BillingContact billing@hello.example); Meterline keeps the API\'s tiers: MyFatoorah has no products or prices');
  });

  const subscriptionRef = { id: '' }; // set once subscribed
  const invoicesOf = async () => (await rest.call<{ list: Invoice[] }>('GET', `${DEVPORTAL}/subscriptions/${subscriptionRef.id}/invoices`, tokens.subscriber)).list;
  /**
   * The invoice's lines as MyFatoorah holds them (GetPaymentStatus with the tenant's token:
   * InvoiceItems, what the payer sees on its page), checked line by line and in total against
   * `rate()` of the plan; printed from MyFatoorah's answer.
   */
  const checkedLines = async (invoice: Invoice, rating: Rating): Promise<PaidOwnInvoice['rated']> => {
    const rated = { total: money(rating.total), lines: rating.lines.map((l) => ({ description: l.description, amount: money(l.amount) })) };
    if (invoice.currency !== TIERED.currency) throw new Error(`invoice ${invoice.invoiceId} is in ${invoice.currency}, the plan in ${TIERED.currency}`);
    const status = await fetch(`${mf.url}/v2/GetPaymentStatus`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ Key: invoice.invoiceId, KeyType: 'InvoiceId' }),
      signal: AbortSignal.timeout(30_000),
    });
    const answer = (await status.json()) as { IsSuccess: boolean; Data: { InvoiceValue: number; InvoiceDisplayValue: string; InvoiceItems: Array<{ ItemName: string; Quantity: number; UnitPrice: number }> } | null };
    if (!answer.IsSuccess || !answer.Data) throw new Error(`MyFatoorah's GetPaymentStatus of invoice ${invoice.invoiceId} answered ${status.status}: ${JSON.stringify(answer).slice(0, 300)}`);
    const items = answer.Data.InvoiceItems.map((item) => {
      const unit = toMinorUnits(String(item.UnitPrice), TIERED.currency);
      return { ...item, unitPrice: money(unit), amount: money(unit * BigInt(item.Quantity)) };
    });
    for (const item of items) {
      const each = item.Quantity === 1 ? '' : `  (${item.Quantity.toLocaleString('en-US')} × ${item.unitPrice})`;
      out.detail(`  ${item.amount.padStart(10)} ${TIERED.currency}  ${item.ItemName}${each}`);
    }
    out.detail(`  ${'-'.repeat(10)}`);
    out.detail(`  ${invoice.total.padStart(10)} ${invoice.currency}  total (MyFatoorah: ${answer.Data.InvoiceDisplayValue})`);
    const sameLines = items.length === rated.lines.length && items.every((item, i) => item.ItemName === rated.lines[i]!.description && item.amount === rated.lines[i]!.amount);
    if (!sameLines) throw new Error(`invoice ${invoice.invoiceId}'s lines at MyFatoorah ${JSON.stringify(items)} are not rate()'s ${JSON.stringify(rated.lines)}`);
    if (invoice.total !== rated.total) throw new Error(`invoice ${invoice.invoiceId} totals ${invoice.total} ${invoice.currency}, rate() says ${rated.total}`);
    return rated;
  };
  /**
   * The subscriber pays on MyFatoorah's invoice page (its test "Pay" button posts to
   * `<InvoiceURL>/pay`); MyFatoorah then posts the signed PAYMENT_STATUS_CHANGED webhook, which
   * Meterline verifies and confirms with GetPaymentStatus before recording the invoice PAID.
   */
  const pay = async (invoice: Invoice): Promise<Invoice> => {
    if (!invoice.hostedInvoiceUrl) throw new Error(`invoice ${invoice.invoiceId} has no pay link`);
    const page = await fetch(invoice.hostedInvoiceUrl);
    const html = await page.text();
    if (page.status !== 200 || !html.includes(`${invoice.total} ${invoice.currency}`)) throw new Error(`the pay link answered ${page.status} without the amount ${invoice.total} ${invoice.currency}`);
    const paid = await fetch(`${invoice.hostedInvoiceUrl}/pay`, { method: 'POST', redirect: 'manual' });
    if (paid.status !== 303) throw new Error(`paying on the invoice page answered ${paid.status}: ${(await paid.text()).slice(0, 300)}`);
    await engineServerControl(mf.url, 'POST', '/webhooks/flush');
    const after = (await invoicesOf()).find((i) => i.invoiceId === invoice.invoiceId);
    if (after?.status !== 'PAID') throw new Error(`invoice ${invoice.invoiceId} is ${after?.status ?? 'missing'} after the payment and its webhook, expected PAID`);
    return after;
  };

  const { applicationId, first } = await out.step('subscribe', `Subscriber subscribes on ${TIERED.name}: Meterline issues the first invoice, MyFatoorah makes its pay link`, async () => {
    const app = await rest.call<{ applicationId: string }>('POST', `${DEVPORTAL}/applications`, tokens.subscriber, { body: { name: 'greeter', throttlingPolicy: 'Unlimited' } });
    const subscription = await rest.call<{ subscriptionId: string; status: string }>('POST', `${DEVPORTAL}/subscriptions`, tokens.subscriber, {
      body: { applicationId: app.applicationId, apiId, throttlingPolicy: TIERED.name },
    });
    subscriptionRef.id = subscription.subscriptionId;
    out.detail(`application ${app.applicationId}, subscription ${subscription.subscriptionId}: ${subscription.status}`);
    const invoices = await invoicesOf();
    const first = invoices.find((i) => i.billingReason === 'SUBSCRIPTION_START');
    if (!first) throw new Error(`no subscription-start invoice after subscribing (invoices: ${JSON.stringify(invoices)})`);
    if (first.status !== 'OPEN') throw new Error(`the subscription-start invoice is ${first.status}, expected OPEN (submitted to MyFatoorah)`);
    const period = { start: new Date(first.periodStart!), end: new Date(first.periodEnd!) };
    out.detail(`invoice ${first.invoiceId} (${first.billingReason}) ${first.status}: ${first.total} ${first.currency} for ${day(first.periodStart)} – ${day(first.periodEnd)}; its lines at MyFatoorah:`);
    const rated = await checkedLines(first, rate({ pricing: PRICING, apiName: 'Hello', calls: 0n, period, include: { setupFee: true, baseFee: true, usage: false } }));
    out.detail(`= rate() of the plan (setup fee + the first month's base fee): ${rated.total} ${TIERED.currency}, line by line`);
    out.detail(`pay link (MyFatoorah's InvoiceURL): ${first.hostedInvoiceUrl}`);
    out.detail('(hold_until_paid = true: access starts once this invoice is paid)');
    return { applicationId: app.applicationId, first: { invoice: first, rated } };
  });
  const subscriptionId = subscriptionRef.id;

  const { gateway, apiKey, firstPaid } = await out.step('pay-first', 'Start the demo gateway; the subscriber pays the first invoice on MyFatoorah\'s page', async () => {
    const gateway = await startDemoGateway(meterline.url, tokens.gateway, clock.now);
    cleanup.add('the demo gateway', () => gateway.close());
    const apiKey = gateway.issueKey({ apiId, applicationId, subscriptionId, tenant: 'carbon.super' });
    out.detail(`gateway on ${gateway.url}: GET ${gateway.url}/hello/v1/greeting with header "apikey: ${apiKey}"`);
    const refused = await fetch(`${gateway.url}/hello/v1/greeting`, { headers: { apikey: apiKey } });
    const refusal = (await refused.json()) as { description?: string };
    if (refused.status !== 403) throw new Error(`a call before the first payment answered ${refused.status}, expected 403`);
    out.detail(`a call now: ${refused.status} "${refusal.description}"`);
    const paid = await pay(first.invoice);
    const deliveries = (await engineServerControl<{ data: Array<{ state: string; attempts: Array<{ status: number | null }> }> }>(mf.url, 'GET', '/webhooks/deliveries')).data;
    const delivered = deliveries.filter((d) => d.state === 'delivered').length;
    out.detail(`paid on ${first.invoice.hostedInvoiceUrl} -> signed webhook PAYMENT_STATUS_CHANGED (${delivered} delivered) -> confirmed with GetPaymentStatus -> ${paid.status}`);
    await new Promise((r) => setTimeout(r, ACCESS_CACHE_MS + 100)); // the guard's cached "ON_HOLD" expires
    const allowed = await fetch(`${gateway.url}/hello/v1/greeting?name=sam`, { headers: { apikey: apiKey } });
    const greeting = (await allowed.json()) as { message?: string };
    if (allowed.status !== 200) throw new Error(`a call after the first payment answered ${allowed.status}, expected 200`);
    out.detail(`subscription UNBLOCKED: a call now: ${allowed.status} "${greeting.message}"`);
    return { gateway, apiKey, firstPaid: paid };
  });

  const traffic = await out.step('calls', `Send ${options.calls} calls through the gateway`, async () => {
    const result = await sendTraffic(gateway.url, apiKey, { count: options.calls, concurrency: 16, deadlineMs: 30_000 });
    await gateway.flushUsage();
    const problems = gateway.usageProblems();
    if (problems.length > 0) throw new Error(`usage recording: ${problems.slice(0, 3).join('; ')}`);
    const statuses = Object.entries(result.byStatus).map(([s, n]) => `${n} × ${s}`).join(', ');
    out.detail(`${statuses} in ${(result.elapsedMs / 1000).toFixed(1)} s; all ${result.sent} recorded by the UsageRecorder into Meterline`);
    // The call made after the payment, to show access, succeeded too: it is billed with these.
    out.detail(`billable: the ${result.succeeded} successful calls and the one above; the ${result.failed} others are stored as not billed`);
    return { ...result, billable: result.succeeded + 1 };
  });

  const period = await out.step('close-period', `A month and ${INVOICING.closeAfterMinutes} minutes pass: Meterline closes the period and issues its invoice`, async () => {
    const end = Date.parse(first.invoice.periodEnd!);
    await clock.advanceTo(Math.ceil(end / 1000) + INVOICING.closeAfterMinutes * 60 + 60);
    out.detail(`clock moved to ${clock.now().toISOString()} (Meterline and the MyFatoorah server): the period ended ${new Date(end).toISOString()}`);
    const deadline = Date.now() + (INVOICING.checkIntervalSeconds + 20) * 1000;
    let issued: Invoice | undefined;
    for (;;) {
      issued = (await invoicesOf()).find((i) => i.billingReason === 'PERIOD');
      if (issued?.status === 'OPEN' || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (issued?.status !== 'OPEN') throw new Error(`no open invoice for the closed period within ${INVOICING.checkIntervalSeconds + 20} s (${JSON.stringify(issued ?? null)})`);
    out.detail(`the invoicing check froze the usage and rated it: invoice ${issued.invoiceId} (${issued.billingReason}) ${issued.status}: ${issued.total} ${issued.currency} for ${day(issued.periodStart)} – ${day(issued.periodEnd)}; its lines at MyFatoorah:`);
    const periodEnd = new Date(issued.periodEnd!);
    // The next month's base fee, in advance: the month after the closed one on the subscription's cycle.
    const cycle = { anchorMs: Date.parse(first.invoice.periodStart!), interval: PRICING.billingCycle, intervalCount: 1 };
    const nextEnd = new Date(nextBoundaryAfter(cycle, periodEnd.getTime()));
    const rated = await checkedLines(
      issued,
      rate({ pricing: PRICING, apiName: 'Hello', calls: BigInt(traffic.billable), period: { start: new Date(issued.periodStart!), end: periodEnd }, baseFeePeriod: { start: periodEnd, end: nextEnd }, include: { setupFee: false, baseFee: true, usage: true } }),
    );
    out.detail(`= rate() of the plan for the ${traffic.billable} successful calls and the next base fee: ${rated.total} ${TIERED.currency}, line by line`);
    out.detail(`pay link: ${issued.hostedInvoiceUrl}`);
    return { invoice: issued, rated };
  });

  const periodPaid = await out.step('pay-period', 'The subscriber pays the period\'s invoice on MyFatoorah\'s page', async () => {
    const paid = await pay(period.invoice);
    out.detail(`invoice ${paid.invoiceId}: ${paid.total} ${paid.currency} ${paid.status} (webhook verified and confirmed with GetPaymentStatus)`);
    return paid;
  });

  const revenue = await out.step('revenue', "Publisher checks the API's revenue (GET /apis/{apiId}/revenue)", async () => {
    const { properties } = await rest.call<{ properties: Record<string, string> }>('GET', `${PUBLISHER}/apis/${apiId}/revenue`, tokens.publisher);
    const revenue = properties[`Total Revenue (${TIERED.currency})`];
    const expected = money(minor(firstPaid.total) + minor(periodPaid.total));
    if (revenue !== expected) throw new Error(`revenue is ${revenue ?? 'absent'} (${JSON.stringify(properties)}), the paid invoices add up to ${expected}`);
    out.detail(`${revenue} ${TIERED.currency} = ${firstPaid.total} (${firstPaid.billingReason}) + ${periodPaid.total} (${periodPaid.billingReason})`);
    return revenue;
  });

  const invoicePageUrl = `${meterline.url}/devportal/subscriptions/${subscriptionId}/invoice`;
  await out.step('invoice-page', "Subscriber opens the invoice page: both invoices with their lines", async () => {
    const page = await fetch(invoicePageUrl, { headers: { cookie: `meterline_devportal=${tokens.subscriber}` } });
    const html = await page.text();
    if (page.status !== 200) {
      const said = /<title>([^<]*)<\/title>[\s\S]*?data-field="message">([^<]*)</.exec(html);
      throw new Error(`the invoice page answered ${page.status}${said ? ` "${said[1]}: ${said[2]}"` : ''}`);
    }
    for (const { invoice, rated } of [first, period]) {
      // The invoice's row in the page's list of issued invoices: its period, status, total and link.
      const row = new RegExp(`<tr data-invoice="${invoice.invoiceId}">([\\s\\S]*?)</tr>`).exec(html)?.[1];
      if (!row) throw new Error(`the invoice page does not list invoice ${invoice.invoiceId}`);
      const shown = {
        status: /data-field="status">[\s\S]*?>([A-Z_]+)</.exec(row)?.[1],
        total: /data-field="total" data-amount="([^"]*)"/.exec(row)?.[1],
        link: /href="([^"]*)"/.exec(row)?.[1],
      };
      if (shown.status !== 'PAID' || shown.total !== invoice.total || shown.link !== escapeHtml(invoice.hostedInvoiceUrl!)) {
        throw new Error(`the invoice page shows invoice ${invoice.invoiceId} as ${JSON.stringify(shown)}, expected PAID, ${invoice.total} and its pay link`);
      }
      // Its lines, under its row: description and exact amount, as rate() made them.
      const block = new RegExp(`<tr data-invoice-lines="${invoice.invoiceId}">([\\s\\S]*?)</table>`).exec(html)?.[1] ?? '';
      const kind = /data-field="invoice-kind">([^<]*)</.exec(block)?.[1] ?? '';
      const lines = [...block.matchAll(/<tr data-issued-line>[\s\S]*?data-field="description">([^<]*)<[\s\S]*?data-field="amount" data-amount="([^"]*)"/g)].map((m) => ({ description: m[1], amount: m[2] }));
      const expected = rated.lines.map((l) => ({ description: escapeHtml(l.description), amount: l.amount }));
      if (JSON.stringify(lines) !== JSON.stringify(expected)) throw new Error(`the invoice page shows the lines ${JSON.stringify(lines)} for invoice ${invoice.invoiceId}, rate() made ${JSON.stringify(expected)}`);
      out.detail(`${invoice.invoiceId} "${kind}": ${shown.total} ${invoice.currency} ${shown.status}, its ${lines.length} lines as issued, a link to MyFatoorah's page`);
    }
    out.detail(invoicePageUrl);
  });

  const summaryOf = (paid: Invoice, rated: PaidOwnInvoice['rated']): PaidOwnInvoice => ({
    invoiceId: paid.invoiceId,
    kind: paid.billingReason ?? '',
    total: paid.total,
    status: paid.status,
    payLink: paid.hostedInvoiceUrl ?? '',
    periodStart: paid.periodStart ?? '',
    periodEnd: paid.periodEnd ?? '',
    rated,
  });
  return {
    engine: 'myfatoorah',
    meterlineUrl: meterline.url,
    gatewayUrl: gateway.url,
    apiKey,
    myFatoorahServerUrl: mf.url,
    myFatoorahServerPid: mf.pid,
    ports: [meterline.url, gateway.url, mf.url].map((u) => Number(new URL(u).port)),
    configPath: meterline.configPath,
    apiId,
    applicationId,
    subscriptionId,
    invoicePageUrl,
    subscriberToken: tokens.subscriber,
    publisherToken: tokens.publisher,
    adminToken: tokens.admin,
    currency: TIERED.currency,
    plan: TIERED,
    calls: { sent: traffic.sent, succeeded: traffic.succeeded, failed: traffic.failed, byStatus: traffic.byStatus },
    invoices: [summaryOf(firstPaid, first.rated), summaryOf(periodPaid, period.rated)],
    revenue,
  };
}

function day(iso: string | null): string {
  return iso === null ? '?' : iso.slice(0, 10);
}
