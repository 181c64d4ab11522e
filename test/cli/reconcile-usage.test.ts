import { PassThrough } from 'node:stream';
import Stripe from 'stripe';
import { apiMeterEventName } from '../../plugins/stripe/meters';
import { reconcileUsageCommand } from '../../src/cli/reconcile';
import type { MeterlineConfig } from '../../src/config/schema';
import { createLogger } from '../../src/logger';
import type { RunningService } from '../../src/service';
import { RecordStore } from '../../src/usage/record-store';
import type { UsageReconcileRow, UsageReconciliation } from '../../src/usage/usage-reconcile';
import { periodBoundary } from '../../src/usage/windows';
import { startBillingHarness, type BillingHarness } from '../helpers/billing-harness';
import { runCli, withMigratedFreeEngineConfig } from '../helpers/cli';
import { forEachTestDatabase } from '../helpers/databases';
import { ADMIN, DEVPORTAL, policyBody, PUBLISHER, SCOPES, uniqueName } from '../helpers/rest-harness';
import { STORY_START } from '../helpers/test-clock';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';

/**
 * `meterline reconcile usage` and GET /api/am/admin/v4/monetization/usage-reconciliation (issue
 * 14, Reconciliation): usage published through the real publisher to the local Stripe server,
 * compared with Stripe's meter event summaries and the period's invoice read with the real SDK.
 * Each test starts from empty usage tables, so it sees only its own subscriptions.
 */
const RECONCILE = `${ADMIN}/monetization/usage-reconciliation`;
const HOUR = 3_600_000;

forEachTestDatabase((_kind, database) => {
  let stripeServer: StripeServer;
  let harness: BillingHarness;
  let service: RunningService;
  let config: MeterlineConfig;
  let platform: Stripe;
  let account: string;
  let apiId: string;
  let tier: string;
  const clock = () => new Date(stripeServer.clock.now() * 1000);
  const admin = () => harness.token('admin', ['apim:admin']);

  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0, startAt: STORY_START });
    harness = await startBillingHarness(database(), stripeServer, { holdUntilPaid: false, graceDays: 3 });
    ({ service, config, platform } = harness);
    // A DYNAMICRATE tier (0.01 USD a request) on an API monetized with a new connected account.
    const { token, call } = harness;
    const policy = (await call('POST', `${ADMIN}/throttling/policies/subscription`, token('admin', SCOPES.admin), policyBody(uniqueName('PerCall'), { plan: 'DYNAMICRATE', price: '0.01' }))).body;
    tier = policy.policyName;
    const publisher = token('pat', SCOPES.publisher);
    const name = uniqueName('Api');
    apiId = (await call('POST', `${PUBLISHER}/apis`, publisher, { name, version: '1.0.0', context: `/${name.toLowerCase()}`, policies: [tier] })).body.id;
    await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${apiId}&action=Publish`, publisher);
    account = (await platform.accounts.create({ type: 'express' })).id;
    expect((await call('POST', `${PUBLISHER}/apis/${apiId}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: account } })).status).toBe(201);
  });
  afterAll(async () => {
    await harness?.close();
    await stripeServer?.close();
  });
  beforeEach(async () => {
    for (const table of ['ML_USAGE_EVENT', 'ML_USAGE_RECORD', 'ML_USAGE_BILLING_CYCLE']) await service.db(table).delete();
  });

  /**
   * A new application (or `owner`'s, subscribing again) subscribed on the per-request tier: its
   * ids, Stripe subscription and customer, and the end of its first period.
   */
  async function subscription(label: string, owner?: { bearer: string; applicationId: string }) {
    const sub = uniqueName(label).toLowerCase();
    const bearer = owner?.bearer ?? harness.token(sub, SCOPES.subscriber, `${sub}@example.com`);
    const applicationId: string = owner?.applicationId ?? (await harness.call('POST', `${DEVPORTAL}/applications`, bearer, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body.applicationId;
    const created = await harness.call('POST', `${DEVPORTAL}/subscriptions`, bearer, { applicationId, apiId, throttlingPolicy: tier });
    expect(created.status).toBe(201);
    const billed = await service.engine.billedSubscriptionOf(created.body.subscriptionId);
    const stripeSubscription = await platform.subscriptions.retrieve(billed!.engineSubscriptionId, {}, { stripeAccount: account });
    const firstPeriodEnd = periodBoundary({ anchorMs: stripeSubscription.billing_cycle_anchor * 1000, interval: 'month', intervalCount: 1 }, 1);
    return { uuid: created.body.subscriptionId as string, applicationId, bearer, stripeId: stripeSubscription.id, customer: String(stripeSubscription.customer), firstPeriodEnd };
  }

  /** Unsubscribes (the usage sent is counted by then): the Stripe subscription is cancelled with a final invoice. */
  async function unsubscribe(s: { uuid: string; bearer: string; stripeId: string }): Promise<string> {
    expect((await harness.call('DELETE', `${DEVPORTAL}/subscriptions/${s.uuid}`, s.bearer)).status).toBe(200);
    expect(await service.engine.billedSubscriptionOf(s.uuid)).toBeNull();
    expect((await platform.subscriptions.retrieve(s.stripeId, {}, { stripeAccount: account })).status).toBe('canceled');
    const invoices = await platform.invoices.list({ subscription: s.stripeId, limit: 1 }, { stripeAccount: account }); // newest first: the final one
    return invoices.data[0]!.id!;
  }

  /** Calls of a subscription recorded as the gateway would, `count` of them from `at` on, a second apart. */
  async function calls(s: { uuid: string; applicationId: string }, at: number, count: number): Promise<void> {
    const events = Array.from({ length: count }, (_, i) => ({
      eventId: `${s.uuid}-${at}-${i}`,
      timestamp: at + i * 1000,
      apiId,
      applicationId: s.applicationId,
      subscriptionId: s.uuid,
      httpStatus: 200,
      tenant: 'carbon.super',
    }));
    expect((await service.usage.ingestion.ingest(events)).accepted).toBe(count);
  }

  async function publish(): Promise<void> {
    expect((await service.usage.publishUsage()).accepted).toBe(true);
    expect(await service.usage.publisher.current()).toMatchObject({ failures: [] });
  }

  async function cli(options: { json: boolean; period?: string }): Promise<{ code: number; out: string; err: string }> {
    const out = new PassThrough();
    const err = new PassThrough();
    let [outText, errText] = ['', ''];
    out.on('data', (chunk: Buffer) => (outText += chunk.toString()));
    err.on('data', (chunk: Buffer) => (errText += chunk.toString()));
    const code = await reconcileUsageCommand(config, createLogger('silent'), { ...options, out, err, clock });
    return { code, out: outText, err: errText };
  }

  const rowOf = (result: UsageReconciliation, uuid: string): UsageReconcileRow | undefined => result.rows.find((row) => row.subscriptionId === uuid);

  it('a period where every unit sent was counted and invoiced matches: exit 0, and REST answers what --json prints', async () => {
    const s = await subscription('match');
    const t0 = clock().getTime();
    stripeServer.clock.advance(3 * 3600);
    await calls(s, t0 + 10 * 60_000, 5);
    await calls(s, t0 + 70 * 60_000, 2);
    await publish();
    stripeServer.clock.advanceTo((s.firstPeriodEnd + 2 * HOUR) / 1000); // the renewal invoice is final

    const json = await cli({ json: true });
    expect(json.code).toBe(0);
    const result = JSON.parse(json.out) as UsageReconciliation;
    expect(result).toMatchObject({ period: 'last-closed', matches: true, differences: 0, skipped: [] });
    expect(result.rows).toHaveLength(1);
    expect(rowOf(result, s.uuid)).toMatchObject({
      status: 'MATCH',
      periodEnd: new Date(s.firstPeriodEnd).toISOString(),
      meter: expect.stringMatching(/^mtr_/),
      sent: 7,
      counted: 7,
      sentForPeriod: 7,
      invoiced: 7,
      invoiceFinal: true,
      invoiceId: expect.stringMatching(/^in_/),
      differences: [],
    });

    const rest = await harness.call('GET', RECONCILE, admin());
    expect(rest.status).toBe(200);
    expect(rest.body).toEqual(result);

    const table = await cli({ json: false });
    expect(table.code).toBe(0);
    const lines = table.out.trim().split('\n');
    expect(lines[0]).toMatch(/^SUBSCRIPTION +PERIOD +METER +SENT +COUNTED +INVOICED +STATUS$/);
    expect(lines[1]).toMatch(new RegExp(`^${s.uuid} .* 7 +7 +7 +MATCH$`));
    expect(lines.at(-1)).toBe('reconcile usage (period last-closed): 1 subscription period(s): 1 match, 0 different (0 difference(s)), 0 not metered');
  }, 60_000);

  it('reports usage someone else wrote to the meter and usage marked sent that Stripe never counted: exit 1, the same over REST', async () => {
    const external = await subscription('external');
    const phantom = await subscription('phantom');
    const t0 = clock().getTime();
    stripeServer.clock.advance(3 * 3600);
    await calls(external, t0 + 10 * 60_000, 3);
    await calls(phantom, t0 + 10 * 60_000, 3);
    await publish();
    // Another integration sends 4 units for the external subscription's customer to the API's meter.
    await platform.billing.meterEvents.create(
      { event_name: apiMeterEventName(apiId), payload: { stripe_customer_id: external.customer, value: '4' }, identifier: uniqueName('other-writer'), timestamp: Math.floor((t0 + 30 * 60_000) / 1000) },
      { stripeAccount: account },
    );
    // A record Meterline holds as SENT whose meter event Stripe never received.
    const records = new RecordStore(service.db);
    const windowStart = Math.ceil((t0 + HOUR) / HOUR) * HOUR;
    const identifier = uniqueName('never-arrived');
    await records.insert(service.db, [
      { subscriptionUuid: phantom.uuid, apiUuid: apiId, windowStart, windowEnd: windowStart + HOUR, firstEventSeq: 1e9, freezeBatch: 1e9, source: 'test', positionAfter: 0, positionUpTo: 0, quantity: 2, identifier, createdAt: windowStart + HOUR },
    ]);
    const record = (await records.list({ subscriptionUuid: phantom.uuid })).find((r) => r.identifier === identifier)!;
    await records.markSent(service.db, record.id, windowStart + HOUR);
    stripeServer.clock.advanceTo((Math.max(external.firstPeriodEnd, phantom.firstPeriodEnd) + 2 * HOUR) / 1000);

    const json = await cli({ json: true });
    expect(json.code).toBe(1);
    const result = JSON.parse(json.out) as UsageReconciliation;
    expect(result).toMatchObject({ matches: false, differences: 4 });
    expect(rowOf(result, external.uuid)).toMatchObject({
      status: 'DIFFERENT',
      sent: 3,
      counted: 7,
      invoiced: 7,
      differences: [
        { kind: 'NOT_SENT_BY_METERLINE', quantity: 4, detail: expect.stringContaining('written to the meter by someone else') },
        { kind: 'INVOICE_DIFFERS', quantity: 4, detail: expect.any(String) },
      ],
    });
    expect(rowOf(result, phantom.uuid)).toMatchObject({
      status: 'DIFFERENT',
      sent: 5,
      counted: 3,
      sentForPeriod: 5,
      invoiced: 3,
      differences: [
        { kind: 'NOT_COUNTED', quantity: 2, detail: 'Meterline sent 5, the engine counted 3' },
        { kind: 'NOT_INVOICED', quantity: 2, detail: expect.stringMatching(/^Meterline sent 5 for the period, invoice in_\w+ bills 3$/) },
      ],
    });

    const rest = await harness.call('GET', RECONCILE, admin());
    expect(rest.status).toBe(200);
    expect(rest.body).toEqual(result);

    const table = await cli({ json: false });
    expect(table.code).toBe(1);
    expect(table.out).toContain('\n  NOT_SENT_BY_METERLINE 4: the engine counted 7, Meterline sent 3: usage written to the meter by someone else\n');
    expect(table.out).toContain('\n  NOT_COUNTED 2: Meterline sent 5, the engine counted 3\n');
    expect(table.out.trim().split('\n').at(-1)).toBe('reconcile usage (period last-closed): 2 subscription period(s): 0 match, 2 different (4 difference(s)), 0 not metered');
  }, 60_000);

  it("reconciles a cancelled subscription's last period against its final invoice: one matches, one has usage someone else wrote; REST the same", async () => {
    const matching = await subscription('cancel-match');
    const differing = await subscription('cancel-differs');
    const t0 = clock().getTime();
    stripeServer.clock.advance(3 * 3600);
    await calls(matching, t0 + 10 * 60_000, 4);
    await calls(differing, t0 + 10 * 60_000, 3);
    await publish();
    await platform.billing.meterEvents.create(
      { event_name: apiMeterEventName(apiId), payload: { stripe_customer_id: differing.customer, value: '4' }, identifier: uniqueName('other-writer'), timestamp: Math.floor((t0 + 30 * 60_000) / 1000) },
      { stripeAccount: account },
    );
    stripeServer.clock.advance(120); // Stripe has aggregated it all: the unsubscribes need not wait
    const matchingInvoice = await unsubscribe(matching);
    const differingInvoice = await unsubscribe(differing);
    stripeServer.clock.advanceTo((Math.max(matching.firstPeriodEnd, differing.firstPeriodEnd) + 2 * HOUR) / 1000);

    const json = await cli({ json: true });
    expect(json.code).toBe(1);
    const result = JSON.parse(json.out) as UsageReconciliation;
    expect(result).toMatchObject({ matches: false, differences: 2, skipped: [] });
    expect(result.rows).toHaveLength(2);
    expect(rowOf(result, matching.uuid)).toMatchObject({
      ended: true,
      status: 'MATCH',
      periodEnd: new Date(matching.firstPeriodEnd).toISOString(),
      sent: 4,
      counted: 4,
      sentForPeriod: 4,
      invoiceId: matchingInvoice,
      invoiceFinal: true,
      invoiced: 4,
      differences: [],
    });
    expect(rowOf(result, differing.uuid)).toMatchObject({
      ended: true,
      status: 'DIFFERENT',
      sent: 3,
      counted: 7,
      invoiceId: differingInvoice,
      invoiced: 7,
      differences: [
        { kind: 'NOT_SENT_BY_METERLINE', quantity: 4, detail: expect.stringContaining('written to the meter by someone else') },
        { kind: 'INVOICE_DIFFERS', quantity: 4, detail: `invoice ${differingInvoice} bills 7, Meterline sent 3 for the period` },
      ],
    });
    const rest = await harness.call('GET', RECONCILE, admin());
    expect(rest.status).toBe(200);
    expect(rest.body).toEqual(result);
  }, 60_000);

  it('after a cancel and a new subscription of the same application to the API, each period is reconciled against its own Stripe subscription', async () => {
    const first = await subscription('again');
    const t0 = clock().getTime();
    stripeServer.clock.advance(3 * 3600);
    await calls(first, t0 + 10 * 60_000, 5);
    await publish();
    stripeServer.clock.advance(120);
    const firstInvoice = await unsubscribe(first);
    stripeServer.clock.advance(300);

    const second = await subscription('again', first);
    expect(second.uuid).not.toBe(first.uuid);
    expect(second.stripeId).not.toBe(first.stripeId);
    expect(second.customer).toBe(first.customer); // the same shared customer, on the same meter
    const t1 = clock().getTime();
    stripeServer.clock.advance(3 * 3600);
    await calls(second, t1 + 10 * 60_000, 2);
    await publish();
    stripeServer.clock.advanceTo((second.firstPeriodEnd + 2 * HOUR) / 1000);

    const result = JSON.parse((await cli({ json: true })).out) as UsageReconciliation;
    expect(result).toMatchObject({ matches: true, differences: 0, skipped: [] });
    const secondInvoices = await platform.invoices.list({ subscription: second.stripeId, limit: 10 }, { stripeAccount: account });
    expect(result.rows.map((row) => [row.subscriptionId, row.ended, row.status, row.sent, row.counted, row.invoiced, row.invoiceId])).toEqual(
      [
        [first.uuid, true, 'MATCH', 5, 5, 5, firstInvoice],
        [second.uuid, false, 'MATCH', 2, 2, 2, expect.stringMatching(/^in_/)],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    expect(secondInvoices.data.map((invoice) => invoice.id)).toContain(rowOf(result, second.uuid)!.invoiceId);
    expect(rowOf(result, second.uuid)!.invoiceId).not.toBe(firstInvoice);
  }, 60_000);

  it('--period picks the periods; a bad period is 400 naming period over REST and exit 2 from the command; a token without an admin scope is refused', async () => {
    const s = await subscription('period');
    const t0 = clock().getTime();
    stripeServer.clock.advance(2 * 3600);
    await calls(s, t0 + 5 * 60_000, 2);
    await publish();
    stripeServer.clock.advanceTo((s.firstPeriodEnd + 2 * HOUR) / 1000);

    const month = new Date(s.firstPeriodEnd).toISOString().slice(0, 7); // the first period ends that month
    const byMonth = JSON.parse((await cli({ json: true, period: month })).out) as UsageReconciliation;
    expect(byMonth.period).toBe(month);
    expect(byMonth.rows.map((row) => [row.periodEnd, row.status, row.sent])).toEqual([[new Date(s.firstPeriodEnd).toISOString(), 'MATCH', 2]]);
    const current = new Date(clock().getTime()).toISOString().slice(0, 19) + 'Z'; // inside the second period: nothing sent yet, not invoiced yet
    const open = await harness.call('GET', `${RECONCILE}?period=${current}`, admin());
    expect(open.status).toBe(200);
    expect(open.body.rows).toEqual([expect.objectContaining({ periodStart: new Date(s.firstPeriodEnd).toISOString(), status: 'MATCH', sent: 0, counted: 0, invoiceId: null })]);

    for (const bad of ['2026-13', 'last-month', '2026-02-30']) {
      const refused = await harness.call('GET', `${RECONCILE}?period=${bad}`, admin());
      expect(refused.status).toBe(400);
      expect(refused.body.error).toEqual([expect.objectContaining({ code: 'period' })]);
      const command = await cli({ json: false, period: bad });
      expect(command).toMatchObject({ code: 2, out: '' });
      expect(command.err).toContain(`--period: "${bad}"`);
    }
    expect((await harness.call('GET', RECONCILE, harness.token('sub', SCOPES.subscriber))).status).toBe(403);
  }, 60_000);
});

describe('the meterline reconcile usage command', () => {
  it('exits 2 when the engine cannot reconcile usage or --period is malformed; --json goes with reconcile usage only', async () => {
    await withMigratedFreeEngineConfig(async (config) => {
      const free = await runCli(['reconcile', 'usage', '--config', config]);
      expect(free).toMatchObject({ code: 2, stdout: '' });
      expect(free.stderr).toContain('meterline: the billing engine "free" cannot reconcile usage');
      const bad = await runCli(['reconcile', 'usage', '--period', 'yesterday', '--config', config]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('meterline: --period: "yesterday" is not a period; expected YYYY-MM');
      const misplaced = await runCli(['reconcile', '--json', '--config', config]);
      expect(misplaced.code).toBe(2);
      expect(misplaced.stderr).toContain('--json goes with "reconcile usage"');
    });
  }, 30_000);
});
