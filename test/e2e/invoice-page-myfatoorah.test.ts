import { type Browser, type Page } from 'playwright-core';
import { startMyFatoorahServer, type MyFatoorahServer } from '../../dev/myfatoorah-server';
import { parseConfig } from '../../src/config/load';
import type { MeterlineConfig } from '../../src/config/schema';
import type { PolicyPricing } from '../../src/domain/model';
import { mintToken } from '../../src/http/auth/tokens';
import { createLogger } from '../../src/logger';
import { rate } from '../../src/rating/rate';
import { startService, type RunningService } from '../../src/service';
import { nextBoundaryAfter } from '../../src/usage/windows';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { migrateLatest } from '../helpers/migrations';
import { describeWith, launchChromium } from '../helpers/optional-parts';
import { ADMIN, DEVPORTAL, PUBLISHER, policyBody, SCOPES, uniqueName } from '../helpers/rest-harness';

/**
 * The developer portal's invoice page in a real browser (headless Chromium) for an engine that
 * only collects payment: Meterline started with `monetization_impl = "myfatoorah"` against the
 * local MyFatoorah server, everything through the REST API as a subscriber would. The pending
 * invoice is Meterline's own (src/invoicing/pending-invoice.ts: the period not yet closed, its
 * usage rated by rate(), in KWD with 3 decimals, no pay link), the history lists the issued
 * SUBSCRIPTION_START invoice with MyFatoorah's pay link while unpaid and PAID after the signed
 * webhook; WSO2's usage routes answer the same pending invoice. Runs once, on SQLite, with the
 * MyFatoorah server's clock (it stands still unless advanced) as Meterline's.
 */
const TOKEN = 'mf_test_kwt_invoice_page';
const SECRET = 'kwt-invoice-page-webhook-secret';
const JWT = { secret: 'myfatoorah-invoice-page-secret-0123456789', issuer: 'meterline', audience: 'meterline' };
const START = new Date('2030-01-15T09:30:00Z');
const VIEWPORT = { width: 1100, height: 900 };

/** Graduated KWD plan: calls 1–2 at 0.250, the rest at 0.125; 5.000 a month in advance; 1.500 once. */
const pricing: PolicyPricing = {
  plan: 'DYNAMICRATE',
  currency: 'kwd',
  billingCycle: 'month',
  pricePerRequest: '0.250',
  fixedPrice: '5.000',
  setupFee: '1.500',
  usageRate: {
    model: 'graduated',
    tiers: [
      { upTo: 2, unitPrice: '0.250', flatPrice: '0' },
      { upTo: null, unitPrice: '0.125', flatPrice: '0' },
    ],
  },
};

interface Invoice {
  invoiceId: string;
  billingReason: string;
  status: string;
  total: string;
  currency: string;
  periodStart: string;
  periodEnd: string;
  hostedInvoiceUrl: string | null;
}

describeWith('browser', 'the invoice page in Chromium, MyFatoorah engine', () => {
  let mf: MyFatoorahServer;
  let database: TestDatabase;
  let service: RunningService;
  let browser: Browser;
  let jwt: NonNullable<MeterlineConfig['auth']['jwt']>;

  beforeAll(async () => {
    mf = await startMyFatoorahServer({ startAt: START, accounts: [{ token: TOKEN, country: 'KWT', webhook: { url: null, secret: SECRET, retries: 0 } }] });
    database = await createTestDatabase({ kind: 'sqlite' });
    await migrateLatest(database.knex);
    const config = parseConfig(
      {
        database: { apim_db: database.config },
        auth: { jwt: JWT },
        apim: { monetization: { monetization_impl: 'myfatoorah', myfatoorah: { api_base_url: mf.url } } },
        logging: { level: 'silent' },
        tenants: [{ domain: 'carbon.super', id: -1234, monetization_info: { myfatoorah_api_token: TOKEN, myfatoorah_webhook_secret: SECRET } }],
      },
      {},
      'test',
    );
    jwt = config.auth.jwt!;
    service = await startService({ config, logger: createLogger('silent'), port: 0, clock: () => mf.clock.now() });
    mf.accounts.configureWebhook(TOKEN, { url: `${service.url}/api/am/monetization/webhooks/myfatoorah/carbon.super` });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
    await database?.destroy();
    await mf?.close();
  });

  const token = (subject: string, scopes: readonly string[]) => mintToken(jwt, { subject, tenant: undefined, scopes, email: `${subject}@example.com` });
  async function call(method: string, path: string, bearer: string, body?: unknown, status = 200) {
    const response = await fetch(`${service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (response.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${response.status} ${text}`);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return (text === '' ? undefined : JSON.parse(text)) as any;
  }

  async function signIn(page: Page, url: string, bearer: string): Promise<void> {
    await page.goto(url);
    expect(new URL(page.url()).pathname).toBe('/devportal/login');
    await page.fill('textarea[name=token]', bearer);
    await Promise.all([page.waitForURL(url), page.click('button[type=submit]')]);
  }

  it('shows Meterline\'s pending invoice in KWD and the issued first invoice with its pay link, PAID after the webhook', async () => {
    const admin = token('admin', SCOPES.admin);
    const publisher = token('pat', SCOPES.publisher);
    const subscriber = token('sam', SCOPES.subscriber);
    const tierName = uniqueName('Graduated');
    const body = policyBody(tierName, { plan: 'DYNAMICRATE', price: pricing.pricePerRequest, currency: 'KWD' });
    Object.assign(body.monetization!.properties, { fixedPrice: '5.000', setupFee: '1.500', usageModel: 'graduated', tiers: JSON.stringify((pricing.usageRate as { tiers: unknown }).tiers) });
    await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, body, 201);
    const apiName = uniqueName('Hello');
    const api = await call('POST', `${PUBLISHER}/apis`, publisher, { name: apiName, version: '1.0.0', context: `/${apiName.toLowerCase()}`, policies: [tierName] }, 201);
    await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher);
    await call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { BillingContact: 'billing@hello.example' } }, 201);
    const application = await call('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' }, 201);
    const subscription = await call('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: application.applicationId, apiId: api.id, throttlingPolicy: tierName }, 201);
    const subscriptionId: string = subscription.subscriptionId;

    // The first invoice: issued at subscribe, submitted to MyFatoorah, its pay link recorded.
    const invoices = async () => (await call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, subscriber)).list as Invoice[];
    const [first] = await invoices();
    expect(first).toMatchObject({ billingReason: 'SUBSCRIPTION_START', status: 'OPEN', total: '6.500', currency: 'KWD', hostedInvoiceUrl: expect.stringContaining(`${mf.url}/KWT/ie/`) });
    const anchor = new Date(first!.periodStart);
    const cycle = { anchorMs: anchor.getTime(), interval: 'month' as const, intervalCount: 1 };
    const periodEnd = new Date(nextBoundaryAfter(cycle, anchor.getTime()));
    const nextEnd = new Date(nextBoundaryAfter(cycle, periodEnd.getTime()));
    const expected = (calls: bigint) =>
      rate({ pricing, apiName, calls, period: { start: anchor, end: periodEnd }, baseFeePeriod: { start: periodEnd, end: nextEnd }, include: { setupFee: false, baseFee: true, usage: true } });

    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    const url = `${service.url}/devportal/subscriptions/${subscriptionId}/invoice`;
    await signIn(page, url, subscriber);
    // The pending invoice's parts: outside the history (which shows each issued invoice's lines too).
    const field = (name: string) => page.locator(`[data-field="${name}"]:not([data-section="history"] *)`);
    const pendingLines = () => page.locator('[data-line]:not([data-section="history"] *)');
    const history = () => page.locator(`[data-section="history"] [data-invoice="${first!.invoiceId}"]`);

    // Unpaid: the pending invoice has no calls yet and no pay link (nothing issued); the first invoice has MyFatoorah's.
    expect(await pendingLines().locator('[data-field="description"]').allTextContents()).toEqual(expected(0n).lines.map((l) => l.description));
    expect(await field('total').getAttribute('data-amount')).toBe('5.000');
    expect(await field('pay').count()).toBe(0);
    expect(await history().locator('[data-field="status"]').textContent()).toBe('OPEN');
    expect(await history().locator('[data-field="total"]').textContent()).toBe('6.500 KWD');
    expect(await history().locator('[data-field="pay-invoice"]').getAttribute('href')).toBe(first!.hostedInvoiceUrl);

    // Paid on MyFatoorah: the signed webhook, confirmed with GetPaymentStatus, records it PAID.
    mf.invoices.pay(Number(first!.invoiceId));
    await mf.webhooks.flush();
    expect((await invoices())[0]).toMatchObject({ invoiceId: first!.invoiceId, status: 'PAID' });

    // Five calls, ten minutes on: the pending invoice rates them (graduated) with the next base fee.
    const at = mf.clock.advance(600);
    const gateway = token('gateway', ['apim:usage_ingest']);
    const events = Array.from({ length: 5 }, (_, i) => ({
      eventId: `mf-page-${subscriptionId}-${i}`,
      timestamp: at.getTime() - 1000 * (i + 1),
      apiId: api.id,
      applicationId: application.applicationId,
      subscriptionId,
      httpStatus: 200,
      tenant: 'carbon.super',
    }));
    expect(await call('POST', '/api/am/usage/v1/events', gateway, { events })).toMatchObject({ accepted: 5, rejected: 0 });
    const rated = expected(5n);
    expect(rated.total).toBe(5875n);

    await page.goto(url);
    const lines = pendingLines();
    expect(await lines.locator('[data-field="description"]').allTextContents()).toEqual(rated.lines.map((l) => l.description));
    expect(await lines.locator('[data-field="quantity"]').allTextContents()).toEqual(['1', '2', '3']);
    expect(await lines.locator('[data-field="unit-price"]').allTextContents()).toEqual(['5.000 KWD', '0.250 KWD', '0.125 KWD']);
    expect(await lines.locator('[data-field="amount"]').allTextContents()).toEqual(['5.000 KWD', '0.500 KWD', '0.375 KWD']);
    expect(await field('currency').textContent()).toBe('KWD');
    expect(await field('total').textContent()).toBe('5.875 KWD');
    expect(await field('amount-due').getAttribute('data-amount')).toBe('5.875');
    expect(await field('period-start').textContent()).toBe(anchor.toISOString().slice(0, 10));
    expect(await field('period-end').textContent()).toBe(nextEnd.toISOString().slice(0, 10));
    expect(await field('pay').count()).toBe(0);
    expect(await history().locator('[data-field="status"]').textContent()).toBe('PAID');
    expect(await history().locator('[data-field="pay-invoice"]').count()).toBe(0);
    expect(await history().locator('[data-field="view-invoice"]').getAttribute('href')).toBe(first!.hostedInvoiceUrl);
    await context.close();

    // WSO2's usage routes (developer portal and publisher) answer the same pending invoice.
    for (const [path, bearer] of [
      [`${DEVPORTAL}/subscriptions/${subscriptionId}/usage`, subscriber],
      [`${PUBLISHER}/subscriptions/${subscriptionId}/usage`, publisher],
    ] as const) {
      const usage = (await call('GET', path, bearer)).properties as Record<string, string>;
      expect(usage).toMatchObject({
        Currency: 'KWD',
        Total: '5.875',
        Subtotal: '5.875',
        'Amount Due': '5.875',
        'Amount Paid': '0.000',
        Paid: 'false',
        'Invoice ID': '',
        'Customer Email': 'sam@example.com',
        'Period Start': `${anchor.toISOString().slice(0, 19).replace('T', ' ')} UTC`,
        'Period End': `${periodEnd.toISOString().slice(0, 19).replace('T', ' ')} UTC`,
      });
    }
  }, 60_000);
});
