import { existsSync } from 'node:fs';
import { portIsFree, processIsGone, startDemo, waitFor, type DemoRun } from '../helpers/demo-run';
import type { DemoSummary } from '../../dev/demo/story';

/**
 * `npm run demo` as a newcomer runs it: the built demo as a child process, on SQLite, with the
 * local Stripe server as its own child. What it prints is checked for the lines a newcomer needs,
 * for internal consistency and against Meterline's REST API while it is still up; after it stops
 * nothing it started is left (ports free, the Stripe child gone).
 */

function summaryOf(output: string): DemoSummary {
  const line = output.split('\n').find((l) => l.startsWith('demo-summary: '));
  if (!line) throw new Error(`no demo-summary line in:\n${output}`);
  return JSON.parse(line.slice('demo-summary: '.length)) as DemoSummary;
}

/**
 * A whole run takes 15-50 s; on a loaded 2-core CI machine (load ~20) it has taken longer, so the
 * limit only catches a hung demo. The checks decide the outcome, never this timing.
 */
const RUN_TIMEOUT_MS = 180_000;

const minor = (amount: string) => Math.round(Number(amount) * 100);

async function expectEverythingGone(summary: DemoSummary): Promise<void> {
  for (const port of summary.ports) expect(await portIsFree(port)).toBe(true);
  expect(processIsGone(summary.stripeServerPid)).toBe(true);
  expect(existsSync(summary.configPath)).toBe(false); // the temporary directory is removed
}

let running: DemoRun | undefined;
afterEach(() => {
  // A failed assertion must not leave a demo running (it stops its own children on SIGTERM).
  if (running && running.child.exitCode === null) running.child.kill('SIGTERM');
  running = undefined;
});

it('--exit runs the whole story, prints what a newcomer needs and a consistent summary, exits 0 and leaves nothing behind', async () => {
  running = startDemo(['--exit']);
  const code = await running.exited;
  const output = running.output();
  expect({ code, output }).toMatchObject({ code: 0 });

  expect(output).toContain('the billing engine is a local Stripe-compatible test server; no money moves');
  const summary = summaryOf(output);
  expect(output).toContain(`Subscriber's invoice page: ${summary.invoicePageUrl}`);
  expect(output).toContain(`Publisher's revenue for the Hello API: ${summary.revenue} USD`);
  expect(output).toContain(summary.subscriberToken);
  expect(output).toContain(`curl -H "Authorization: Bearer $PUBLISHER_TOKEN" ${summary.meterlineUrl}/api/am/publisher/v4/apis/${summary.apiId}/revenue`);
  expect(output).toContain(`ADMIN_TOKEN=${summary.adminToken}`);
  expect(output).toContain(`curl -H "Authorization: Bearer $ADMIN_TOKEN" ${summary.meterlineUrl}/api/am/admin/v4/notifications/deliveries`);
  expect(output).toMatch(/\[12\/13\] Publisher checks the API's revenue/);
  // The tenant's MS Teams channel (a local stand-in) received the story's notifications as Adaptive Cards.
  expect(output).toMatch(/\[13\/13\] Ops' MS Teams channel shows what happened/);
  expect(summary.notifications.eventTypes).toEqual(expect.arrayContaining(['plan.created', 'monetization.enabled', 'subscription.on_hold', 'invoice.issued', 'invoice.paid', 'subscription.approved']));
  expect(output).toMatch(/the card "Subscription of greeter to Hello 1\.0\.0 \(PerCall\) was approved[^"]*" in full:\n\s+subscription\.approved · carbon\.super · /);
  expect(output).toMatch(/COMPLETED DONE: subscriptions 1\/1, meter events sent \d+, calls published \d+/);
  expect(output).toContain('demo stopped; everything it started is gone');

  // The numbers agree with each other.
  expect(summary.invoicePageUrl).toBe(`${summary.meterlineUrl}/devportal/subscriptions/${summary.subscriptionId}/invoice`);
  expect(summary.calls.sent).toBe(3000);
  expect(summary.calls.succeeded + summary.calls.failed).toBe(summary.calls.sent);
  expect(summary.calls.failed).toBeGreaterThan(0);
  expect(summary.calls.byStatus['200']).toBe(summary.calls.succeeded);
  expect(summary.eventsPublished).toBe(summary.calls.succeeded); // only successful calls are billed
  // 0.002 USD a call plus the 5.00 USD base fee of the next period, rounded once.
  expect(minor(summary.pendingAfterPublish.total)).toBe(Math.round(summary.calls.succeeded * 0.2) + 500);
  expect(summary.pendingAfterPublish.total).toBe(summary.pendingAfterPublish.expected);
  const byReason = Object.fromEntries(summary.paidInvoices.map((i) => [i.billingReason, i]));
  expect(byReason.subscription_create).toMatchObject({ total: '5.00', status: 'PAID' });
  expect(byReason.subscription_cycle).toMatchObject({ total: summary.pendingAfterPublish.total, status: 'PAID' });
  expect(minor(summary.revenue)).toBe(summary.paidInvoices.reduce((sum, i) => sum + minor(i.total), 0));
  expect(minor(summary.revenue)).toBeGreaterThan(0);
  expect(summary.pendingInvoice.total).toBe('5.00'); // the new period: its base fee, no calls yet

  await expectEverythingGone(summary);
}, RUN_TIMEOUT_MS);

it('without --exit it stays up with what it printed true of the API, and Ctrl-C stops everything cleanly', async () => {
  running = startDemo([]);
  await waitFor(running, 'Everything stays up until you press Ctrl-C.', RUN_TIMEOUT_MS - 30_000);
  const summary = summaryOf(running.output());
  const get = async (path: string, token: string) => {
    const response = await fetch(`${summary.meterlineUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: (await response.json()) as { properties: Record<string, string> } };
  };

  const usage = await get(`/api/am/devportal/v3/subscriptions/${summary.subscriptionId}/usage`, summary.subscriberToken);
  expect(usage.status).toBe(200);
  expect(usage.body.properties).toMatchObject({ Total: summary.pendingInvoice.total, Currency: 'USD', 'Period End': summary.pendingInvoice.periodEnd });
  const revenue = await get(`/api/am/publisher/v4/apis/${summary.apiId}/revenue`, summary.publisherToken);
  expect(revenue.status).toBe(200);
  expect(revenue.body.properties['Total Revenue (USD)']).toBe(summary.revenue);
  // The printed admin token lists the notification deliveries the Teams channel was sent.
  const deliveries = (await get('/api/am/admin/v4/notifications/deliveries?status=DELIVERED&limit=100', summary.adminToken)) as unknown as { status: number; body: { count: number } };
  expect(deliveries).toMatchObject({ status: 200, body: { count: summary.notifications.delivered } });

  // The invoice page: the sign-in page first, then (signed in with the printed token) the invoices.
  const anonymous = await fetch(summary.invoicePageUrl, { redirect: 'manual' });
  expect(anonymous.status).toBe(303);
  expect(anonymous.headers.get('location')).toMatch(/^\/devportal\/login\?next=/);
  const page = await fetch(summary.invoicePageUrl, { headers: { cookie: `meterline_devportal=${summary.subscriberToken}` } });
  expect(page.status).toBe(200);
  const html = await page.text();
  for (const invoice of summary.paidInvoices) expect(html).toContain(invoice.total);

  // The printed gateway and key answer (the call is recorded; publishing it is left to the user).
  const greeting = await fetch(`${summary.gatewayUrl}/hello/v1/greeting?name=test`, { headers: { apikey: summary.apiKey } });
  expect({ status: greeting.status, body: await greeting.json() }).toEqual({ status: 200, body: { message: 'Hello, test!' } });

  running.child.kill('SIGINT');
  const code = await running.exited;
  expect({ code, tail: running.output().split('\n').slice(-4).join('\n') }).toMatchObject({ code: 0 });
  expect(running.output()).toContain('demo stopped; everything it started is gone');
  await expectEverythingGone(summary);
}, RUN_TIMEOUT_MS);
