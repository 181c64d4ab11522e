import type { Server } from 'node:http';
import express from 'express';
import { signWebhookEvent, startMyFatoorahServer, type MyFatoorahServer } from '../../../dev/myfatoorah-server';
import { parseConfig } from '../../../src/config/load';
import { mintToken } from '../../../src/http/auth/tokens';
import { startService } from '../../../src/service';
import { myFatoorahEngine } from '../../../plugins/myfatoorah';
import { MyFatoorahMonetization } from '../../../plugins/myfatoorah/myfatoorah.monetization';
import { BillingRecords } from '../../../src/billing/billing-records.service';
import { BillingRepository, type GatewaySubscriptionStatus } from '../../../src/billing/billing.repository';
import type { SubscriptionPolicy, SubscriptionRef } from '../../../src/domain/model';
import { billingWebhookRouter } from '../../../src/http/billing/webhook-route';
import { createLogger } from '../../../src/logger';
import { MonetizationError, type CoreRecords, type EngineDependencies, type InvoiceToSubmit, type Monetization, type TenantDirectory } from '../../../src/monetization/monetization';
import { forEachTestDatabase } from '../../helpers/databases';
import { migrateLatest } from '../../helpers/migrations';
import { ADMIN, policyBody, SCOPES, uniqueName } from '../../helpers/rest-harness';

/**
 * The MyFatoorah engine against the local MyFatoorah server (dev/myfatoorah-server, over HTTP),
 * with Meterline's own webhook route and billing records on a real database: subscribe, submit
 * invoices (idempotently, also when SendPayment's answer is lost), pay on the server, and the
 * signed webhook, confirmed with GetPaymentStatus, marks the invoice record paid. One migrated
 * database, one server and one receiver per database; the tests build on each other in order.
 * Last, Meterline itself started on that database with `monetization_impl = "myfatoorah"`.
 */
const TOKEN = 'mf_test_kwt_engine';
const SECRET = 'kwt-webhook-secret';
const TENANT = { domain: 'carbon.super', id: -1234 };
const START = new Date('2030-01-15T00:00:00Z');

const policy: SubscriptionPolicy = {
  uuid: 'pol-gold',
  name: 'Gold',
  tenant: TENANT,
  billingPlan: 'COMMERCIAL',
  pricing: { plan: 'DYNAMICRATE', currency: 'kwd', billingCycle: 'month', pricePerRequest: '0.002', fixedPrice: '5.000' },
};
const api = { uuid: 'api-hello', name: 'Hello', version: '1.0.0', provider: 'pat', tenant: TENANT };
const subscription: SubscriptionRef = {
  uuid: 'sub-mf-1',
  api,
  application: { uuid: 'app-1', name: 'App' },
  subscriber: { userId: 'alice', email: 'alice@example.com' },
  policy,
};

function invoiceOf(invoiceId: string, kind: InvoiceToSubmit['kind'], total: bigint): InvoiceToSubmit {
  return {
    invoiceId,
    kind,
    subscription,
    currency: 'kwd',
    periodStart: START,
    periodEnd: new Date('2030-02-15T00:00:00Z'),
    lines: [{ description: 'Hello API · monthly fee', quantity: 1n, unitAmountDecimal: null, amount: total }],
    total,
    customer: { name: 'Alice', email: 'alice@example.com' },
    expiresAt: new Date('2030-02-14T00:00:00Z'),
  };
}

forEachTestDatabase((_kind, db) => {
  let mf: MyFatoorahServer;
  let receiver: Server;
  let hookUrl: string;
  let engine: Monetization;
  let engineDeps: EngineDependencies;
  let records: BillingRecords;
  const statuses = new Map<string, string>();

  beforeAll(async () => {
    await migrateLatest(db().knex);
    mf = await startMyFatoorahServer({ startAt: START, accounts: [{ token: TOKEN, country: 'KWT', webhook: { url: null, secret: SECRET, retries: 0 } }] });
    const secrets: Record<string, string> = { myfatoorah_api_token: TOKEN, myfatoorah_webhook_secret: SECRET };
    const tenants: TenantDirectory = {
      find: (domain) =>
        domain === TENANT.domain ? { ...TENANT, platformAccountKey: undefined, secrets } : domain === 'no-token.com' ? { domain, id: 7, platformAccountKey: undefined, secrets: {} } : undefined,
    };
    const logger = createLogger('silent');
    const clock = () => mf.clock.now();
    engineDeps = { core: {} as CoreRecords, store: db().knex, logger, clock, tenants };
    engine = myFatoorahEngine.create({ api_base_url: mf.url, retries: 2, retry_initial_delay_ms: 1, timeout_ms: 5000 }, engineDeps);
    const gateway: GatewaySubscriptionStatus = {
      statusOf: async (uuid) => (statuses.has(uuid) ? { status: statuses.get(uuid)!, tenantDomain: TENANT.domain } : undefined),
      setStatusOf: async (_db, uuid, status) => {
        statuses.set(uuid, status);
      },
    };
    records = new BillingRecords(new BillingRepository(db().knex, gateway), () => ({ holdUntilPaid: true, gracePeriodMs: 3 * 86_400_000 }), logger, engine.capabilities.isFirstPaymentInvoice);
    const app = express();
    app.use(billingWebhookRouter({ engine, tenants, records, logger, clock }));
    await new Promise<void>((resolve) => {
      receiver = app.listen(0, '127.0.0.1', () => resolve());
    });
    const address = receiver.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    hookUrl = `http://127.0.0.1:${address.port}/api/am/monetization/webhooks/myfatoorah/carbon.super`;
    mf.accounts.configureWebhook(TOKEN, { url: hookUrl });
  });

  afterAll(async () => {
    await new Promise((resolve) => receiver?.close(resolve));
    await mf?.close();
  });

  const sendPayments = () => mf.requests.list().filter((r) => r.path.toLowerCase() === '/v2/sendpayment');
  const post = async (body: unknown, signature: string) => {
    const response = await fetch(hookUrl, { method: 'POST', headers: { 'Content-Type': 'application/json', 'MyFatoorah-Signature': signature }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as { outcome?: string; description?: string } };
  };
  const invoiceRecord = async (mfInvoiceId: string) => (await records.invoicesOfSubscription(subscription.uuid)).find((i) => i.engineInvoiceId === mfInvoiceId);

  it("refuses monetization for a tenant without a MyFatoorah token, and records an API's tiers, asking MyFatoorah only whether the account invoices their currency", async () => {
    const elsewhere = { ...api, tenant: { domain: 'no-token.com', id: 7 } };
    await expect(engine.enableMonetization({ api: elsewhere, policies: [{ ...policy, tenant: elsewhere.tenant }], properties: {} })).rejects.toMatchObject({
      code: 'BILLING_NOT_CONFIGURED',
      message: expect.stringMatching(/no-token\.com has no MyFatoorah API token: set myfatoorah_api_token/),
    });
    await expect(engine.createBillingPlan({ ...policy, pricing: { ...policy.pricing!, currency: 'usd' } })).rejects.toMatchObject({ code: 'INVALID_POLICY_PRICING' });
    expect(await engine.enableMonetization({ api, policies: [policy], properties: {} })).toEqual({ enabled: true, plans: { Gold: 'pol-gold' }, changed: true, notes: [] });
    expect(await engine.getMonetizedPoliciesToPlanMapping(api)).toEqual({ Gold: 'pol-gold' });
    // Only the account's currency was asked (InitiatePayment), once: the answer is kept for the tenant.
    expect(mf.requests.list().map((r) => [r.path, r.body])).toEqual([['/v2/InitiatePayment', { InvoiceAmount: 1, CurrencyIso: 'KWD' }]]);
  });

  it('records a subscription as mf:<uuid>, held by the core until its first invoice is paid', async () => {
    const outcome = await engine.createSubscription(subscription);
    expect(outcome).toEqual({ billed: true, access: 'UNBLOCKED', engineSubscriptionId: 'mf:sub-mf-1' });
    expect(await engine.createSubscription(subscription)).toEqual(outcome);
    expect(await engine.billingCycleOf(subscription)).toEqual({ anchor: START, interval: 'month', intervalCount: 1 });
    expect(await engine.billedSubscriptionOf(subscription.uuid)).toEqual({ engineSubscriptionId: 'mf:sub-mf-1', account: null });
    statuses.set(subscription.uuid, 'ON_HOLD');
    const decision = await records.subscriptionBilled(
      { subscriptionUuid: subscription.uuid, tenantDomain: TENANT.domain, apiUuid: api.uuid, applicationUuid: 'app-1', engineSubscriptionId: outcome.engineSubscriptionId!, engineAccount: null },
      START,
      outcome.access,
    );
    expect(decision.status).toBe('ON_HOLD');
  });

  let firstInvoice: string;
  it('submits an invoice once (SendPayment with its lines and references), however often it is submitted', async () => {
    const answer = await engine.submitInvoice!(invoiceOf('ml-inv-start', 'SUBSCRIPTION_START', 5000n));
    firstInvoice = answer.engineInvoiceId;
    expect(answer).toEqual({ engineInvoiceId: expect.stringMatching(/^\d+$/), hostedInvoiceUrl: expect.stringContaining(`${mf.url}/KWT/ie/`), invoicePdfUrl: null });
    expect(await engine.submitInvoice!(invoiceOf('ml-inv-start', 'SUBSCRIPTION_START', 5000n))).toEqual(answer);
    expect(sendPayments()).toHaveLength(1);
    expect(sendPayments()[0]!.body).toMatchObject({
      InvoiceValue: 5,
      NotificationOption: 'LNK',
      DisplayCurrencyIso: 'KWD',
      CustomerReference: 'ml-inv-start',
      UserDefinedField: 'sub-mf-1',
      InvoiceItems: [{ ItemName: 'Hello API · monthly fee', Quantity: 1, UnitPrice: 5 }],
    });
  });

  let secondInvoice: string;
  it("finds the invoice a SendPayment whose answer was lost made, instead of making a second one", async () => {
    mf.faults.add({ kind: 'lose_response', path: '/v2/SendPayment' });
    const answer = await engine.submitInvoice!(invoiceOf('ml-inv-period-1', 'PERIOD', 7250n));
    secondInvoice = answer.engineInvoiceId;
    // Found by GetPaymentStatus (CustomerReference), which gives no InvoiceURL: recorded without its pay link.
    expect(answer).toEqual({ engineInvoiceId: expect.stringMatching(/^\d+$/), hostedInvoiceUrl: null, invoicePdfUrl: null });
    expect(sendPayments().filter((r) => (r.body as { CustomerReference?: string }).CustomerReference === 'ml-inv-period-1')).toHaveLength(1);
    expect(mf.invoices.get(Number(secondInvoice))).toMatchObject({ CustomerReference: 'ml-inv-period-1', InvoiceValue: 7.25 });
  });

  it('sends no second SendPayment while one that timed out may still make its invoice: later submissions look it up until the timeout plus the margin has passed', async () => {
    // MyFatoorah creates the invoice only after this engine gave up on its SendPayment (held by the
    // server until released) and after its lookups found nothing: before the fix, the next
    // submission sent again. Its time limit is below what the options allow, to keep the test short.
    const hasty = new MyFatoorahMonetization(
      { baseUrl: mf.url, fixedBaseUrl: true, timeoutMs: 500, retries: 0, retryInitialDelayMs: 1, retryMaxDelayMs: 1, unansweredSendMarginMs: 60_000 },
      engineDeps,
    );
    const invoice = invoiceOf('ml-inv-race', 'PERIOD', 3000n);
    const sends = () => sendPayments().filter((r) => (r.body as { CustomerReference?: string }).CustomerReference === 'ml-inv-race');
    mf.faults.add({ kind: 'delayed', path: '/v2/SendPayment', delayMs: 60_000 });
    await expect(hasty.submitInvoice!(invoice)).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringMatching(/did not answer/) });
    await expect(hasty.submitInvoice!(invoice)).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringMatching(/got no answer/) });
    expect(await mf.faults.release()).toBe(1);
    expect(sends()).toEqual([expect.objectContaining({ status: 200 })]);
    // Within the margin, a lookup finding it records it; after it, a lookup finding nothing would send.
    mf.clock.advance(61);
    const found = await hasty.submitInvoice!(invoice);
    expect(found).toEqual({ engineInvoiceId: expect.stringMatching(/^\d+$/), hostedInvoiceUrl: null, invoicePdfUrl: null });
    expect(sends()).toHaveLength(1);
  });

  it('marks the invoice paid when the customer pays: the signed webhook, confirmed with GetPaymentStatus; a replay is a duplicate', async () => {
    mf.invoices.pay(Number(firstInvoice));
    await mf.webhooks.flush();
    const [delivery] = mf.webhooks.deliveries();
    expect(delivery!.attempts.map((a) => a.status)).toEqual([200]);
    expect(await invoiceRecord(firstInvoice)).toMatchObject({ status: 'PAID', total: 5000n, amountPaid: 5000n, currency: 'kwd', billingReason: 'SUBSCRIPTION_START', hostedInvoiceUrl: expect.stringContaining('/KWT/ie/') });
    expect(statuses.get(subscription.uuid)).toBe('UNBLOCKED');
    expect(await post(delivery!.body, delivery!.signature)).toEqual({ status: 200, body: { received: true, outcome: 'duplicate' } });
    const tampered = { ...delivery!.body, Data: { ...delivery!.body.Data, Invoice: { ...(delivery!.body.Data.Invoice as object), Id: secondInvoice } } };
    expect((await post(tampered, delivery!.signature)).status).toBe(400);
  });

  it('changes nothing for a signed "Paid" that GetPaymentStatus does not confirm, records a failed payment, and voids an expired invoice', async () => {
    const claim = { Event: { Code: 1, Name: 'PAYMENT_STATUS_CHANGED', CountryIsoCode: 'KWT', CreationDate: START.toISOString(), Reference: 'WH-X' }, Data: { Invoice: { Id: secondInvoice, Status: 'PAID', ExternalIdentifier: 'ml-inv-period-1', UserDefinedField: subscription.uuid }, Transaction: { Status: 'SUCCESS', PaymentId: 'forged' } } };
    expect((await post(claim, signWebhookEvent(claim, SECRET))).body).toMatchObject({ outcome: 'ignored' });
    expect((await invoiceRecord(secondInvoice))?.status).not.toBe('PAID');
    // A shop's invoice on the same MyFatoorah account (not submitted by Meterline), with values too long to key a delivery by: acknowledged, ignored.
    const foreign = { ...claim, Data: { ...claim.Data, Invoice: { Id: '999999', Status: 'PAID', ExternalIdentifier: 'x'.repeat(300), UserDefinedField: null }, Transaction: { Status: 'SUCCESS', PaymentId: 'p'.repeat(300) } } };
    expect(await post(foreign, signWebhookEvent(foreign, SECRET))).toMatchObject({ status: 200, body: { outcome: 'ignored' } });

    mf.invoices.fail(Number(secondInvoice), { error: 'Insufficient funds' });
    await mf.webhooks.flush();
    const failed = mf.webhooks.deliveries().at(-1)!;
    expect(failed.attempts.map((a) => a.status)).toEqual([200]);
    expect(await invoiceRecord(secondInvoice)).toMatchObject({ status: 'OPEN', amountPaid: 0n, lastError: expect.stringContaining('Insufficient funds') });

    mf.invoices.expire(Number(secondInvoice));
    mf.webhooks.replay(failed.reference);
    await mf.webhooks.flush();
    expect(await invoiceRecord(secondInvoice)).toMatchObject({ status: 'VOID' });
  });

  it('sweeps OPEN invoices past their expiry (MyFatoorah sends no event then): expired ones voided, one paid without a delivery paid, once', async () => {
    const expiring = await engine.submitInvoice!(invoiceOf('ml-inv-expiring', 'PERIOD', 1000n));
    const paidQuietly = await engine.submitInvoice!(invoiceOf('ml-inv-quiet', 'PERIOD', 2000n));
    const expiry = new Date('2030-02-14T00:00:00Z');
    mf.invoices.expire(Number(expiring.engineInvoiceId));
    mf.webhooks.pause();
    mf.invoices.pay(Number(paidQuietly.engineInvoiceId));
    // Not yet past the expiry Meterline sent: nothing is asked.
    mf.requests.reset();
    expect(await engine.sweepInvoices!(new Date(expiry.getTime() - 1))).toEqual([]);
    expect(mf.requests.list()).toEqual([]);
    const swept = await engine.sweepInvoices!(expiry);
    expect(swept.map(({ tenantDomain, event }) => [tenantDomain, event.type === 'invoice' ? [event.invoice.engineInvoiceId, event.change] : event.type]).sort()).toEqual(
      [
        ['carbon.super', [expiring.engineInvoiceId, 'voided']],
        ['carbon.super', [paidQuietly.engineInvoiceId, 'paid']],
      ].sort(),
    );
    for (const { tenantDomain, event } of swept) expect(await records.apply(tenantDomain, event, expiry, (uuid) => engine.billedSubscriptionOf(uuid))).toMatchObject({ outcome: 'applied' });
    expect(await invoiceRecord(expiring.engineInvoiceId)).toMatchObject({ status: 'VOID' });
    expect(await invoiceRecord(paidQuietly.engineInvoiceId)).toMatchObject({ status: 'PAID', amountPaid: 2000n });
    // Settled: the next sweep does not ask about them again; the delivery that comes late is a duplicate in effect.
    mf.requests.reset();
    const again = await engine.sweepInvoices!(expiry);
    expect(again.filter(({ event }) => event.type === 'invoice' && [expiring.engineInvoiceId, paidQuietly.engineInvoiceId].includes(event.invoice.engineInvoiceId))).toEqual([]);
    expect(mf.requests.list().filter((r) => [expiring.engineInvoiceId, paidQuietly.engineInvoiceId].includes(String((r.body as { Key?: string }).Key)))).toEqual([]);
    mf.webhooks.resume();
    await mf.webhooks.flush();
    expect(await invoiceRecord(paidQuietly.engineInvoiceId)).toMatchObject({ status: 'PAID' });
  });

  it('answers 502 while GetPaymentStatus cannot be reached, so MyFatoorah delivers again', async () => {
    const [delivery] = mf.webhooks.deliveries();
    const again = { ...delivery!.body, Data: { ...delivery!.body.Data, Transaction: { ...(delivery!.body.Data.Transaction as object), PaymentId: 'another' } } };
    mf.faults.add({ kind: 'error', path: '/v2/GetPaymentStatus', times: 3 });
    expect((await post(again, signWebhookEvent(again, SECRET))).status).toBe(502);
    mf.faults.clear();
  });

  it('cancels the subscription locally, and its final invoice is recorded paid after the cancel; MyFatoorah keeps no customers and no running invoice', async () => {
    expect(await engine.listEngineSubscriptions(TENANT)).toEqual([expect.objectContaining({ engineSubscriptionId: 'mf:sub-mf-1', subscriptionUuid: 'sub-mf-1', account: null })]);
    expect(await engine.reportUsage({ subscription, quantity: 3, windowStart: START, windowEnd: START, identifier: 'u1' })).toEqual({ sent: true });
    expect(await engine.getTotalRevenue(api)).toEqual({ byCurrency: { kwd: 7000n }, subscriptions: [{ subscriptionUuid: 'sub-mf-1', currency: 'kwd', amount: 7000n }] });
    const final = await engine.submitInvoice!(invoiceOf('ml-inv-final', 'FINAL', 1250n));
    expect(await engine.deleteSubscription(subscription)).toEqual({ billed: true, access: 'BLOCKED', engineSubscriptionId: 'mf:sub-mf-1' });
    expect(await engine.billingCycleOf(subscription)).toBeNull();
    expect(await engine.listEngineSubscriptions(TENANT)).toEqual([]);
    // The final invoice is paid after the cancel: still recorded, as the engine still answers for the subscription.
    expect(await engine.billedSubscriptionOf(subscription.uuid)).toEqual({ engineSubscriptionId: 'mf:sub-mf-1', account: null });
    mf.invoices.pay(Number(final.engineInvoiceId));
    await mf.webhooks.flush();
    expect(await invoiceRecord(final.engineInvoiceId)).toMatchObject({ status: 'PAID', billingReason: 'FINAL', total: 1250n });
    // An undone attempt the gateway finishes after all (same UUID) is billed again, from now.
    const other = { ...subscription, uuid: 'sub-mf-undone' };
    await engine.createSubscription(other);
    await engine.deleteSubscription(other);
    const later = mf.clock.advance(3600);
    expect(await engine.createSubscription(other)).toEqual({ billed: true, access: 'UNBLOCKED', engineSubscriptionId: 'mf:sub-mf-undone' });
    expect(await engine.billingCycleOf(other)).toEqual({ anchor: later, interval: 'month', intervalCount: 1 });
    expect(await engine.listEngineCustomers(TENANT)).toEqual({ customers: [], unlisted: [] });
    await expect(engine.getCurrentUsageForSubscription(subscription)).rejects.toBeInstanceOf(MonetizationError);
  });

  it('runs in the service (monetization_impl = "myfatoorah"): a KWD commercial policy is created, a USD one and one in SAR (not on the account) refused with a 400 naming currencyType', async () => {
    const config = parseConfig(
      {
        database: { apim_db: db().config },
        auth: { jwt: { secret: 'myfatoorah-service-test-secret-0123456789', issuer: 'meterline', audience: 'meterline' } },
        apim: { monetization: { monetization_impl: 'myfatoorah', myfatoorah: { api_base_url: mf.url } } },
        logging: { level: 'silent' },
        tenants: [{ domain: TENANT.domain, id: TENANT.id, monetization_info: { myfatoorah_api_token: TOKEN, myfatoorah_webhook_secret: SECRET } }],
      },
      {},
      'test',
    );
    const service = await startService({ config, logger: createLogger('silent'), port: 0 });
    try {
      const admin = mintToken(config.auth.jwt!, { subject: 'admin', tenant: undefined, scopes: SCOPES.admin });
      const createPolicy = async (body: unknown) => {
        const response = await fetch(`${service.url}${ADMIN}/throttling/policies/subscription`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: response.status, body: (await response.json()) as { error?: Array<{ code: string; message: string }> } };
      };
      mf.requests.reset();
      expect((await createPolicy(policyBody(uniqueName('Kwd'), { plan: 'FIXEDRATE', price: '5.250', currency: 'KWD' }))).status).toBe(201);
      const usd = await createPolicy(policyBody(uniqueName('Usd'), { plan: 'FIXEDRATE', price: '10', currency: 'USD' }));
      expect(usd.status).toBe(400);
      expect(usd.body.error).toEqual([{ code: expect.stringMatching(/currencyType$/), message: expect.stringMatching(/MyFatoorah cannot invoice in USD/) }]);
      const sarName = uniqueName('Sar');
      const sar = await createPolicy(policyBody(sarName, { plan: 'FIXEDRATE', price: '10.50', currency: 'SAR' }));
      expect(sar).toMatchObject({ status: 400, body: { error: [{ code: 'monetization.properties.currencyType', message: expect.stringMatching(/account cannot invoice in SAR/) }] } });
      // USD is refused by the engine's own rule before any call; KWD and SAR are asked of the account.
      expect(mf.requests.list().map((r) => [r.path, (r.body as { CurrencyIso?: string }).CurrencyIso])).toEqual([['/v2/InitiatePayment', 'KWD'], ['/v2/InitiatePayment', 'SAR']]);
      // Nothing of the refused policy is left: the same name is free.
      const list = await fetch(`${service.url}${ADMIN}/throttling/policies/subscription`, { headers: { Authorization: `Bearer ${admin}` } });
      expect(JSON.stringify(await list.json())).not.toContain(sarName);
    } finally {
      await service.close();
    }
  });

  // Last: it moves MyFatoorah's clock past the kept answers.
  it("refuses a plan or an API's tier in a currency the tenant's account cannot invoice (InitiatePayment), naming currencyType", async () => {
    const sar: SubscriptionPolicy = { ...policy, uuid: 'pol-sar', name: 'Riyal', pricing: { ...policy.pricing!, currency: 'sar', fixedPrice: '5.00' } };
    const refused = { code: 'INVALID_POLICY_PRICING', context: { field: 'monetization.properties.currencyType' }, message: expect.stringMatching(/account cannot invoice in SAR/) };
    mf.requests.reset();
    await expect(engine.createBillingPlan(sar)).rejects.toMatchObject(refused);
    await expect(engine.updateBillingPlan(sar)).rejects.toMatchObject(refused);
    await expect(engine.enableMonetization({ api, policies: [policy, sar], properties: {} })).rejects.toMatchObject(refused);
    expect(await engine.getMonetizedPoliciesToPlanMapping(api)).toEqual({ Gold: 'pol-gold' });
    expect(await engine.updateBillingPlan(policy)).toEqual({ billable: true, planId: 'pol-gold', apisUpdated: 0 });
    // One question per currency (SAR's answer a refusal naming CurrencyIso), each kept for the tenant.
    expect(mf.requests.list().map((r) => (r.body as { CurrencyIso?: string }).CurrencyIso)).toEqual(['SAR', 'KWD']);
    // Asked again once the answer is old: the account may have been given the currency since.
    mf.clock.advance(5 * 60 + 1);
    await expect(engine.createBillingPlan(sar)).rejects.toMatchObject(refused);
    expect(mf.requests.list().map((r) => (r.body as { CurrencyIso?: string }).CurrencyIso)).toEqual(['SAR', 'KWD', 'SAR']);
  });
});
