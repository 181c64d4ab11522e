import { stripeCapabilities } from '../../plugins/stripe/capabilities';
import { randomUUID } from 'node:crypto';
import { AccessService } from '../../src/billing/access.service';
import type { BillingEvent, InvoiceSnapshot } from '../../src/monetization/billing-events';
import { BillingRepository } from '../../src/billing/billing.repository';
import { apimCoreRecords } from '../../src/apim/core-records';
import { BillingRecords } from '../../src/billing/billing-records.service';
import { migrateLatest } from '../helpers/migrations';
import { createLogger } from '../../src/logger';
import { forEachTestDatabase } from '../helpers/databases';
import { fixedMonthly, GatewaySeed } from '../plugins/stripe/harness';

const DAY = 86_400_000;
const T0 = new Date('2026-11-01T00:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY);

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  function services(rules = { holdUntilPaid: true, gracePeriodMs: 3 * DAY }) {
    const repository = new BillingRepository(database().knex, apimCoreRecords(database().knex));
    return {
      repository,
      webhooks: new BillingRecords(repository, () => rules, createLogger('silent'), stripeCapabilities.isFirstPaymentInvoice),
      access: new AccessService(repository, () => rules),
    };
  }

  /** A gateway subscription to a paid plan, and the engine's id for it. */
  async function paidSubscription() {
    const seed = new GatewaySeed(database().knex);
    const subscriber = await seed.subscriber();
    const app = await seed.application(subscriber);
    const api = await seed.api();
    const policy = await seed.policy('Gold', fixedMonthly('10'));
    const subscription = await seed.subscription(api, app, subscriber, policy);
    return {
      subscriptionUuid: subscription.uuid,
      tenantDomain: 'carbon.super',
      apiUuid: api.uuid,
      applicationUuid: app.uuid,
      engineSubscriptionId: `sub_${randomUUID().slice(0, 12)}`,
      engineAccount: 'acct_publisher',
    };
  }

  let eventCounter = 0;
  function invoiceEvent(
    change: Extract<BillingEvent, { type: 'invoice' }>['change'],
    invoice: Partial<InvoiceSnapshot> & Pick<InvoiceSnapshot, 'engineInvoiceId' | 'status'>,
    occurredAt: Date,
    id = `evt_${(eventCounter += 1)}_${randomUUID().slice(0, 8)}`,
  ): BillingEvent {
    return {
      id,
      occurredAt,
      account: 'acct_publisher',
      type: 'invoice',
      change,
      failure: change === 'payment_failed' ? 'Your card was declined.' : null,
      invoice: {
        engineSubscriptionId: null,
        subscriptionUuid: null,
        currency: 'usd',
        total: 1000n,
        amountDue: 1000n,
        amountPaid: invoice.status === 'PAID' ? 1000n : 0n,
        amountRemaining: invoice.status === 'PAID' ? 0n : 1000n,
        periodStart: T0,
        periodEnd: at(30),
        hostedInvoiceUrl: `https://pay.example/${invoice.engineInvoiceId}`,
        billingReason: 'subscription_create',
        ...invoice,
      },
    };
  }

  it('a new paid-plan subscription is ON_HOLD until its first invoice is paid, then UNBLOCKED', async () => {
    const { webhooks, access, repository } = services();
    const sub = await paidSubscription();
    expect((await webhooks.subscriptionBilled(sub, at(0))).status).toBe('ON_HOLD');
    expect(await repository.gatewayStatus(sub.subscriptionUuid)).toMatchObject({ status: 'ON_HOLD' });

    const invoice = { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: sub.engineSubscriptionId };
    expect(await webhooks.apply('carbon.super', invoiceEvent('finalized', { ...invoice, status: 'OPEN' }, at(0)), at(0))).toMatchObject({ outcome: 'applied' });
    expect(await access.check(sub.subscriptionUuid, at(0))).toMatchObject({ status: 'ON_HOLD', allowed: false });

    await webhooks.apply('carbon.super', invoiceEvent('paid', { ...invoice, status: 'PAID' }, at(1)), at(1));
    expect(await access.check(sub.subscriptionUuid, at(1))).toMatchObject({ status: 'UNBLOCKED', allowed: true });
    expect(await repository.gatewayStatus(sub.subscriptionUuid)).toMatchObject({ status: 'UNBLOCKED' });
    const [record] = await repository.invoicesOfSubscription(sub.subscriptionUuid);
    expect(record).toMatchObject({ status: 'PAID', amountPaid: 1000n, amountRemaining: 0n, finalizedAt: at(0), paidAt: at(1), apiUuid: sub.apiUuid });
  });

  it('instances recording the same subscription at once all get its access, and it is recorded once', async () => {
    const sub = await paidSubscription();
    const instances = Array.from({ length: 4 }, () => services());
    const decisions = await Promise.all(instances.map(({ webhooks }) => webhooks.subscriptionBilled(sub, at(0))));
    expect(decisions.map((d) => d.status)).toEqual(['ON_HOLD', 'ON_HOLD', 'ON_HOLD', 'ON_HOLD']);
    const rows = await database().knex('ML_SUBSCRIPTION_BILLING').where({ SUBSCRIPTION_UUID: sub.subscriptionUuid }).select('ENGINE_SUBSCRIPTION_ID');
    expect(rows).toHaveLength(1);
  });

  it('a paid that arrives before finalized is not rolled back', async () => {
    const { webhooks, repository } = services();
    const sub = await paidSubscription();
    await webhooks.subscriptionBilled(sub, at(0));
    const invoice = { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: sub.engineSubscriptionId };
    await webhooks.apply('carbon.super', invoiceEvent('paid', { ...invoice, status: 'PAID' }, at(1)), at(1));
    await webhooks.apply('carbon.super', invoiceEvent('finalized', { ...invoice, status: 'OPEN', amountPaid: 0n }, at(0)), at(2));
    const [record] = await repository.invoicesOfSubscription(sub.subscriptionUuid);
    expect(record).toMatchObject({ status: 'PAID', amountPaid: 1000n, finalizedAt: at(0), paidAt: at(1) });
  });

  it('a retried delivery (same event id) changes nothing', async () => {
    const { webhooks, repository } = services();
    const sub = await paidSubscription();
    await webhooks.subscriptionBilled(sub, at(0));
    const invoice = { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: sub.engineSubscriptionId };
    const event = invoiceEvent('payment_failed', { ...invoice, status: 'OPEN' }, at(3));
    expect(await webhooks.apply('carbon.super', event, at(3))).toMatchObject({ outcome: 'applied' });
    expect(await webhooks.apply('carbon.super', event, at(9))).toMatchObject({ outcome: 'duplicate' });
    const [record] = await repository.invoicesOfSubscription(sub.subscriptionUuid);
    expect(record!.firstFailedAt).toEqual(at(3));
  });

  it('a failed later invoice blocks after the grace period, and paying it unblocks', async () => {
    const { webhooks, access } = services();
    const sub = await paidSubscription();
    await webhooks.subscriptionBilled(sub, at(0));
    const first = { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: sub.engineSubscriptionId };
    await webhooks.apply('carbon.super', invoiceEvent('paid', { ...first, status: 'PAID' }, at(0)), at(0));

    const second = { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: sub.engineSubscriptionId, billingReason: 'subscription_cycle' };
    await webhooks.apply('carbon.super', invoiceEvent('payment_failed', { ...second, status: 'OPEN' }, at(30)), at(30));
    expect(await access.check(sub.subscriptionUuid, at(32))).toMatchObject({ status: 'UNBLOCKED', allowed: true });
    expect(await access.check(sub.subscriptionUuid, at(33))).toMatchObject({ status: 'BLOCKED', allowed: false, reason: expect.stringContaining('unpaid since') });

    await webhooks.apply('carbon.super', invoiceEvent('paid', { ...second, status: 'PAID' }, at(34)), at(34));
    expect(await access.check(sub.subscriptionUuid, at(34))).toMatchObject({ status: 'UNBLOCKED', allowed: true });
  });

  it('an uncollectible invoice counts as failing from when it was written off', async () => {
    const { webhooks, access } = services({ holdUntilPaid: false, gracePeriodMs: 0 });
    const sub = await paidSubscription();
    await webhooks.subscriptionBilled(sub, at(0));
    const invoice = { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: sub.engineSubscriptionId, billingReason: 'subscription_cycle' };
    await webhooks.apply('carbon.super', invoiceEvent('marked_uncollectible', { ...invoice, status: 'UNCOLLECTIBLE' }, at(40)), at(40));
    expect(await access.check(sub.subscriptionUuid, at(40))).toMatchObject({ status: 'BLOCKED' });
  });

  it('invoices that arrive before the subscription is recorded are adopted when it is', async () => {
    const { webhooks, access, repository } = services();
    const sub = await paidSubscription();
    const invoice = { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: sub.engineSubscriptionId, subscriptionUuid: sub.subscriptionUuid };
    expect(await webhooks.apply('carbon.super', invoiceEvent('paid', { ...invoice, status: 'PAID' }, at(0)), at(0))).toMatchObject({ outcome: 'applied' });

    expect((await webhooks.subscriptionBilled(sub, at(0))).status).toBe('UNBLOCKED');
    expect(await access.check(sub.subscriptionUuid, at(0))).toMatchObject({ allowed: true });
    expect((await repository.invoicesOfSubscription(sub.subscriptionUuid))[0]).toMatchObject({ apiUuid: sub.apiUuid, applicationUuid: sub.applicationUuid });
  });

  it('an event for an object Meterline does not know is acknowledged and stores nothing', async () => {
    const { webhooks, repository } = services();
    const stranger = invoiceEvent('paid', { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: 'sub_not_ours', status: 'PAID' }, at(0));
    expect(await webhooks.apply('carbon.super', stranger, at(0))).toMatchObject({ outcome: 'unknown_object' });
    expect(await repository.invoiceByEngineId(database().knex, (stranger as Extract<BillingEvent, { type: 'invoice' }>).invoice.engineInvoiceId)).toBeUndefined();
  });

  it('a subscription the engine cancels is blocked', async () => {
    const { webhooks, access } = services();
    const sub = await paidSubscription();
    await webhooks.subscriptionBilled(sub, at(0));
    const cancelled: BillingEvent = {
      id: `evt_${randomUUID()}`,
      occurredAt: at(50),
      account: 'acct_publisher',
      type: 'subscription',
      change: 'deleted',
      engineSubscriptionId: sub.engineSubscriptionId,
      status: 'canceled',
    };
    expect(await webhooks.apply('carbon.super', cancelled, at(50))).toMatchObject({ outcome: 'applied' });
    expect(await access.check(sub.subscriptionUuid, at(50))).toMatchObject({ status: 'BLOCKED', reason: 'the billing engine cancelled this subscription' });
  });

  describe('an event changes only what it may', () => {
    it('a pay link is kept only when it is an https URL (or http to this machine)', async () => {
      const { webhooks, repository } = services();
      const sub = await paidSubscription();
      await webhooks.subscriptionBilled(sub, at(0));
      const links = {
        'http://evil.example/pay': null,
        'http://127.0.0.1.evil.example/pay': null,
        'javascript:alert(1)': null,
        '/pay/relative': null,
        'https://invoice.stripe.com/i/acct_1/in_1': 'https://invoice.stripe.com/i/acct_1/in_1',
        // The local test server's hosted pages, on this machine only.
        'http://127.0.0.1:12111/_test/hosted_invoices/acct_1/in_1': 'http://127.0.0.1:12111/_test/hosted_invoices/acct_1/in_1',
      };
      for (const [offered, kept] of Object.entries(links)) {
        const engineInvoiceId = `in_${randomUUID()}`;
        await webhooks.apply('carbon.super', invoiceEvent('finalized', { engineInvoiceId, engineSubscriptionId: sub.engineSubscriptionId, status: 'OPEN', hostedInvoiceUrl: offered }, at(0)), at(0));
        expect({ offered, kept: (await repository.invoiceByEngineId(database().knex, engineInvoiceId))!.hostedInvoiceUrl }).toEqual({ offered, kept });
      }
    });

    it("an invoice recorded for one tenant is never changed by another tenant's event", async () => {
      const { webhooks, repository } = services();
      const sub = await paidSubscription();
      await webhooks.subscriptionBilled(sub, at(0));
      const invoice = { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: sub.engineSubscriptionId };
      await webhooks.apply('carbon.super', invoiceEvent('finalized', { ...invoice, status: 'OPEN' }, at(0)), at(0));
      const before = await repository.invoiceByEngineId(database().knex, invoice.engineInvoiceId);

      const forged = invoiceEvent('paid', { ...invoice, status: 'PAID', hostedInvoiceUrl: 'https://evil.example/pay' }, at(1));
      expect(await webhooks.apply('acme.com', forged, at(1))).toEqual({ outcome: 'ignored', reason: `invoice ${invoice.engineInvoiceId} is recorded for another tenant` });
      expect(await repository.invoiceByEngineId(database().knex, invoice.engineInvoiceId)).toEqual(before);
      expect(await repository.gatewayStatus(sub.subscriptionUuid)).toMatchObject({ status: 'ON_HOLD' });
    });

    it("the first payment counts only from the subscription's own engine subscription, never from metadata", async () => {
      const { webhooks, access, repository } = services();
      const sub = await paidSubscription();
      await webhooks.subscriptionBilled(sub, at(0));
      const impostor = { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: 'sub_someone_elses', subscriptionUuid: sub.subscriptionUuid, total: 1n };
      const result = await webhooks.apply('carbon.super', invoiceEvent('paid', { ...impostor, status: 'PAID' }, at(1)), at(1));
      expect(result).toEqual({ outcome: 'ignored', reason: `its metadata names subscription ${sub.subscriptionUuid}, which is billed by ${sub.engineSubscriptionId}, not sub_someone_elses` });
      expect(await access.check(sub.subscriptionUuid, at(1))).toMatchObject({ status: 'ON_HOLD' });
      expect(await repository.invoicesOfSubscription(sub.subscriptionUuid)).toEqual([]);
    });

    it('an event that waited while its subscription was being recorded asks the engine and applies', async () => {
      const rules = { holdUntilPaid: true, gracePeriodMs: 3 * DAY };
      // Outside the event's transaction the subscription is not visible yet (another transaction
      // is committing it); inside, it is.
      class CommittingMeanwhile extends BillingRepository {
        hidden = true;
        override async subscriptionByEngineId(trx: Parameters<BillingRepository['subscriptionByEngineId']>[0], id: string) {
          if (trx === undefined && this.hidden) {
            this.hidden = false;
            return undefined;
          }
          return super.subscriptionByEngineId(trx, id);
        }
      }
      const repository = new CommittingMeanwhile(database().knex, apimCoreRecords(database().knex));
      const webhooks = new BillingRecords(repository, () => rules, createLogger('silent'), stripeCapabilities.isFirstPaymentInvoice);
      const sub = { ...(await paidSubscription()), engineAccount: null };
      await webhooks.subscriptionBilled(sub, at(0));
      const asked: string[] = [];
      const engine = async (uuid: string) => {
        asked.push(uuid);
        return { engineSubscriptionId: sub.engineSubscriptionId, account: 'acct_publisher' };
      };
      const paid = invoiceEvent('paid', { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: sub.engineSubscriptionId, status: 'PAID' }, at(0));
      expect(await webhooks.apply('carbon.super', paid, at(0), engine)).toMatchObject({ outcome: 'applied' });
      expect(asked).toEqual([sub.subscriptionUuid]);
      expect(await repository.gatewayStatus(sub.subscriptionUuid)).toMatchObject({ status: 'UNBLOCKED' });
    });

    it('an invoice that arrived early from another account is not adopted', async () => {
      const { webhooks, access, repository } = services();
      const sub = await paidSubscription();
      const early = { ...invoiceEvent('paid', { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: sub.engineSubscriptionId, subscriptionUuid: sub.subscriptionUuid, status: 'PAID' }, at(0)), account: 'acct_other' };
      expect(await webhooks.apply('carbon.super', early, at(0))).toMatchObject({ outcome: 'applied' });
      expect((await webhooks.subscriptionBilled(sub, at(0))).status).toBe('ON_HOLD');
      expect(await access.check(sub.subscriptionUuid, at(0))).toMatchObject({ status: 'ON_HOLD' });
      expect(await repository.invoicesOfSubscription(sub.subscriptionUuid)).toEqual([]);
    });

    it("the account is checked against the engine's record, which is kept for later events", async () => {
      const { webhooks, repository } = services();
      const sub = { ...(await paidSubscription()), engineAccount: null };
      await webhooks.subscriptionBilled(sub, at(0));
      const engine = async (uuid: string) => (uuid === sub.subscriptionUuid ? { engineSubscriptionId: sub.engineSubscriptionId, account: 'acct_publisher' } : null);
      const invoice = { engineInvoiceId: `in_${randomUUID()}`, engineSubscriptionId: sub.engineSubscriptionId };

      const noRecord = await webhooks.apply('carbon.super', invoiceEvent('finalized', { ...invoice, status: 'OPEN' }, at(0)), at(0));
      expect(noRecord).toEqual({ outcome: 'ignored', reason: `the billing engine holds no record of ${sub.engineSubscriptionId} to check the event's account against` });
      const wrongAccount = { ...invoiceEvent('finalized', { ...invoice, status: 'OPEN' }, at(0)), account: 'acct_other' };
      expect(await webhooks.apply('carbon.super', wrongAccount, at(0), engine)).toMatchObject({ outcome: 'ignored', reason: `${sub.engineSubscriptionId} is billed in account acct_publisher, not acct_other` });
      expect(await repository.invoicesOfSubscription(sub.subscriptionUuid)).toEqual([]);

      expect(await webhooks.apply('carbon.super', invoiceEvent('finalized', { ...invoice, status: 'OPEN' }, at(0)), at(0), engine)).toMatchObject({ outcome: 'applied' });
      expect(await repository.subscriptionByUuid(sub.subscriptionUuid)).toMatchObject({ engineAccount: 'acct_publisher' });
      // After unsubscribing the engine forgets the subscription; its final events still apply.
      expect(await webhooks.apply('carbon.super', invoiceEvent('paid', { ...invoice, status: 'PAID' }, at(1)), at(1), async () => null)).toMatchObject({ outcome: 'applied' });
      expect(await repository.gatewayStatus(sub.subscriptionUuid)).toMatchObject({ status: 'UNBLOCKED' });
    });
  });

  it('a subscription without billing follows the gateway status', async () => {
    const { access } = services();
    const sub = await paidSubscription();
    expect(await access.check(sub.subscriptionUuid, at(0))).toEqual({ subscriptionId: sub.subscriptionUuid, status: 'UNBLOCKED', allowed: true, reason: null });
    expect(await access.check('no-such-subscription', at(0))).toBeUndefined();
  });
});
