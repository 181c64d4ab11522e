import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { migrateLatest } from '../helpers/migrations';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { createApi, createApplication, createPolicy, monetize, connectedAccount, roleTokens, subscribe } from '../helpers/rest-fixtures';
import { DEVPORTAL, policyBody, startRestHarness, uniqueName, type RestHarness } from '../helpers/rest-harness';
import { describeWith, launchChromium } from '../helpers/optional-parts';
import { DEFAULT_AGGREGATION_DELAY_SECONDS, startStripeServer, type StripeServer } from '../../dev/stripe-server';

/**
 * The developer portal's invoice page in a real browser (Debian's chromium, headless, driven by
 * playwright-core): sign in with a token, see the pending invoice, and check that the amounts on
 * the page are the ones the REST API returns — read from the page and from a saved screenshot.
 * Runs once, on SQLite.
 */
const VIEWPORT = { width: 1100, height: 900 };

describeWith('browser', 'the invoice page in Chromium', () => {
  let stripeServer: StripeServer;
  let database: TestDatabase;
  let rest: RestHarness;
  let browser: Browser;
  let shots: string;

  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0 });
    database = await createTestDatabase({ kind: 'sqlite' });
    await migrateLatest(database.knex);
    rest = await startRestHarness(database, stripeServer);
    shots = mkdtempSync(join(tmpdir(), 'meterline-screenshots-'));
    // playwright launches chromium with a fresh temporary profile (user-data-dir) and removes it on close.
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await rest?.close();
    await database?.destroy();
    await stripeServer?.close();
  });

  /** A subscriber on a per-request plan (0.0005 USD) with 1,234 calls reported. */
  async function billedSubscription(subscriberName: string) {
    const tokens = roleTokens(rest, undefined, { publisher: 'pat', subscriber: subscriberName });
    const tier = await createPolicy(rest, tokens.admin, policyBody(uniqueName('PerCall'), { plan: 'DYNAMICRATE', price: '0.0005' }));
    const api = await createApi(rest, tokens.publisher, [tier.policyName]);
    await monetize(rest, tokens.publisher, api.id, await connectedAccount(rest));
    const applicationId = await createApplication(rest, tokens.subscriber, 'forecaster');
    const subscriptionId = await subscribe(rest, tokens.subscriber, applicationId, api.id, tier.policyName);
    const now = new Date(stripeServer.clock.now() * 1000);
    const tenant = { domain: 'carbon.super', id: -1234 };
    await rest.service.engine.reportUsage({
      subscription: {
        uuid: subscriptionId,
        api: { uuid: api.id, name: api.name, version: '1.0.0', provider: 'pat', tenant },
        application: { uuid: applicationId, name: 'forecaster' },
        subscriber: { userId: subscriberName, email: `${subscriberName}@example.com` },
        policy: { uuid: tier.policyId, name: tier.policyName, tenant, billingPlan: 'COMMERCIAL', pricing: { plan: 'DYNAMICRATE', currency: 'usd', billingCycle: 'month', pricePerRequest: '0.0005' } },
      },
      quantity: 1234,
      windowStart: now,
      windowEnd: now,
      identifier: `page-${subscriptionId}`,
    });
    stripeServer.clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS); // Stripe aggregates meter events asynchronously
    return { tokens, api, subscriptionId };
  }

  async function signIn(page: Page, url: string, token: string): Promise<void> {
    await page.goto(url);
    expect(new URL(page.url()).pathname).toBe('/devportal/login');
    await page.fill('textarea[name=token]', token);
    await Promise.all([page.waitForURL(url), page.click('button[type=submit]')]);
  }

  /** Width and height from a PNG's IHDR chunk. */
  function pngSize(file: Buffer): { width: number; height: number } {
    expect(file.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(file.subarray(12, 16).toString('ascii')).toBe('IHDR');
    return { width: file.readUInt32BE(16), height: file.readUInt32BE(20) };
  }

  it('after signing in, the subscriber sees the pending invoice with the amounts the API returns', async () => {
    const { tokens, api, subscriptionId } = await billedSubscription('sam');
    const usage = await rest.call('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}/usage`, { token: tokens.subscriber });
    expect(usage.status).toBe(200);
    const expected = usage.body.properties as Record<string, string>;
    expect(expected.Total).toBe('0.62');

    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    const url = `${rest.url}/devportal/subscriptions/${subscriptionId}/invoice`;
    await signIn(page, url, tokens.subscriber);

    // The session cookie cannot be read by scripts, is never sent cross-site, and stays in the portal.
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'meterline_devportal', httpOnly: true, sameSite: 'Strict', path: '/devportal' });
    expect(await page.evaluate('document.cookie')).toBe('');

    const field = (name: string) => page.locator(`[data-field="${name}"]`);
    expect(await field('api-name').textContent()).toBe(`${api.name} 1.0.0`);
    expect(await field('period-start').textContent()).toBe(expected['Period Start']!.slice(0, 10));
    expect(await field('period-end').textContent()).toBe(expected['Period End']!.slice(0, 10));
    expect(await field('currency').textContent()).toBe(expected.Currency);
    for (const [name, key] of [['subtotal', 'Subtotal'], ['total', 'Total'], ['amount-due', 'Amount Due'], ['tax', 'Tax']] as const) {
      expect(await field(name).getAttribute('data-amount')).toBe(expected[key]);
      expect(await field(name).textContent()).toBe(`${expected[key]} USD`);
    }
    const lines = page.locator('[data-line]');
    expect(await lines.count()).toBe(1);
    expect(await lines.locator('[data-field="quantity"]').textContent()).toBe('1,234');
    expect(await lines.locator('[data-field="unit-price"]').textContent()).toBe('0.0005 USD');
    expect(await lines.locator('[data-field="amount"]').getAttribute('data-amount')).toBe('0.62');
    expect(await lines.locator('[data-field="api"]').textContent()).toBe(api.name);
    // What was bought, in words, with the API's name (not the engine's product name).
    expect(await lines.locator('[data-field="description"]').textContent()).toBe(`${api.name} · 1,234 calls × 0.0005 USD`);

    // The screenshot: a real PNG of the rendered page, whose visible text holds the API's amounts.
    const file = join(shots, 'invoice.png');
    await page.screenshot({ path: file, fullPage: true });
    const png = readFileSync(file);
    const size = pngSize(png);
    expect(size.width).toBe(VIEWPORT.width);
    expect(size.height).toBeGreaterThanOrEqual(300);
    expect(png.length).toBeGreaterThan(10_000);
    const visible = await page.locator('main').innerText();
    expect(visible).toContain(`Total\t${expected.Total} USD`);
    expect(visible).toContain(`Amount due\t${expected['Amount Due']} USD`);
    await context.close();
  }, 60_000);

  it('without a session the page sends the browser to sign in; a bad token is refused there', async () => {
    const { subscriptionId } = await billedSubscription('ann');
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    await page.goto(`${rest.url}/devportal/subscriptions/${subscriptionId}/invoice`);
    expect(new URL(page.url()).pathname).toBe('/devportal/login');
    await page.fill('textarea[name=token]', 'not-a-token');
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/devportal/login')), page.click('button[type=submit]')]);
    expect(response.status()).toBe(401);
    expect(await page.locator('[data-field="error"]').textContent()).toBe('The access token is not valid');
    expect(await context.cookies()).toEqual([]);
    await context.close();
  }, 60_000);

  it('another subscriber, signed in, gets "not found" for someone else\'s invoice; signing out ends the session', async () => {
    const { subscriptionId } = await billedSubscription('bea');
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    const mallory = rest.token({ sub: 'mallory', scopes: ['apim:subscribe'] });
    await page.goto(`${rest.url}/devportal/login?next=/devportal/subscriptions/${subscriptionId}/invoice`);
    await page.fill('textarea[name=token]', mallory);
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().includes('/invoice')), page.click('button[type=submit]')]);
    expect(response.status()).toBe(404);
    expect(await page.locator('[data-field="message"]').textContent()).toBe('There is no such subscription.');
    expect(await page.locator('main').innerText()).not.toContain('USD');

    const own = await billedSubscription('mallory');
    await page.goto(`${rest.url}/devportal/subscriptions/${own.subscriptionId}/invoice`);
    await Promise.all([page.waitForURL(/\/devportal\/login$/), page.click('text=Sign out')]);
    expect(await context.cookies()).toEqual([]);
    await context.close();
  }, 60_000);
});
