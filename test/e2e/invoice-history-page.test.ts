import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser } from 'playwright-core';
import { fixedPriceSubscription, startBillingHarness, type BillingHarness } from '../helpers/billing-harness';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { DEVPORTAL } from '../helpers/rest-harness';
import { describeWith, launchChromium } from '../helpers/optional-parts';
import { STORY_START } from '../helpers/test-clock';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';

/**
 * The invoice page lists the subscription's issued invoices (kept by the billing webhooks) with
 * the period each pays for, their status, amounts, the link to pay the unpaid ones (to view the
 * others) and the engine's PDF of each — in a real browser.
 */

describeWith('browser', 'the invoice history in Chromium', () => {
  let stripeServer: StripeServer;
  let database: TestDatabase;
  let harness: BillingHarness;
  let browser: Browser;

  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0, startAt: STORY_START });
    database = await createTestDatabase({ kind: 'sqlite' });
    harness = await startBillingHarness(database, stripeServer, { holdUntilPaid: false, graceDays: 3 });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await harness?.close();
    await database?.destroy();
    await stripeServer?.close();
  });

  it('shows past invoices with the period they pay for, their status, the pay link of the unpaid one and every PDF', async () => {
    const { call, platform } = harness;
    const { subscriptionId, account, subscriber } = await fixedPriceSubscription(harness, { price: '1250.00', subscriber: 'kim' });
    // The first invoice is paid; the period closes and the second stays open (send_invoice).
    const first = (await platform.invoices.list({}, { stripeAccount: account })).data[0]!;
    await platform.invoices.pay(first.id!, { paid_out_of_band: true }, { stripeAccount: account });
    stripeServer.clock.advance(32 * 86_400);
    await stripeServer.webhooks.flush();
    const records = (await call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, subscriber)).body.list as Array<{
      invoiceId: string;
      status: string;
      hostedInvoiceUrl: string;
      invoicePdfUrl: string;
      periodStart: string;
      periodEnd: string;
    }>;
    expect(records.map((r) => r.status)).toEqual(['OPEN', 'PAID']);
    // Each shows the service period its (in-advance) fee line pays for: Stripe's own period of the
    // first invoice (subscription_create) is empty, and the renewal's is the month before.
    const stripeInvoices = (await platform.invoices.list({}, { stripeAccount: account })).data;
    const linePeriod = (id: string) => stripeInvoices.find((invoice) => invoice.id === id)!.lines.data[0]!.period;
    const day = (seconds: number) => new Date(seconds * 1000).toISOString().slice(0, 10);
    expect(first.period_start).toBe(first.period_end);
    const periods = records.map((r) => `${day(linePeriod(r.invoiceId).start)} – ${day(linePeriod(r.invoiceId).end)}`);
    expect(records.map((r) => `${r.periodStart.slice(0, 10)} – ${r.periodEnd.slice(0, 10)}`)).toEqual(periods);
    expect(records[1]!.periodStart < records[1]!.periodEnd && records[1]!.periodEnd <= records[0]!.periodStart).toBe(true);
    // The engine's PDF of each invoice, paid or not, served where the link points.
    for (const record of records) {
      expect(record.invoicePdfUrl).toMatch(/^http:\/\/(127\.0\.0\.1|localhost):\d+\//);
      const pdf = await fetch(record.invoicePdfUrl);
      expect([pdf.status, pdf.headers.get('content-type')]).toEqual([200, 'application/pdf']);
      expect(Buffer.from(await pdf.arrayBuffer()).subarray(0, 5).toString()).toBe('%PDF-');
    }

    const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    const url = `${harness.url}/devportal/subscriptions/${subscriptionId}/invoice`;
    await page.goto(url);
    await page.fill('textarea[name=token]', subscriber);
    await Promise.all([page.waitForURL(url), page.click('button[type=submit]')]);

    const rows = await page.$$eval('[data-section=history] tbody tr', (trs) =>
      trs.map((tr) => ({
        invoice: tr.getAttribute('data-invoice'),
        status: tr.querySelector('[data-field=status] .status')?.textContent,
        period: tr.querySelector('[data-field=period]')?.textContent,
        total: tr.querySelector('[data-field=total]')?.textContent,
        pay: tr.querySelector('[data-field=pay-invoice]')?.getAttribute('href') ?? null,
        view: tr.querySelector('[data-field=view-invoice]')?.getAttribute('href') ?? null,
        pdf: tr.querySelector('[data-field=invoice-pdf]')?.getAttribute('href') ?? null,
      })),
    );
    expect(rows).toEqual([
      { invoice: records[0]!.invoiceId, status: 'OPEN', period: periods[0], total: '1,250.00 USD', pay: records[0]!.hostedInvoiceUrl, view: null, pdf: records[0]!.invoicePdfUrl },
      { invoice: records[1]!.invoiceId, status: 'PAID', period: periods[1], total: '1,250.00 USD', pay: null, view: records[1]!.hostedInvoiceUrl, pdf: records[1]!.invoicePdfUrl },
    ]);
    expect(await page.textContent('[data-field=no-payment-link]')).toContain('An issued invoice is still unpaid');
    const shot = join(mkdtempSync(join(tmpdir(), 'meterline-history-')), 'history.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    await page.close();
  }, 60_000);
});
