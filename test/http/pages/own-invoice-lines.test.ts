import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import type { Apim } from '../../../src/apim/apim';
import type { SubscriptionRecord } from '../../../src/apim/model';
import type { InvoiceRecord } from '../../../src/billing/model';
import { configSchema } from '../../../src/config/schema';
import type { SubscriptionRef } from '../../../src/domain/model';
import { mintToken, TokenVerifier } from '../../../src/http/auth/tokens';
import { devportalPages, SESSION_COOKIE } from '../../../src/http/pages/devportal-pages';
import { invoiceKindInWords, renderInvoicePage } from '../../../src/http/pages/invoice-view';
import { ownInvoiceLines } from '../../../src/invoicing/own-invoice-lines';
import { OwnInvoicesRepository, type NewOwnInvoice, type OwnInvoiceLine } from '../../../src/invoicing/own-invoices.repository';
import { MonetizationError, type OwnInvoiceKind } from '../../../src/monetization/monetization';
import { tenantDirectoryFrom } from '../../../src/monetization/tenant-directory';
import { forEachTestDatabase } from '../../helpers/databases';
import { migrateLatest } from '../../helpers/migrations';

/**
 * The lines of the invoices Meterline issues itself (engines with `invoicing` 'meterline') on the
 * invoice page: read from ML_OWN_INVOICE / ML_OWN_INVOICE_LINE by src/invoicing/own-invoice-lines.ts
 * (a real migrated database, one per database kind) and rendered by the real page renderer under
 * each issued invoice's row, with the invoice's kind in words.
 */
const DAY = 86_400_000;
const NOV_1 = Date.parse('2026-11-01T00:00:00Z');
const DEC_1 = Date.parse('2026-12-01T00:00:00Z');
const SUBSCRIPTION = 'own-lines-sub-1';

const subscription = {
  uuid: SUBSCRIPTION,
  tier: 'Gold',
  status: 'UNBLOCKED',
  api: { name: 'Hello', version: '1.0.0' },
  application: { name: 'app' },
} as unknown as SubscriptionRecord;

function draft(kind: OwnInvoiceKind, start: number, end: number, lines: OwnInvoiceLine[], subscriptionUuid = SUBSCRIPTION): NewOwnInvoice {
  return {
    invoiceId: `mli_${subscriptionUuid}_${kind}_${start}`,
    tenantDomain: 'carbon.super',
    subscriptionUuid,
    apiUuid: 'api-1',
    kind,
    periodStart: new Date(start),
    periodEnd: new Date(end),
    usageFrom: kind === 'SUBSCRIPTION_START' ? null : new Date(start),
    calls: 0n,
    currency: 'kwd',
    total: lines.reduce((sum, line) => sum + line.amount, 0n),
    status: 'DRAFT',
    subscription: {} as SubscriptionRef,
    customer: { name: 'Dev', email: null },
    expiresAt: new Date(end + 14 * DAY),
    createdAt: new Date(end),
    lines,
  };
}

/** Billing's record of an issued invoice, as the page gets it (the fields the history shows). */
function record(engineInvoiceId: string, start: number, end: number, total: bigint, status: 'OPEN' | 'PAID'): InvoiceRecord {
  return {
    engineInvoiceId, status, currency: 'kwd', total, amountRemaining: status === 'OPEN' ? total : 0n, lastError: null,
    periodStart: new Date(start), periodEnd: new Date(end), hostedInvoiceUrl: `https://demo.myfatoorah.com/KWT/ie/${engineInvoiceId}`, invoicePdfUrl: null,
  } as unknown as InvoiceRecord;
}

const FIRST_LINES: OwnInvoiceLine[] = [
  { kind: 'SETUP_FEE', description: 'Hello · setup fee', quantity: 1n, unitAmountDecimal: null, amount: 1500n },
  { kind: 'BASE_FEE', description: 'Hello · monthly fee, in advance for 1 Nov – 1 Dec', quantity: 1n, unitAmountDecimal: '5.000', amount: 5000n },
];
const PERIOD_LINES: OwnInvoiceLine[] = [
  { kind: 'USAGE', description: 'Hello · 2 calls × 0.250 KWD', quantity: 2n, unitAmountDecimal: '0.250', amount: 500n },
  { kind: 'USAGE', description: 'Hello · 2,003 calls × 0.0125 KWD', quantity: 2003n, unitAmountDecimal: '0.0125', amount: 25038n },
  { kind: 'BASE_FEE', description: 'Hello · monthly fee, in advance for 1 Dec – 1 Jan', quantity: 1n, unitAmountDecimal: '5.000', amount: 5000n },
];

describe('invoiceKindInWords', () => {
  it.each([
    ['SUBSCRIPTION_START', '2026-11-01', '2026-12-01', 'first invoice'],
    ['PERIOD', '2026-11-01', '2026-12-01', 'invoice for 1 Nov – 1 Dec'],
    ['PERIOD', '2026-12-01', '2027-01-01', 'invoice for 1 Dec 2026 – 1 Jan 2027'],
    ['FINAL', '2026-12-01', '2026-12-04', 'final invoice'],
  ] as const)('%s %s – %s is "%s"', (kind, start, end, words) => {
    expect(invoiceKindInWords({ kind, periodStart: new Date(`${start}T00:00:00Z`), periodEnd: new Date(`${end}T00:00:00Z`) })).toBe(words);
  });
});

forEachTestDatabase((_kind, db) => {
  let read: ReturnType<typeof ownInvoiceLines>;

  beforeAll(async () => {
    await migrateLatest(db().knex);
    const repository = new OwnInvoicesRepository(db().knex);
    read = ownInvoiceLines((uuid) => repository.ofSubscription(uuid));
    const now = new Date(DEC_1 + DAY);
    await repository.insertDraft(draft('SUBSCRIPTION_START', NOV_1, DEC_1, FIRST_LINES), now);
    await repository.insertDraft(draft('PERIOD', NOV_1, DEC_1, PERIOD_LINES), now);
    await repository.insertDraft(draft('FINAL', DEC_1, DEC_1 + 3 * DAY, [{ kind: 'USAGE', description: 'Hello · 1 call × 0.250 KWD', quantity: 1n, unitAmountDecimal: '0.250', amount: 250n }]), now);
    await repository.insertDraft(draft('SUBSCRIPTION_START', NOV_1, DEC_1, FIRST_LINES, 'own-lines-other'), now);
    const issued = { hostedInvoiceUrl: null, invoicePdfUrl: null };
    await repository.markIssued(`mli_${SUBSCRIPTION}_SUBSCRIPTION_START_${NOV_1}`, { status: 'OPEN', engineInvoiceId: '0101', ...issued }, now);
    await repository.markIssued(`mli_${SUBSCRIPTION}_PERIOD_${NOV_1}`, { status: 'OPEN', engineInvoiceId: '0102', ...issued }, now);
    await repository.markIssued(`mli_own-lines-other_SUBSCRIPTION_START_${NOV_1}`, { status: 'OPEN', engineInvoiceId: '0201', ...issued }, now);
    // The FINAL invoice stays a draft: not issued, not on billing's records.
  });

  it("reads a subscription's issued invoices with their lines by engine invoice id, unit prices in minor units; drafts and other subscriptions left out", async () => {
    const found = await read(SUBSCRIPTION);
    expect([...found.keys()].sort()).toEqual(['0101', '0102']);
    const period = found.get('0102')!;
    expect(period).toMatchObject({ kind: 'PERIOD', currency: 'kwd', periodStart: new Date(NOV_1), periodEnd: new Date(DEC_1) });
    expect(period.lines).toEqual([
      { description: 'Hello · 2 calls × 0.250 KWD', quantity: 2n, unitAmountDecimal: '250', amount: 500n },
      { description: 'Hello · 2,003 calls × 0.0125 KWD', quantity: 2003n, unitAmountDecimal: '12.5', amount: 25038n },
      { description: 'Hello · monthly fee, in advance for 1 Dec – 1 Jan', quantity: 1n, unitAmountDecimal: '5000', amount: 5000n },
    ]);
    expect(found.get('0101')!.lines.map((l) => l.unitAmountDecimal)).toEqual([null, '5000']);
    expect(await read('no-such-subscription')).toEqual(new Map());
  });

  it('the page shows each issued invoice\'s kind in words and its lines under its row, exact amounts in data-amount', async () => {
    const history = [record('0102', NOV_1, DEC_1, 30538n, 'OPEN'), record('0101', NOV_1, DEC_1, 6500n, 'PAID')];
    const html = renderInvoicePage(subscription, null, history, await read(SUBSCRIPTION));
    const block = (id: string) => {
      const from = html.indexOf(`data-invoice-lines="${id}"`);
      expect(from).toBeGreaterThan(html.indexOf(`data-invoice="${id}"`));
      return html.slice(from, html.indexOf('</table>', from));
    };
    const period = block('0102');
    expect(period).toContain('data-field="invoice-kind">Invoice for 1 Nov – 1 Dec<');
    const rows = period.split('<tr data-issued-line>').slice(1);
    expect(rows).toHaveLength(3);
    expect(rows[1]).toContain('data-field="description">Hello · 2,003 calls × 0.0125 KWD<');
    expect(rows[1]).toContain('data-field="quantity">2,003<');
    expect(rows[1]).toContain('data-field="unit-price">0.0125 KWD<');
    expect(rows[1]).toContain('data-field="amount" data-amount="25.038">25.038 KWD<');
    expect(rows[2]).toContain('data-field="unit-price">5.000 KWD<');
    const first = block('0101');
    expect(first).toContain('data-field="invoice-kind">First invoice<');
    expect(first).toContain('data-field="unit-price">—<');
    expect(first).toContain('data-field="amount" data-amount="1.500">1.500 KWD<');
    // The issued invoice's own row keeps its fields (status, total, link) and no line fields.
    const row = html.slice(html.indexOf('data-invoice="0102"')).split('</tr>')[0]!;
    expect(row).toContain('data-field="total" data-amount="30.538">30.538 KWD<');
    expect(row).not.toContain('data-issued-line');
  });

  it('the devportal route asks the injected reader for the signed-in subscription\'s lines and shows them (none injected: no lines)', async () => {
    const config = configSchema.parse({ auth: { jwt: { secret: 'own-invoice-lines-test-secret-0123456789' } }, tenants: [{ domain: 'carbon.super', id: -1234 }] });
    const verifier = new TokenVerifier(config.auth.jwt!, tenantDirectoryFrom(config));
    const history = [record('0102', NOV_1, DEC_1, 30538n, 'OPEN'), record('0101', NOV_1, DEC_1, 6500n, 'PAID')];
    // The core's answers for the user's subscription; the engine keeps no pending invoice (NOT_FOUND), as MyFatoorah.
    const apim = {
      subscriptions: {
        getOwn: async () => subscription,
        pendingInvoiceOwn: async () => {
          throw new MonetizationError('NOT_FOUND', 'no pending invoice');
        },
        invoicesOwn: async () => history,
      },
    } as unknown as Apim;
    const asked: string[] = [];
    const serve = async (withLines: boolean) => {
      const app = express().use(devportalPages({ verifier, apim, ...(withLines ? { issuedInvoiceLines: (uuid: string) => (asked.push(uuid), read(uuid)) } : {}) }));
      const http: Server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => http.once('listening', resolve));
      try {
        const token = mintToken(config.auth.jwt!, { subject: 'dev', tenant: 'carbon.super', scopes: ['apim:subscribe'] });
        const answer = await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/devportal/subscriptions/${SUBSCRIPTION}/invoice`, {
          headers: { cookie: `${SESSION_COOKIE}=${token}` },
        });
        expect(answer.status).toBe(200);
        return await answer.text();
      } finally {
        await new Promise((resolve) => http.close(resolve));
      }
    };
    const html = await serve(true);
    expect(asked).toEqual([SUBSCRIPTION]);
    expect(html).toContain('data-invoice-lines="0102"');
    expect(html).toContain('data-field="invoice-kind">First invoice<');
    expect(html.split('<tr data-issued-line>')).toHaveLength(1 + 3 + 2);
    expect(await serve(false)).not.toContain('data-invoice-lines');
  });

  it('without lines (an engine that makes its own invoices: Stripe) the history is as before', () => {
    const html = renderInvoicePage(subscription, null, [record('in_1', NOV_1, DEC_1, 6500n, 'OPEN')]);
    expect(html).toContain('data-invoice="in_1"');
    expect(html).not.toContain('data-invoice-lines');
    expect(html).not.toContain('invoice-kind');
  });
});
