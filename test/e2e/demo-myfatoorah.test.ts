import { existsSync } from 'node:fs';
import { portIsFree, processIsGone, startDemo, waitFor, type DemoRun } from '../helpers/demo-run';
import type { MyFatoorahDemoSummary } from '../../dev/demo/story-myfatoorah';

/**
 * `npm run demo -- --engine myfatoorah` as a newcomer runs it: the built demo as a child process
 * (SQLite, the local MyFatoorah server as its own child), with fewer calls than the default so it
 * stays quick while every tier is touched. What it prints is checked for the story's lines and
 * exact KWD amounts, against the plan's tiers by hand, against Meterline's REST API and the
 * MyFatoorah server while it is still up; after Ctrl-C nothing it started is left.
 */
const CALLS = 600;

/** KWD has three decimals: fils. */
const fils = (amount: string) => {
  const [whole, fraction = ''] = amount.split('.');
  return Number(whole) * 1000 + Number(fraction.padEnd(3, '0'));
};

let running: DemoRun | undefined;
afterEach(() => {
  // A failed assertion must not leave a demo running (it stops its own children on SIGTERM).
  if (running && running.child.exitCode === null) running.child.kill('SIGTERM');
  running = undefined;
});

it('tells the MyFatoorah story in KWD with a tiered plan, true of the API while up, and Ctrl-C leaves nothing behind', async () => {
  running = startDemo(['--engine', 'myfatoorah', '--calls', String(CALLS)]);
  await waitFor(running, 'Everything stays up until you press Ctrl-C.', 50_000);
  const output = running.output();
  const line = output.split('\n').find((l) => l.startsWith('demo-summary: '));
  const s = JSON.parse(line!.slice('demo-summary: '.length)) as MyFatoorahDemoSummary;

  expect(output).toContain('the payment system is a local MyFatoorah-compatible test server; no money moves');
  expect(output).toMatch(/\[12\/12\] Subscriber opens the invoice page: both invoices with their lines/);
  expect(output).toMatch(/"First invoice": 15.000 KWD PAID, its 2 lines as issued/);
  expect(output).toMatch(/"Invoice for [^"]+": \d+\.\d{3} KWD PAID, its 4 lines as issued/);
  expect(output).not.toMatch(/DEMO FAILED/);
  expect(output).toContain('signed webhook PAYMENT_STATUS_CHANGED');
  expect(output).toContain('a call now: 403');
  expect(output).toContain('subscription UNBLOCKED: a call now: 200');

  // The calls: the failing ones are not billed; the one call made to show access is.
  expect(s.calls.sent).toBe(CALLS);
  expect(s.calls.succeeded + s.calls.failed).toBe(CALLS);
  expect(s.calls.failed).toBeGreaterThan(0);
  const billed = s.calls.succeeded + 1;

  // The first invoice: setup fee + the first month's base fee, in advance.
  const [first, period] = s.invoices;
  expect(first).toMatchObject({ kind: 'SUBSCRIPTION_START', status: 'PAID', total: '15.000' });
  expect(first!.rated.lines.map((l) => l.amount)).toEqual(['5.000', '10.000']);
  // The period: the tiers by hand (200 × 0.010, 300 × 0.005, the rest × 0.0015 rounded half up once)
  // plus the next month's base fee, in fils.
  const lastTier = Math.round((billed - 500) * 1.5); // 0.0015 KWD = 1.5 fils a call
  expect(period).toMatchObject({ kind: 'PERIOD', status: 'PAID' });
  expect(fils(period!.total)).toBe(10_000 + 2_000 + 1_500 + lastTier);
  expect(period!.rated.lines.map((l) => l.amount)).toEqual(['10.000', '2.000', '1.500', (lastTier / 1000).toFixed(3)]);
  expect(period!.rated.lines[3]!.description).toBe(`Hello · calls 501–${billed.toLocaleString('en-US')} × 0.0015 KWD`);
  expect(period!.periodStart).toBe(first!.periodStart);
  expect(fils(s.revenue)).toBe(fils(first!.total) + fils(period!.total));
  for (const invoice of s.invoices) expect(output).toContain(`${invoice.total.padStart(10)} KWD  total (MyFatoorah: ${invoice.total} KWD)`);
  expect(output).toContain(`Publisher's revenue for the Hello API: ${s.revenue} KWD`);

  // While it is up, what it printed is what Meterline and MyFatoorah say.
  const get = async (path: string, token: string) => {
    const response = await fetch(`${s.meterlineUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const invoices = await get(`/api/am/devportal/v3/subscriptions/${s.subscriptionId}/invoices`, s.subscriberToken);
  expect(invoices.status).toBe(200);
  expect(invoices.body.list).toHaveLength(2);
  expect(invoices.body.list).toEqual(
    expect.arrayContaining(s.invoices.map((i) => expect.objectContaining({ invoiceId: i.invoiceId, billingReason: i.kind, status: 'PAID', currency: 'KWD', total: i.total, hostedInvoiceUrl: i.payLink }))),
  );
  const revenue = await get(`/api/am/publisher/v4/apis/${s.apiId}/revenue`, s.publisherToken);
  expect((revenue.body.properties as Record<string, string>)['Total Revenue (KWD)']).toBe(s.revenue);
  for (const invoice of s.invoices) {
    const page = await fetch(invoice.payLink);
    const html = await page.text();
    expect({ status: page.status, paid: html.includes('Paid'), amount: html.includes(`${invoice.total} KWD`) }).toEqual({ status: 200, paid: true, amount: true });
  }
  const greeting = await fetch(`${s.gatewayUrl}/hello/v1/greeting?name=test`, { headers: { apikey: s.apiKey } });
  expect({ status: greeting.status, body: await greeting.json() }).toEqual({ status: 200, body: { message: 'Hello, test!' } });

  running.child.kill('SIGINT');
  const code = await running.exited;
  expect({ code, tail: running.output().split('\n').slice(-4).join('\n') }).toMatchObject({ code: 0 });
  expect(running.output()).toContain('demo stopped; everything it started is gone');
  for (const port of s.ports) expect(await portIsFree(port)).toBe(true);
  expect(processIsGone(s.myFatoorahServerPid)).toBe(true);
  expect(existsSync(s.configPath)).toBe(false);
}, 90_000);
