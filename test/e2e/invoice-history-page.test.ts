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
 * their status, amounts and, for unpaid ones, the link to pay — in a real browser.
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

  it('shows past invoices with their status and the pay link of the unpaid one', async () => {
    const { call, platform } = harness;
    const { subscriptionId, account, subscriber } = await fixedPriceSubscription(harness, { price: '1250.00', subscriber: 'kim' });
    // The first invoice is paid; the period closes and the second stays open (send_invoice).
    const first = (await platform.invoices.list({}, { stripeAccount: account })).data[0]!;
    await platform.invoices.pay(first.id!, { paid_out_of_band: true }, { stripeAccount: account });
    stripeServer.clock.advance(32 * 86_400);
    await stripeServer.webhooks.flush();
    const records = (await call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/invoices`, subscriber)).body.list as Array<{ invoiceId: string; status: string; hostedInvoiceUrl: string }>;
    expect(records.map((r) => r.status)).toEqual(['OPEN', 'PAID']);

    const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    const url = `${harness.url}/devportal/subscriptions/${subscriptionId}/invoice`;
    await page.goto(url);
    await page.fill('textarea[name=token]', subscriber);
    await Promise.all([page.waitForURL(url), page.click('button[type=submit]')]);

    const rows = await page.$$eval('[data-section=history] tbody tr', (trs) =>
      trs.map((tr) => ({
        invoice: tr.getAttribute('data-invoice'),
        status: tr.querySelector('[data-field=status] .status')?.textContent,
        total: tr.querySelector('[data-field=total]')?.textContent,
        pay: tr.querySelector('[data-field=pay-invoice]')?.getAttribute('href') ?? null,
      })),
    );
    expect(rows).toEqual([
      { invoice: records[0]!.invoiceId, status: 'OPEN', total: '1,250.00 USD', pay: records[0]!.hostedInvoiceUrl },
      { invoice: records[1]!.invoiceId, status: 'PAID', total: '1,250.00 USD', pay: null },
    ]);
    expect(await page.textContent('[data-field=no-payment-link]')).toContain('An issued invoice is still unpaid');
    const shot = join(mkdtempSync(join(tmpdir(), 'meterline-history-')), 'history.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    await page.close();
  }, 60_000);
});
