import type { Knex } from 'knex';
import { createApim, createApimRepositories, type Apim } from '../../src/apim/apim';
import { apimCoreRecords } from '../../src/apim/core-records';
import { createBilling, type Billing } from '../../src/billing/billing';
import { BillingRepository } from '../../src/billing/billing.repository';
import { composeInvoicing, composeUsage, ownInvoicesAdmin } from '../../src/composition';
import { GatewayError } from '../../src/apim/errors';
import { closeOwnInvoices, listOwnInvoices } from '../../src/http/routes/extensions/own-invoices';
import { configSchema } from '../../src/config/schema';
import type { PolicyPricing, SubscriptionRef } from '../../src/domain/model';
import type { OwnInvoicing } from '../../src/invoicing/own-invoicing';
import { ownInvoiceId } from '../../src/invoicing/own-invoicing';
import { OwnInvoicesRepository, type NewOwnInvoice } from '../../src/invoicing/own-invoices.repository';
import { PendingInvoices } from '../../src/invoicing/pending-invoice';
import { RecordStore } from '../../src/usage/record-store';
import { scheduleOwnInvoicing } from '../../src/invoicing/schedule';
import { FreeMonetization } from '../../src/monetization/free-engine';
import { createLogger } from '../../src/logger';
import type { BillingEvent } from '../../src/monetization/billing-events';
import { tenantDirectoryFrom } from '../../src/monetization/tenant-directory';
import { tiersToJson } from '../../src/apim/policy-prices';
import { rate } from '../../src/rating/rate';
import type { UsageService } from '../../src/usage/usage-service';
import { forEachTestDatabase } from '../helpers/databases';
import { migrateLatest } from '../helpers/migrations';
import { GatewaySeed } from '../plugins/stripe/harness';
import { TEST_OPTIONS } from '../usage/world';
import { CollectingEngine, engineSubscriptionId } from './collecting-engine';

/**
 * Meterline's own invoices (src/invoicing) for an engine that only collects payment: the first
 * invoice at subscribe, each period closed `close_after_minutes` after its end with the period's
 * frozen usage rated by `rate()`, the final one at cancel; one invoice per period however often
 * it is closed, a crash between draft and submission resumed with one engine invoice, and the
 * access rules following payment events on the shared invoice records. The clock is the test's,
 * fixed instants only; one migrated database and one world per suite.
 */

const T0 = Date.UTC(2030, 0, 15, 10, 0, 0);
const HOUR = 3_600_000;
const MINUTE = 60_000;
const DAY = 24 * HOUR;
/** A monthly period anchored at T0 ends on 15 February at 10:00. */
const PERIOD_1_END = Date.UTC(2030, 1, 15, 10, 0, 0);
const PERIOD_2_END = Date.UTC(2030, 2, 15, 10, 0, 0);
const PERIOD_3_END = Date.UTC(2030, 3, 15, 10, 0, 0);
const TENANT = { domain: 'carbon.super', id: -1234 };

const monthlyFee: PolicyPricing = { plan: 'FIXEDRATE', currency: 'usd', billingCycle: 'month', fixedPrice: '10.00' };
const perCall: PolicyPricing = { plan: 'DYNAMICRATE', currency: 'usd', billingCycle: 'month', pricePerRequest: '0.01' };
/** Graduated: calls 1–5 at 0.02, the rest at 0.01. */
const graduated: PolicyPricing = {
  plan: 'DYNAMICRATE',
  currency: 'usd',
  billingCycle: 'month',
  pricePerRequest: '0.02',
  usageRate: {
    model: 'graduated',
    tiers: [
      { upTo: 5, unitPrice: '0.02', flatPrice: '0' },
      { upTo: null, unitPrice: '0.01', flatPrice: '0' },
    ],
  },
};

interface World {
  db: Knex;
  engine: CollectingEngine;
  billing: Billing;
  usage: UsageService;
  invoicing: OwnInvoicing;
  apim: Apim;
  seed: GatewaySeed;
  api: Awaited<ReturnType<GatewaySeed['api']>>;
  policies: { fee: string; perCall: string; graduated: string };
  /** Another process on the same database, whose invoicing throws (is killed) right after drafting. */
  killedAfterDraft: OwnInvoicing;
  parts: Parameters<typeof composeInvoicing>[0];
}

let now = T0;
const clock = () => new Date(now);

async function world(db: Knex): Promise<World> {
  const config = configSchema.parse({
    tenants: [{ domain: TENANT.domain, id: TENANT.id, monetization_info: { hold_until_paid: true, payment_grace_period_days: 3 } }],
  });
  const logger = createLogger('silent');
  const engine = new CollectingEngine(clock);
  const coreRecords = apimCoreRecords(db);
  const tenants = tenantDirectoryFrom(config);
  const billing = createBilling({ repository: new BillingRepository(db, coreRecords), config, logger, engine });
  const usage = composeUsage({ db, subscriptions: coreRecords, engine, tenants, config, logger, clock, options: TEST_OPTIONS });
  const parts = { db, engine, billing, usage, subscriptions: coreRecords, tenants, config, logger, clock };
  const invoicing = composeInvoicing(parts);
  const killedAfterDraft = composeInvoicing({
    ...parts,
    probe: async (step) => {
      if (step === 'drafted') throw new Error('killed after drafting');
    },
  });
  // As composition wires it: a cancel the engine starts itself gets the final invoice.
  billing.records.onEngineCancel((uuid, at) => invoicing.subscriptionCancelledByEngine(uuid, at));
  const apim = createApim({ repositories: createApimRepositories(db), engine, billingRecords: billing.records, usage: usage.publisher, invoicing, monetizationAttributes: [], logger, clock });
  const seed = new GatewaySeed(db, TENANT);
  const api = await seed.api({ name: 'Hello' });
  const fee = (await seed.policy('Monthly', monthlyFee)).name;
  const calls = (await seed.policy('PerCall', perCall)).name;
  const tiered = await seed.policy('Graduated', graduated);
  await db('ML_POLICY_PRICING').insert({ POLICY_UUID: tiered.uuid, USAGE_MODEL: 'graduated', TIERS: tiersToJson(graduated.plan === 'DYNAMICRATE' && graduated.usageRate?.model === 'graduated' ? graduated.usageRate.tiers : []) });
  for (const name of [fee, calls, tiered.name]) await db('ML_API_POLICY').insert({ API_ID: api.id, POLICY_NAME: name });
  return { db, engine, billing, usage, invoicing, apim, seed, api, policies: { fee, perCall: calls, graduated: tiered.name }, killedAfterDraft, parts };
}

/** A new subscriber and application subscribed through the workflow at the clock's time. */
async function subscribe(w: World, policy: string) {
  const subscriber = await w.seed.subscriber();
  const application = await w.seed.application(subscriber);
  const caller = { subject: subscriber.userId, email: subscriber.email, tenant: TENANT };
  const made = await w.apim.subscriptions.subscribe(caller, { applicationId: application.uuid, apiId: w.api.uuid, throttlingPolicy: policy });
  const ref = (await apimCoreRecords(w.db).subscriptionRefs([made.uuid], () => TENANT.id)).get(made.uuid)!;
  return { caller, uuid: made.uuid, status: made.status, ref, application };
}

let eventCounter = 0;
async function calls(w: World, subscription: { uuid: string; application: { uuid: string } }, times: readonly number[]): Promise<void> {
  const events = times.map((at) => ({
    eventId: `own-invoicing-${process.pid}-${(eventCounter += 1)}`,
    timestamp: at,
    apiId: w.api.uuid,
    applicationId: subscription.application.uuid,
    subscriptionId: subscription.uuid,
    httpStatus: 200,
    tenant: TENANT.domain,
  }));
  expect((await w.usage.ingestion.ingest(events)).accepted).toBe(times.length);
}

/** What the engine's webhook would tell Meterline of an invoice it issued (after confirming it). */
function invoiceEvent(w: World, ownId: string, subscriptionUuid: string, change: 'paid' | 'voided' | 'marked_uncollectible', at: number): BillingEvent {
  const issued = w.engine.invoices.get(ownId)!;
  const status = change === 'paid' ? 'PAID' : change === 'voided' ? 'VOID' : 'UNCOLLECTIBLE';
  return {
    id: `evt_${ownId}_${change}`,
    type: 'invoice',
    change,
    occurredAt: new Date(at),
    account: null,
    failure: null,
    invoice: {
      engineInvoiceId: issued.engineInvoiceId,
      engineSubscriptionId: engineSubscriptionId(subscriptionUuid),
      subscriptionUuid,
      status,
      currency: issued.currency,
      total: issued.total,
      amountDue: issued.total,
      amountPaid: change === 'paid' ? issued.total : 0n,
      amountRemaining: change === 'paid' ? 0n : issued.total,
      periodStart: issued.periodStart,
      periodEnd: issued.periodEnd,
      hostedInvoiceUrl: issued.hostedInvoiceUrl,
      billingReason: null,
    },
  };
}

async function applyEvent(w: World, event: BillingEvent): Promise<void> {
  const result = await w.billing.records.apply(TENANT.domain, event, clock(), (uuid) => w.engine.billedSubscriptionOf(uuid));
  expect(result).toEqual({ outcome: 'applied', reason: null });
}

const access = async (w: World, uuid: string) => (await w.billing.access.check(uuid, clock()))?.status;
const own = (w: World, uuid: string) => w.invoicing.invoicesOf(uuid);

forEachTestDatabase((kind, database) => {
  let w: World;
  beforeAll(async () => {
    await migrateLatest(database().knex);
    now = T0;
    w = await world(database().knex);
  });

  it('subscribing issues the first invoice (base fee in advance, as rate() makes it): OPEN with the pay link, held until it is paid', async () => {
    now = T0;
    const s = await subscribe(w, w.policies.fee);
    expect(s.status).toBe('ON_HOLD');
    const [first, ...others] = await own(w, s.uuid);
    expect(others).toEqual([]);
    const expected = rate({ pricing: monthlyFee, apiName: 'Hello', calls: 0n, period: { start: new Date(T0), end: new Date(PERIOD_1_END) }, include: { setupFee: true, baseFee: true, usage: false } });
    expect(first).toMatchObject({
      invoiceId: ownInvoiceId(s.uuid, 'SUBSCRIPTION_START', new Date(T0)),
      kind: 'SUBSCRIPTION_START',
      status: 'OPEN',
      periodStart: new Date(T0),
      periodEnd: new Date(PERIOD_1_END),
      currency: 'usd',
      total: 1000n,
      engineInvoiceId: w.engine.invoices.get(first!.invoiceId)!.engineInvoiceId,
    });
    expect(first!.lines).toEqual(expected.lines.map(({ kind, description, quantity, unitAmountDecimal, amount }) => ({ kind, description, quantity, unitAmountDecimal, amount })));
    const [record] = await w.billing.issued.ofSubscription(s.uuid);
    expect(record).toMatchObject({ status: 'OPEN', billingReason: 'SUBSCRIPTION_START', total: 1000n, hostedInvoiceUrl: first!.hostedInvoiceUrl, engineSubscriptionId: engineSubscriptionId(s.uuid) });
    expect(await access(w, s.uuid)).toBe('ON_HOLD');

    now = T0 + 5 * MINUTE;
    await applyEvent(w, invoiceEvent(w, first!.invoiceId, s.uuid, 'paid', now));
    expect(await access(w, s.uuid)).toBe('UNBLOCKED');
    expect((await w.billing.issued.ofSubscription(s.uuid))[0]).toMatchObject({ status: 'PAID', amountPaid: 1000n });
  });

  it('a setup fee is on the first invoice, made once; nothing to pay is recorded PAID without the engine and does not hold', async () => {
    now = T0;
    const s = await subscribe(w, w.policies.perCall);
    expect(s.status).toBe('UNBLOCKED');
    const [start] = await own(w, s.uuid);
    expect(start).toMatchObject({ kind: 'SUBSCRIPTION_START', status: 'PAID', total: 0n, lines: [], engineInvoiceId: start!.invoiceId });
    expect(w.engine.invoices.has(start!.invoiceId)).toBe(false);

    // The same subscription's first invoice with a setup fee (the policy as the workflow passes it).
    const withSetup: SubscriptionRef = { ...s.ref, uuid: `${s.uuid}-setup`, policy: { ...s.ref.policy, pricing: { ...perCall, setupFee: '25.00', fixedPrice: '3.00' } } };
    await w.invoicing.subscriptionStarted(withSetup, clock());
    const [made] = await own(w, withSetup.uuid);
    expect(made!.lines.map((l) => [l.kind, l.amount])).toEqual([
      ['SETUP_FEE', 2500n],
      ['BASE_FEE', 300n],
    ]);
    expect(made!.total).toBe(2800n);
    expect(w.engine.invoices.get(made!.invoiceId)!.total).toBe(2800n);
    // Started again (a subscribe retried after a failure part-way), later: still that one invoice.
    const submissions = w.engine.submissions;
    now = T0 + HOUR;
    await w.invoicing.subscriptionStarted(withSetup, clock());
    expect((await own(w, withSetup.uuid)).map((i) => i.invoiceId)).toEqual([made!.invoiceId]);
    expect(w.engine.submissions).toBe(submissions);
  });

  it("closes a period with its usage close_after_minutes after its end, not before; closing again makes no second invoice", async () => {
    now = T0;
    const s = await subscribe(w, w.policies.perCall);
    // 7 calls in the first period (one a minute before it ends), 3 in the second.
    now = PERIOD_1_END + 119 * MINUTE;
    await calls(w, s, [T0 + HOUR, T0 + 2 * HOUR, T0 + 10 * DAY, T0 + 10 * DAY + 1, T0 + 20 * DAY, T0 + 30 * DAY, PERIOD_1_END - MINUTE]);
    await calls(w, s, [PERIOD_1_END, PERIOD_1_END + 30 * MINUTE, PERIOD_1_END + 90 * MINUTE]);

    await w.invoicing.closeDuePeriods();
    expect((await own(w, s.uuid)).map((i) => i.kind)).toEqual(['SUBSCRIPTION_START']);

    now = PERIOD_1_END + 120 * MINUTE;
    await w.invoicing.closeDuePeriods();
    await w.invoicing.closeDuePeriods();
    const periods = (await own(w, s.uuid)).filter((i) => i.kind === 'PERIOD');
    expect(periods).toHaveLength(1);
    const [period] = periods;
    const expected = rate({ pricing: perCall, apiName: 'Hello', calls: 7n, period: { start: new Date(T0), end: new Date(PERIOD_1_END) }, include: { setupFee: false, baseFee: true, usage: true } });
    expect(period).toMatchObject({ status: 'OPEN', calls: 7n, total: expected.total, periodStart: new Date(T0), periodEnd: new Date(PERIOD_1_END) });
    expect(period!.total).toBe(7n);
    expect(period!.lines.map((l) => [l.kind, l.quantity, l.amount])).toEqual(expected.lines.map((l) => [l.kind, l.quantity, l.amount]));
    expect([...w.engine.invoices.keys()].filter((id) => id === period!.invoiceId)).toHaveLength(1);
    expect((await w.billing.issued.ofSubscription(s.uuid)).filter((r) => r.billingReason === 'PERIOD')).toHaveLength(1);

    // Unpaid past the grace period: blocked; paid: unblocked.
    now = PERIOD_1_END + 3 * HOUR;
    await applyEvent(w, invoiceEvent(w, period!.invoiceId, s.uuid, 'marked_uncollectible', now));
    expect(await access(w, s.uuid)).toBe('UNBLOCKED');
    now += 3 * DAY;
    expect(await access(w, s.uuid)).toBe('BLOCKED');
    await applyEvent(w, invoiceEvent(w, period!.invoiceId, s.uuid, 'paid', now));
    expect(await access(w, s.uuid)).toBe('UNBLOCKED');
  });

  it('a process killed between draft and submission, or an answer lost after the engine issued: the next check submits it, one engine invoice', async () => {
    now = T0;
    const subscriber = await w.seed.subscriber();
    const application = await w.seed.application(subscriber);
    const policy = (await w.seed.policy('Fee', monthlyFee));
    const ref = await w.seed.subscription(w.api, application, subscriber, policy);
    await w.engine.createSubscription(ref);
    await w.billing.records.subscriptionBilled({ subscriptionUuid: ref.uuid, tenantDomain: TENANT.domain, apiUuid: w.api.uuid, applicationUuid: application.uuid, engineSubscriptionId: engineSubscriptionId(ref.uuid), engineAccount: null }, clock());

    await expect(w.killedAfterDraft.subscriptionStarted(ref, clock())).rejects.toThrow('killed after drafting');
    const [draft] = await own(w, ref.uuid);
    expect(draft).toMatchObject({ status: 'DRAFT', engineInvoiceId: null });
    expect(w.engine.invoices.has(draft!.invoiceId)).toBe(false);

    w.engine.failAfterIssuing = 1;
    await w.invoicing.submitDrafts();
    expect((await own(w, ref.uuid))[0]).toMatchObject({ status: 'DRAFT', attempts: 1, lastError: 'the answer was lost' });
    expect(w.engine.invoices.has(draft!.invoiceId)).toBe(true);

    const submissions = w.engine.submissions;
    await w.invoicing.submitDrafts();
    await w.invoicing.submitDrafts();
    expect(w.engine.submissions).toBe(submissions + 1);
    const issued = w.engine.invoices.get(draft!.invoiceId)!;
    expect((await own(w, ref.uuid))[0]).toMatchObject({ status: 'OPEN', engineInvoiceId: issued.engineInvoiceId });
    expect((await w.billing.issued.ofSubscription(ref.uuid)).map((r) => r.engineInvoiceId)).toEqual([issued.engineInvoiceId]);
  });

  it('unsubscribing issues the final invoice for the usage since the last one; no period is closed after it', async () => {
    now = T0;
    const s = await subscribe(w, w.policies.perCall);
    now = PERIOD_1_END + 2 * HOUR;
    await calls(w, s, [T0 + DAY, T0 + 2 * DAY]);
    await w.invoicing.closeDuePeriods();
    now = PERIOD_1_END + 5 * DAY;
    await calls(w, s, [PERIOD_1_END + DAY, PERIOD_1_END + 2 * DAY, PERIOD_1_END + 3 * DAY, PERIOD_1_END + 4 * DAY, PERIOD_1_END + 4 * DAY + 1]);
    await w.apim.subscriptions.unsubscribe(s.caller, s.uuid);

    const invoices = await own(w, s.uuid);
    expect(invoices.map((i) => [i.kind, i.calls, i.total])).toEqual([
      ['SUBSCRIPTION_START', 0n, 0n],
      ['PERIOD', 2n, 2n],
      ['FINAL', 5n, 5n],
    ]);
    const final = invoices[2]!;
    expect(final).toMatchObject({ status: 'OPEN', periodStart: new Date(PERIOD_1_END), periodEnd: new Date(now) });
    expect(w.engine.invoices.get(final.invoiceId)!.lines).toEqual(
      rate({ pricing: perCall, apiName: 'Hello', calls: 5n, period: { start: new Date(PERIOD_1_END), end: new Date(now) }, include: { setupFee: false, baseFee: false, usage: true } }).lines.map(
        ({ description, quantity, unitAmountDecimal, amount }) => ({ description, quantity, unitAmountDecimal, amount }),
      ),
    );

    now = Date.UTC(2030, 2, 15, 13, 0, 0);
    await w.invoicing.closeDuePeriods();
    expect(await own(w, s.uuid)).toHaveLength(3);
  });

  it('a period closed while the subscription is cancelled is billed once: the invoice written first for a usage start wins, whatever its kind', async () => {
    const repository = new OwnInvoicesRepository(w.db);
    const s = await subscribe(w, w.policies.perCall);
    const draft = (kind: 'PERIOD' | 'FINAL', end: number): NewOwnInvoice => ({
      invoiceId: ownInvoiceId(s.uuid, kind, new Date(T0)),
      tenantDomain: TENANT.domain,
      subscriptionUuid: s.uuid,
      apiUuid: w.api.uuid,
      kind,
      periodStart: new Date(T0),
      periodEnd: new Date(end),
      usageFrom: new Date(T0),
      calls: 3n,
      currency: 'usd',
      total: 3n,
      status: 'DRAFT',
      subscription: s.ref,
      customer: { name: 'x', email: null },
      expiresAt: new Date(end + DAY),
      createdAt: new Date(end),
      lines: [{ kind: 'USAGE', description: 'Hello · 3 calls', quantity: 3n, unitAmountDecimal: '0.01', amount: 3n }],
    });
    const [final, period] = await Promise.all([repository.insertDraft(draft('FINAL', PERIOD_1_END - HOUR), clock()), repository.insertDraft(draft('PERIOD', PERIOD_1_END), clock())]);
    expect([final.created, period.created].sort()).toEqual([false, true]);
    expect(final.invoice.invoiceId).toBe(period.invoice.invoiceId);
    expect((await own(w, s.uuid)).filter((i) => i.usageFrom !== null)).toHaveLength(1);
  });

  it('a billed subscription whose first invoice was not made (its subscribe hook failed) gets it at the next check, once; serve checks at once', async () => {
    now = T0;
    const subscriber = await w.seed.subscriber();
    const application = await w.seed.application(subscriber);
    const ref = await w.seed.subscription(w.api, application, subscriber, await w.seed.policy('Missed', monthlyFee));
    await w.engine.createSubscription(ref);
    await w.billing.records.subscriptionBilled({ subscriptionUuid: ref.uuid, tenantDomain: TENANT.domain, apiUuid: w.api.uuid, applicationUuid: application.uuid, engineSubscriptionId: engineSubscriptionId(ref.uuid), engineAccount: null }, clock());
    expect(await own(w, ref.uuid)).toEqual([]);

    // An engine that makes its own invoices: nothing is scheduled.
    const engineInvoices = composeInvoicing({ ...w.parts, engine: new FreeMonetization() });
    await scheduleOwnInvoicing(engineInvoices, 60_000, createLogger('silent'))();
    expect(await own(w, ref.uuid)).toEqual([]);

    // `serve`: the first check runs at once (stopping waits for it), then every interval.
    now = T0 + 10 * MINUTE;
    await scheduleOwnInvoicing(w.invoicing, 60_000, createLogger('silent'))();
    expect((await own(w, ref.uuid)).map((i) => i.kind)).toEqual(['SUBSCRIPTION_START']);
    await w.invoicing.check();
    const invoices = await own(w, ref.uuid);
    expect(invoices.map((i) => [i.kind, i.status, i.total, i.periodStart])).toEqual([['SUBSCRIPTION_START', 'OPEN', 1000n, new Date(T0)]]);
    expect(w.engine.invoices.get(invoices[0]!.invoiceId)?.total).toBe(1000n);
    expect(await access(w, ref.uuid)).toBe('ON_HOLD');
  });
  it('usage of an invoiced period that arrives late goes on the next invoice as its own line, rated so the period totals what it would have (graduated: the difference), once however often it is closed', async () => {
    now = T0;
    const s = await subscribe(w, w.policies.graduated);
    now = PERIOD_1_END + 2 * HOUR;
    await calls(w, s, [T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY, T0 + 4 * DAY]);
    await w.invoicing.closeDuePeriods();
    const [first] = (await own(w, s.uuid)).filter((i) => i.kind === 'PERIOD');
    expect(first).toMatchObject({ calls: 4n, total: 8n }); // 4 × 0.02

    // Three calls of period 1 arrive after it was invoiced, two of period 2 in time.
    now = PERIOD_1_END + 3 * HOUR;
    await calls(w, s, [T0 + 5 * DAY, T0 + 6 * DAY, PERIOD_1_END - 1]);
    now = PERIOD_1_END + 3 * DAY;
    await calls(w, s, [PERIOD_1_END + DAY, PERIOD_1_END + 2 * DAY]);
    // A process killed right after drafting period 2's invoice, then the next checks: one invoice, the late calls once.
    now = PERIOD_2_END + 2 * HOUR;
    await w.killedAfterDraft.closeDuePeriods();
    await w.invoicing.check();
    await w.invoicing.check();
    const periods = (await own(w, s.uuid)).filter((i) => i.kind === 'PERIOD');
    expect(periods).toHaveLength(2);
    const second = periods[1]!;
    const usageOnly = (n: bigint, start: number, end: number) =>
      rate({ pricing: graduated, apiName: 'Hello', calls: n, period: { start: new Date(start), end: new Date(end) }, include: { setupFee: false, baseFee: false, usage: true } }).total;
    // Period 1 at 7 calls is 5 × 0.02 + 2 × 0.01 = 12 cents; 8 were invoiced: the late line is 4 (not 3 × 0.02).
    expect(usageOnly(7n, T0, PERIOD_1_END) - usageOnly(4n, T0, PERIOD_1_END)).toBe(4n);
    const late = second.lines.filter((l) => l.kind === 'LATE_USAGE');
    expect(late).toEqual([{ kind: 'LATE_USAGE', description: 'Hello · 3 calls of 15 Jan – 15 Feb that arrived after it was invoiced', quantity: 3n, unitAmountDecimal: null, amount: 4n }]);
    expect(second).toMatchObject({ status: 'OPEN', calls: 2n, total: usageOnly(2n, PERIOD_1_END, PERIOD_2_END) + 4n });
    expect(w.engine.invoices.get(second.invoiceId)!.lines.at(-1)).toEqual({ description: late[0]!.description, quantity: 3n, unitAmountDecimal: null, amount: 4n });
    expect(w.engine.invoices.get(second.invoiceId)!.total).toBe(second.total);

    // What each invoice billed of each period, in Meterline's own record.
    const repository = new OwnInvoicesRepository(w.db);
    expect(await repository.usageOf(second.invoiceId)).toEqual([
      { periodStart: new Date(T0), periodEnd: new Date(PERIOD_1_END), callsFrom: 4n, callsTo: 7n },
      { periodStart: new Date(PERIOD_1_END), periodEnd: new Date(PERIOD_2_END), callsFrom: 0n, callsTo: 2n },
    ]);

    // Nothing more came: period 3's invoice has no late line. Then one more late call of period 2: on the final invoice.
    now = PERIOD_3_END + 2 * HOUR;
    await w.invoicing.check();
    const third = (await own(w, s.uuid)).filter((i) => i.kind === 'PERIOD')[2]!;
    expect(third.lines.filter((l) => l.kind === 'LATE_USAGE')).toEqual([]);
    // A period with nothing to pay is kept (billed at 0, PAID at once) but never sent to the engine.
    expect(third).toMatchObject({ status: 'PAID', total: 0n, calls: 0n, hostedInvoiceUrl: null });
    expect(w.engine.invoices.has(third.invoiceId)).toBe(false);
    expect((await w.billing.issued.ofSubscription(s.uuid)).find((r) => r.engineInvoiceId === third.invoiceId)).toMatchObject({ status: 'PAID', total: 0n, billingReason: 'PERIOD' });
    now = PERIOD_3_END + 3 * HOUR;
    await calls(w, s, [PERIOD_2_END - DAY]);
    await w.apim.subscriptions.unsubscribe(s.caller, s.uuid);
    const final = (await own(w, s.uuid)).find((i) => i.kind === 'FINAL')!;
    expect(final.lines.filter((l) => l.kind === 'LATE_USAGE').map((l) => [l.description, l.quantity, l.amount])).toEqual([
      ['Hello · 1 call of 15 Feb – 15 Mar that arrived after it was invoiced', 1n, 2n], // period 2 from 2 to 3 calls: still tier 1
    ]);
  });

  it('the engine cancelling a subscription itself (a deleted event) makes the final invoice at once, with the usage not yet frozen; an unsubscribe after it makes no second; no period is closed after it', async () => {
    now = T0;
    const s = await subscribe(w, w.policies.perCall);
    now = T0 + 3 * DAY;
    await calls(w, s, [T0 + DAY, T0 + 2 * DAY, T0 + 2 * DAY + 1]);
    const deleted: BillingEvent = { id: `evt_deleted_${s.uuid}`, type: 'subscription', change: 'deleted', occurredAt: new Date(now), account: null, engineSubscriptionId: engineSubscriptionId(s.uuid), status: 'canceled' };
    await applyEvent(w, deleted);
    const [, final] = await own(w, s.uuid);
    expect(final).toMatchObject({ kind: 'FINAL', status: 'OPEN', calls: 3n, total: 3n, periodStart: new Date(T0), periodEnd: new Date(now) });
    expect(w.engine.invoices.get(final!.invoiceId)!.total).toBe(3n);
    expect(await access(w, s.uuid)).toBe('BLOCKED');

    // The subscriber unsubscribes afterwards, and the periods come due: still that one final invoice.
    now = T0 + 4 * DAY;
    await w.apim.subscriptions.unsubscribe(s.caller, s.uuid);
    now = PERIOD_2_END + 3 * HOUR;
    await w.invoicing.check();
    expect((await own(w, s.uuid)).map((i) => [i.kind, i.invoiceId])).toEqual([
      ['SUBSCRIPTION_START', ownInvoiceId(s.uuid, 'SUBSCRIPTION_START', new Date(T0))],
      ['FINAL', final!.invoiceId],
    ]);
  });

  it("a cancel whose final invoice could not be made then (the usage could not all be frozen: freezeOnly says so) gets it at a later check; a subscription gone from the core is rated with its last invoice's plan", async () => {
    now = T0;
    const s = await subscribe(w, w.policies.perCall);
    const gone = await subscribe(w, w.policies.perCall);
    now = T0 + DAY;
    // A billing cycle the engine cannot tell now: the freeze of this usage fails, and says so.
    w.engine.failCycles = true;
    await w.db('ML_USAGE_BILLING_CYCLE').whereIn('SUBSCRIPTION_UUID', [s.uuid, gone.uuid]).del();
    await calls(w, s, [T0 + HOUR, T0 + 2 * HOUR]);
    await calls(w, gone, [T0 + HOUR]);
    const freeze = await w.usage.publisher.freezeOnly();
    expect(freeze).toMatchObject({ frozen: false, failures: expect.arrayContaining([expect.objectContaining({ subscription: s.uuid, reason: expect.stringContaining('could not read the billing cycle') })]) });

    await applyEvent(w, { id: `evt_deleted_${s.uuid}`, type: 'subscription', change: 'deleted', occurredAt: new Date(now), account: null, engineSubscriptionId: engineSubscriptionId(s.uuid), status: 'canceled' });
    expect((await own(w, s.uuid)).map((i) => i.kind)).toEqual(['SUBSCRIPTION_START']);
    // The other one's core row removed after a final invoice that was never made.
    await w.db('AM_SUBSCRIPTION').where({ UUID: gone.uuid }).del();
    const check = await w.invoicing.check();
    expect(check.closed).toBe(0);
    expect((await own(w, s.uuid)).map((i) => i.kind)).toEqual(['SUBSCRIPTION_START']);

    w.engine.failCycles = false;
    expect(await w.usage.publisher.freezeOnly()).toEqual({ frozen: true });
    now = T0 + 2 * DAY;
    await w.invoicing.check();
    expect((await own(w, s.uuid)).map((i) => [i.kind, i.calls, i.total])).toEqual([
      ['SUBSCRIPTION_START', 0n, 0n],
      ['FINAL', 2n, 2n],
    ]);
    expect((await own(w, gone.uuid)).map((i) => [i.kind, i.calls, i.total, i.subscription.policy.name])).toEqual([
      ['SUBSCRIPTION_START', 0n, 0n, w.policies.perCall],
      ['FINAL', 1n, 1n, w.policies.perCall],
    ]);
  });

  it('the pending invoice is read without freezing (records plus the usage not frozen yet) and says what the period invoice then says', async () => {
    now = T0;
    const s = await subscribe(w, w.policies.graduated);
    const pending = new PendingInvoices({
      invoicesOf: (uuid) => w.invoicing.invoicesOf(uuid),
      engine: w.engine,
      usage: { callsWithoutFreezing: async (uuid, from, to) => BigInt(await w.usage.publisher.callsWithoutFreezing(uuid, from, to)) },
      clock,
    });
    const records = () => new RecordStore(w.db).list({ subscriptionUuid: s.uuid });
    now = T0 + 10 * DAY;
    await calls(w, s, [T0 + HOUR, T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY]);
    expect(await w.usage.publisher.freezeOnly()).toEqual({ frozen: true });
    const frozen = (await records()).length;
    // Four calls frozen, three more not yet (one a millisecond before the period ends), one in the next period.
    now = PERIOD_1_END + HOUR;
    await calls(w, s, [T0 + 9 * DAY, T0 + 20 * DAY, PERIOD_1_END - 1, PERIOD_1_END]);
    const view = await pending.of(s.ref);
    expect((await records()).length).toBe(frozen);
    expect(view).toMatchObject({ periodStart: new Date(T0), periodEnd: new Date(PERIOD_1_END) });
    expect(view!.lines.filter((l) => l.description.includes('call')).reduce((n, l) => n + l.quantity, 0)).toBe(7);

    now = PERIOD_1_END + 2 * HOUR;
    await w.invoicing.closeNow(TENANT.domain, s.uuid);
    const period = (await own(w, s.uuid)).find((i) => i.kind === 'PERIOD')!;
    expect(period.calls).toBe(7n);
    expect(period.total).toBe(view!.total);
    expect(period.lines.map((l) => [l.description, l.amount])).toEqual(view!.lines.map((l) => [l.description, l.amount]));
  });

  describe('a change of business plan part-way through a period', () => {
    /** Per call 0.05 and a base fee of 31.00 a month (the period from T0 has 31 days). */
    const feeAndCalls: PolicyPricing = { plan: 'DYNAMICRATE', currency: 'usd', billingCycle: 'month', pricePerRequest: '0.05', fixedPrice: '31.00' };
    let richer: string;
    beforeAll(async () => {
      richer = (await w.seed.policy('FeeAndCalls', feeAndCalls)).name;
      await w.db('AM_POLICY_SUBSCRIPTION').where({ NAME: richer }).update({ FIXED_RATE: feeAndCalls.fixedPrice }); // DYNAMICRATE's base fee
      await w.db('ML_API_POLICY').insert({ API_ID: w.api.id, POLICY_NAME: richer });
    });
    const change = (s: Awaited<ReturnType<typeof subscribe>>, tier: string) => w.apim.subscriptions.changePlan(s.caller, s.uuid, { applicationId: s.application.uuid, throttlingPolicy: tier });
    const refOf = async (uuid: string) => (await apimCoreRecords(w.db).subscriptionRefs([uuid], () => TENANT.id)).get(uuid)!;

    it('closes the open period at the change (usage so far at the old price, the new base fee pro-rated, one rounding); a second change in the period likewise; the period then closes on the new plan', async () => {
      now = T0;
      const s = await subscribe(w, w.policies.perCall);
      const T1 = T0 + 10 * DAY + HOUR; // 503 of the period's 744 hours left
      const T2 = T0 + 20 * DAY;
      now = T1 - MINUTE;
      await calls(w, s, [T0 + HOUR, T0 + DAY, T1 - 2 * HOUR]);
      now = T1;
      expect((await change(s, richer)).tier).toBe(richer);
      now = T2 - MINUTE;
      await calls(w, s, [T1, T1 + HOUR, T2 - HOUR]);
      now = T2;
      await change(s, w.policies.perCall);
      now = PERIOD_1_END + 2 * HOUR;
      await calls(w, s, [T2, T2 + DAY, PERIOD_1_END - HOUR, PERIOD_1_END]);
      await w.invoicing.check();
      const periods = (await own(w, s.uuid)).filter((i) => i.kind === 'PERIOD');
      expect(periods.map((i) => [i.periodStart.getTime(), i.periodEnd.getTime(), i.calls, i.status])).toEqual([
        [T0, T1, 3n, 'OPEN'],
        [T1, T2, 3n, 'OPEN'],
        [T2, PERIOD_1_END, 3n, 'OPEN'],
      ]);
      expect(periods[0]!.invoiceId).toBe(ownInvoiceId(s.uuid, 'PERIOD', new Date(T0)));
      // 3 calls × 0.01 + 31.00 × 503/744 = 20.958… → 20.96 (half up, once).
      expect(periods[0]!.lines.map((l) => [l.kind, l.amount])).toEqual([
        ['USAGE', 3n],
        ['BASE_FEE', 2096n],
      ]);
      expect(periods[0]!.lines[1]!.description).toContain(`fee of ${richer}, pro-rated for`);
      expect(periods[0]!.total).toBe(2099n);
      // 3 calls × 0.05; the per-call plan has no base fee to pro-rate.
      expect(periods[1]!.lines.map((l) => [l.kind, l.amount])).toEqual([['USAGE', 15n]]);
      // The rest of the period on the per-call plan (its call at the period end is the next period's).
      expect(periods[2]!.lines.map((l) => [l.kind, l.amount])).toEqual([['USAGE', 3n]]);
      expect(periods.map((i) => w.engine.invoices.get(i.invoiceId)?.total)).toEqual([2099n, 15n, 3n]);
    });

    it('usage of before the change that is frozen after it is rated at the old price (a LATE_USAGE line), the usage after it at the new price', async () => {
      now = T0;
      const s = await subscribe(w, w.policies.perCall);
      const T1 = T0 + 5 * DAY;
      now = T1;
      await change(s, richer);
      // A call of the hour before the change reaches Meterline after it.
      now = PERIOD_1_END + 2 * HOUR;
      await calls(w, s, [T1 - HOUR, T1 + HOUR]);
      await w.invoicing.check();
      const [, period] = (await own(w, s.uuid)).filter((i) => i.kind === 'PERIOD');
      expect(period!.lines.map((l) => [l.kind, l.quantity, l.amount])).toEqual([
        ['BASE_FEE', 1n, 3100n],
        ['USAGE', 1n, 5n],
        ['LATE_USAGE', 1n, 1n],
      ]);
    });

    it('a crash between the steps makes one invoice: drafted then killed, the tier changed, the next check submits it; a change whose tier never changed is removed', async () => {
      now = T0;
      const s = await subscribe(w, w.policies.perCall);
      const T1 = T0 + 3 * DAY;
      now = T1 - HOUR;
      await calls(w, s, [T0 + HOUR]);
      const from = await refOf(s.uuid);
      const to = { ...from, policy: { ...from.policy, name: richer, pricing: feeAndCalls } };
      now = T1;
      expect(await w.usage.publisher.freezeOnly()).toEqual({ frozen: true }); // what the workflow does before step 1
      // Killed after drafting; the tier never changed: left alone for 10 minutes, then removed.
      await expect(w.killedAfterDraft.planChanging(from, to, new Date(T1))).rejects.toThrow('killed after drafting');
      const [draft] = (await own(w, s.uuid)).filter((i) => i.kind === 'PERIOD');
      expect(draft).toMatchObject({ status: 'DRAFT', periodEnd: new Date(T1) });
      now = T1 + 5 * MINUTE;
      await w.invoicing.submitDrafts();
      expect((await own(w, s.uuid)).filter((i) => i.kind === 'PERIOD')).toMatchObject([{ status: 'DRAFT', attempts: 0 }]);
      now = T1 + 10 * MINUTE;
      await w.invoicing.submitDrafts();
      expect((await own(w, s.uuid)).filter((i) => i.kind === 'PERIOD')).toEqual([]);
      expect(w.engine.invoices.has(draft!.invoiceId)).toBe(false);

      // Again: drafted, the tier changed, killed before submitting: the checks submit it, once.
      const T2 = T1 + HOUR;
      now = T2;
      const made = await w.invoicing.planChanging(from, to, new Date(T2));
      await w.db('AM_SUBSCRIPTION').where({ UUID: s.uuid }).update({ TIER_ID: richer });
      expect(made).toMatchObject({ status: 'DRAFT', periodEnd: new Date(T2) });
      await w.invoicing.check();
      await w.invoicing.check();
      const periods = (await own(w, s.uuid)).filter((i) => i.kind === 'PERIOD');
      expect(periods).toMatchObject([{ invoiceId: made!.invoiceId, status: 'OPEN', periodEnd: new Date(T2), calls: 1n }]);
      expect([...w.engine.invoices.keys()].filter((id) => id === made!.invoiceId)).toHaveLength(1);
      expect((await w.billing.issued.ofSubscription(s.uuid)).filter((r) => r.billingReason === 'PERIOD')).toHaveLength(1);
    });

    // Validation only: the database cannot matter.
    (kind === 'sqlite' ? it : it.skip)('a plan on another billing cycle is refused with a 400 naming the field; nothing changes', async () => {
      now = T0;
      const s = await subscribe(w, w.policies.perCall);
      const yearly = (await w.seed.policy('Yearly', { ...perCall, billingCycle: 'year' })).name;
      await w.db('ML_API_POLICY').insert({ API_ID: w.api.id, POLICY_NAME: yearly });
      const before = await own(w, s.uuid);
      await expect(change(s, yearly)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('throttlingPolicy') });
      expect((await w.apim.subscriptions.getOwn(s.caller, s.uuid)).tier).toBe(w.policies.perCall);
      expect(await own(w, s.uuid)).toEqual(before);
    });
  });

  it("the pay link's expiry is computed when the invoice is submitted: a draft submitted 20 days late gets pay_within_days from then", async () => {
    now = T0;
    const subscriber = await w.seed.subscriber();
    const application = await w.seed.application(subscriber);
    const ref = await w.seed.subscription(w.api, application, subscriber, await w.seed.policy('Late', monthlyFee));
    await w.engine.createSubscription(ref);
    await w.billing.records.subscriptionBilled({ subscriptionUuid: ref.uuid, tenantDomain: TENANT.domain, apiUuid: w.api.uuid, applicationUuid: application.uuid, engineSubscriptionId: engineSubscriptionId(ref.uuid), engineAccount: null }, clock());
    await expect(w.killedAfterDraft.subscriptionStarted(ref, clock())).rejects.toThrow('killed after drafting');
    // The engine down at the first attempt (day 1), up at the second (day 20).
    now = T0 + DAY;
    w.engine.failNext = 1;
    await w.invoicing.submitDrafts();
    now = T0 + 20 * DAY;
    await w.invoicing.submitDrafts();
    const [invoice] = await own(w, ref.uuid);
    const payWithin = configSchema.parse({}).apim.monetization.invoicing.pay_within_days;
    expect(invoice).toMatchObject({ status: 'OPEN', expiresAt: new Date(T0 + 20 * DAY + payWithin * DAY) });
    expect(w.engine.invoices.get(invoice!.invoiceId)!.expiresAt).toEqual(new Date(T0 + 20 * DAY + payWithin * DAY));
  });
  it("admin routes: a tenant's own invoices with exact lines, status as payment left it, the pay link; close now for one subscription is idempotent; another tenant sees none and cannot close", async () => {
    now = T0;
    const s = await subscribe(w, w.policies.fee);
    const admin = ownInvoicesAdmin(w.invoicing, w.billing);
    const principal = (domain: string) => ({ subject: 'admin', email: null, tenant: { domain, id: domain === TENANT.domain ? TENANT.id : 7 }, scopes: new Set(['apim:admin']) });
    const context = (domain: string, extra: { query?: unknown; body?: unknown }) =>
      ({ principal: principal(domain), params: {}, query: extra.query ?? {}, body: extra.body ?? {}, apim: w.apim, ownInvoices: admin, basePath: '/api/am/admin/v4' }) as never;
    const [first] = await own(w, s.uuid);
    await applyEvent(w, invoiceEvent(w, first!.invoiceId, s.uuid, 'paid', now));

    const listed = (await listOwnInvoices.handle(context(TENANT.domain, { query: { subscriptionId: s.uuid } }))).body as { count: number; list: Array<Record<string, unknown>> };
    expect(listed).toEqual({
      count: 1,
      list: [
        expect.objectContaining({
          invoiceId: first!.invoiceId,
          kind: 'SUBSCRIPTION_START',
          subscriptionId: s.uuid,
          status: 'PAID',
          currency: 'USD',
          total: '10.00',
          engineInvoiceId: w.engine.invoices.get(first!.invoiceId)!.engineInvoiceId,
          hostedInvoiceUrl: w.engine.invoices.get(first!.invoiceId)!.hostedInvoiceUrl,
          lines: [{ kind: 'BASE_FEE', description: first!.lines[0]!.description, quantity: 1, unitAmountDecimal: '10', amount: '10.00' }],
        }),
      ],
    });
    expect(((await listOwnInvoices.handle(context(TENANT.domain, { query: { subscriptionId: s.uuid, status: 'OPEN' } }))).body as { count: number }).count).toBe(0);
    expect(listOwnInvoices.query!.safeParse({ status: 'LATE' }).success).toBe(false);
    expect(((await listOwnInvoices.handle(context('other.example', { query: { subscriptionId: s.uuid } }))).body as { count: number }).count).toBe(0);

    // Close now before the period is due: nothing made; at +2 h: the period invoice, once.
    const close = async (domain = TENANT.domain) => (await closeOwnInvoices.handle(context(domain, { body: { subscriptionId: s.uuid } }))).body as { closed: number; made: Array<{ kind: string; total: string; status: string }> };
    expect((await close()).made).toEqual([]);
    now = PERIOD_1_END + 2 * HOUR;
    const closed = await close();
    expect(closed.closed).toBe(1);
    expect(closed.made.map((i) => [i.kind, i.total, i.status])).toEqual([['PERIOD', '10.00', 'OPEN']]);
    expect(await close()).toMatchObject({ closed: 0, made: [] });
    expect((await own(w, s.uuid)).map((i) => i.kind)).toEqual(['SUBSCRIPTION_START', 'PERIOD']);
    await expect(close('other.example')).rejects.toThrow(GatewayError);
    await expect(close('other.example')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
