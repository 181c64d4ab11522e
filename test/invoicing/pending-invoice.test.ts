import type { PolicyPricing, SubscriptionRef } from '../../src/domain/model';
import type { PeriodUsage } from '../../src/invoicing/own-invoicing';
import type { OwnInvoice } from '../../src/invoicing/own-invoices.repository';
import { PendingInvoices } from '../../src/invoicing/pending-invoice';
import type { OwnInvoiceKind } from '../../src/monetization/monetization';
import { rate } from '../../src/rating/rate';

/**
 * The pending invoice Meterline answers for an engine that only collects payment: the next
 * PERIOD invoice of the period not yet closed, rated by rate() from that period's usage (records
 * and usage not frozen yet, read without freezing), the current base fee and the setup fee never
 * repeated. No database: the
 * invoices and usage records are given as the repository and the usage part answer them (those
 * are tested in own-invoicing.test.ts; the composed service in test/e2e/invoice-page-myfatoorah.test.ts).
 */
const TENANT = { domain: 'carbon.super', id: -1234 };
const ANCHOR = new Date('2030-01-31T10:00:00Z');
/** A monthly cycle anchored on 31 January: clamped to 28 February, then 31 March. */
const FEB_28 = new Date('2030-02-28T10:00:00Z');
const MAR_31 = new Date('2030-03-31T10:00:00Z');
const APR_30 = new Date('2030-04-30T10:00:00Z');

const graduated: PolicyPricing = {
  plan: 'DYNAMICRATE',
  currency: 'kwd',
  billingCycle: 'month',
  pricePerRequest: '0.0025',
  fixedPrice: '5.000',
  setupFee: '1.500',
  usageRate: {
    model: 'graduated',
    tiers: [
      { upTo: 1000, unitPrice: '0.0025', flatPrice: '0' },
      { upTo: null, unitPrice: '0.001', flatPrice: '0' },
    ],
  },
};
const monthly: PolicyPricing = { plan: 'FIXEDRATE', currency: 'usd', billingCycle: 'month', fixedPrice: '10.00' };

function subscriptionOn(pricing: PolicyPricing | null, billingPlan: 'COMMERCIAL' | 'FREE' = 'COMMERCIAL'): SubscriptionRef {
  return {
    uuid: 'sub-1',
    api: { uuid: 'api-1', name: 'Hello', version: '1.0.0', provider: 'pat', tenant: TENANT },
    application: { uuid: 'app-1', name: 'App' },
    subscriber: { userId: 'sam', email: 'sam@example.com' },
    policy: { uuid: 'pol-1', name: 'Gold', tenant: TENANT, billingPlan, pricing },
  };
}

function invoice(kind: OwnInvoiceKind, start: Date, end: Date): OwnInvoice {
  return {
    invoiceId: `mli_${kind}_${start.getTime()}`,
    tenantDomain: TENANT.domain,
    subscriptionUuid: 'sub-1',
    apiUuid: 'api-1',
    kind,
    periodStart: start,
    periodEnd: end,
    usageFrom: kind === 'SUBSCRIPTION_START' ? null : start,
    calls: 0n,
    currency: 'kwd',
    total: 1n,
    status: 'OPEN',
    subscription: subscriptionOn(graduated),
    customer: { name: 'sam', email: 'sam@example.com' },
    expiresAt: end,
    engineInvoiceId: '1',
    hostedInvoiceUrl: 'https://pay.example/1',
    invoicePdfUrl: null,
    attempts: 1,
    lastError: null,
    createdAt: start,
    submittedAt: start,
    lines: [],
  };
}

/** Usage records as (window start, calls); `calls` sums the ones starting in [from, to), as the usage part does. */
function world(options: { invoicing?: 'meterline' | 'engine'; invoices: OwnInvoice[]; records?: Array<[Date, bigint]> }) {
  const reads: string[] = [];
  const records = options.records ?? [];
  const usage: Pick<PeriodUsage, 'callsWithoutFreezing'> = {
    callsWithoutFreezing: async (uuid, from, to) => {
      reads.push(`read ${from.toISOString()} – ${to.toISOString()}`);
      return records.filter(([at]) => uuid === 'sub-1' && at.getTime() >= from.getTime() && at.getTime() < to.getTime()).reduce((sum, [, calls]) => sum + calls, 0n);
    },
  };
  const pending = new PendingInvoices({
    invoicesOf: async (uuid) => (uuid === 'sub-1' ? options.invoices : []),
    engine: { capabilities: { invoicing: options.invoicing ?? 'meterline' } as never },
    usage,
    clock: () => new Date('2030-02-10T00:00:00Z'),
  });
  return { pending, reads };
}

describe('PendingInvoices', () => {
  it('rates the first period like its PERIOD invoice: the usage so far and the next base fee, not the setup fee or the base fee invoiced at subscribe', async () => {
    const { pending, reads } = world({
      invoices: [invoice('SUBSCRIPTION_START', ANCHOR, FEB_28)],
      // One record before the anchor (another subscription period of nobody), two in the period, one after it.
      records: [
        [new Date('2030-01-31T09:00:00Z'), 7n],
        [ANCHOR, 900n],
        [new Date('2030-02-27T23:00:00Z'), 300n],
        [FEB_28, 50n],
      ],
    });
    const answer = await pending.of(subscriptionOn(graduated));
    expect(reads).toEqual([`read ${ANCHOR.toISOString()} – ${FEB_28.toISOString()}`]);
    const expected = rate({ pricing: graduated, apiName: 'Hello', calls: 1200n, period: { start: ANCHOR, end: FEB_28 }, baseFeePeriod: { start: FEB_28, end: MAR_31 }, include: { setupFee: false, baseFee: true, usage: true } });
    // 5.000 + 1,000 × 0.0025 + 200 × 0.001 = 5.000 + 2.500 + 0.200
    expect(expected.total).toBe(7700n);
    expect(answer).toEqual({
      invoiceId: null,
      description: null,
      currency: 'kwd',
      accountName: null,
      accountCountry: null,
      customerEmail: 'sam@example.com',
      periodStart: ANCHOR,
      periodEnd: FEB_28,
      servicePeriod: { start: ANCHOR, end: MAR_31 },
      dueDate: null,
      nextPaymentAttempt: null,
      paid: false,
      subtotal: 7700n,
      tax: 0n,
      total: 7700n,
      amountDue: 7700n,
      amountPaid: 0n,
      amountRemaining: 7700n,
      lines: [
        { description: 'Hello · monthly fee, in advance for 28 Feb – 31 Mar', apiName: 'Hello', quantity: 1, unitAmountDecimal: '5000', amount: 5000n },
        { description: expected.lines[1]!.description, apiName: 'Hello', quantity: 1000, unitAmountDecimal: '2.5', amount: 2500n },
        { description: expected.lines[2]!.description, apiName: 'Hello', quantity: 200, unitAmountDecimal: '1', amount: 200n },
      ],
      hostedInvoiceUrl: null,
    });
    expect(answer!.lines.map((l) => l.description)).toEqual(expected.lines.map((l) => l.description));
    expect(expected.lines.map((l) => l.kind)).toEqual(['BASE_FEE', 'USAGE', 'USAGE']);
  });

  it('after a closed period, the pending one starts where it ended and counts only its own records', async () => {
    const { pending } = world({
      invoices: [invoice('SUBSCRIPTION_START', ANCHOR, FEB_28), invoice('PERIOD', ANCHOR, FEB_28)],
      records: [
        [ANCHOR, 900n],
        [FEB_28, 4n],
      ],
    });
    const answer = await pending.of(subscriptionOn(graduated));
    expect(answer).toMatchObject({ periodStart: FEB_28, periodEnd: MAR_31, servicePeriod: { start: FEB_28, end: APR_30 }, total: 5010n });
    expect(answer!.lines.map((l) => [l.quantity, l.amount])).toEqual([
      [1, 5000n],
      [4, 10n],
    ]);
  });

  it('a fixed-rate plan: the next base fee only, no usage read', async () => {
    const { pending, reads } = world({ invoices: [{ ...invoice('SUBSCRIPTION_START', ANCHOR, FEB_28), currency: 'usd' }] });
    const answer = await pending.of(subscriptionOn(monthly));
    expect(reads).toEqual([]);
    expect(answer).toMatchObject({ currency: 'usd', total: 1000n, periodStart: ANCHOR, periodEnd: FEB_28 });
    expect(answer!.lines).toEqual([{ description: 'Hello · monthly fee, in advance for 28 Feb – 31 Mar', apiName: 'Hello', quantity: 1, unitAmountDecimal: '1000', amount: 1000n }]);
  });

  it('leaves it to the engine (null) when Meterline does not invoice the subscription', async () => {
    const started = [invoice('SUBSCRIPTION_START', ANCHOR, FEB_28)];
    expect(await world({ invoicing: 'engine', invoices: started }).pending.of(subscriptionOn(graduated))).toBeNull();
    expect(await world({ invoices: started }).pending.of(subscriptionOn(null, 'FREE'))).toBeNull();
    expect(await world({ invoices: [] }).pending.of(subscriptionOn(graduated))).toBeNull();
    expect(await world({ invoices: [...started, invoice('FINAL', ANCHOR, FEB_28)] }).pending.of(subscriptionOn(graduated))).toBeNull();
  });
});
