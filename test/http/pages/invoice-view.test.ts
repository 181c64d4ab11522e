import type { SubscriptionRecord } from '../../../src/apim/model';
import { formatMoney, formatUnitPrice, renderInvoicePage } from '../../../src/http/pages/invoice-view';
import type { PendingInvoice } from '../../../src/monetization/monetization';
import type { InvoiceRecord } from '../../../src/billing/model';

/** The invoice page's rendering, without a browser: currency formats, the pay link, escaping. */
const subscription = {
  uuid: 's-1',
  tier: 'Gold',
  status: 'UNBLOCKED',
  api: { name: '<script>alert(1)</script>', version: '1.0' },
  application: { name: 'app "one"' },
} as unknown as SubscriptionRecord;

function invoice(overrides: Partial<PendingInvoice> = {}): PendingInvoice {
  return {
    invoiceId: null, description: null, currency: 'usd', accountName: 'Publisher & Co', accountCountry: 'US', customerEmail: null,
    periodStart: new Date('2026-11-01T00:00:00Z'), periodEnd: new Date('2026-12-01T00:00:00Z'), dueDate: null, nextPaymentAttempt: null,
    paid: false, subtotal: 123456n, tax: 0n, total: 123456n, amountDue: 123456n, amountPaid: 0n, amountRemaining: 123456n,
    lines: [{ description: 'Gold', apiName: 'Maps', quantity: 1, unitAmountDecimal: '123456', amount: 123456n }],
    hostedInvoiceUrl: null,
    ...overrides,
  };
}

describe('money on the invoice page', () => {
  it.each([
    [123456n, 'usd', '1,234.56 USD'],
    [5n, 'usd', '0.05 USD'],
    [500n, 'jpy', '500 JPY'],
    [1234567n, 'jpy', '1,234,567 JPY'],
    [1234n, 'kwd', '1.234 KWD'],
    [-25n, 'eur', '-0.25 EUR'],
  ])('%s minor units of %s are "%s"', (minor, currency, text) => {
    expect(formatMoney(minor, currency)).toBe(text);
  });

  it.each([
    ['0.05', 'usd', '0.0005 USD'],
    ['1000', 'usd', '10.00 USD'],
    ['125000', 'usd', '1,250.00 USD'],
    ['500', 'jpy', '500 JPY'],
    ['2', 'kwd', '0.002 KWD'],
    ['0.5', 'jpy', '0.5 JPY'],
    ['12.5', 'kwd', '0.0125 KWD'],
  ])('unit price of %s minor units in %s is "%s"', (decimal, currency, text) => {
    expect(formatUnitPrice(decimal, currency)).toBe(text);
  });
});

describe('renderInvoicePage', () => {
  it('escapes every value taken from data', () => {
    const html = renderInvoicePage(subscription, invoice());
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('app &quot;one&quot;');
    expect(html).toContain('Publisher &amp; Co');
  });

  it('links to Stripe\'s payment page when the invoice has one, and says so when it has none', () => {
    const withLink = renderInvoicePage(subscription, invoice({ hostedInvoiceUrl: 'https://invoice.stripe.com/i/acct_1/inv_1?x=1&y=2' }));
    expect(withLink).toContain('href="https://invoice.stripe.com/i/acct_1/inv_1?x=1&amp;y=2"');
    expect(withLink).toContain('data-field="pay"');
    const without = renderInvoicePage(subscription, invoice());
    expect(without).not.toContain('data-field="pay"');
    expect(without).toContain('data-field="no-payment-link"');
  });

  it('shows totals with their exact amounts and the period in UTC days', () => {
    const html = renderInvoicePage(subscription, invoice());
    expect(html).toContain('data-field="total" data-amount="1234.56">1,234.56 USD<');
    expect(html).toContain('data-field="period-start">2026-11-01<');
    expect(html).toContain('data-field="period-end">2026-12-01<');
  });

  it('shows the period the lines pay for when the engine gives it (a fee in advance reaches past the billing period)', () => {
    const html = renderInvoicePage(subscription, invoice({ servicePeriod: { start: new Date('2026-11-01T00:00:00Z'), end: new Date('2027-01-01T00:00:00Z') } }));
    expect(html).toContain('data-field="period-start">2026-11-01<');
    expect(html).toContain('data-field="period-end">2027-01-01<');
  });

  it('without a pending invoice at the engine (Meterline issues the invoices) shows the issued ones alone', () => {
    const open = { engineInvoiceId: 'inv-1', status: 'OPEN', currency: 'kwd', total: 12500n, amountRemaining: 12500n, lastError: null,
      periodStart: new Date('2026-11-30T00:00:00Z'), periodEnd: new Date('2026-12-30T00:00:00Z'),
      hostedInvoiceUrl: 'https://demo.myfatoorah.com/KWT/ie/0106', invoicePdfUrl: null } as unknown as InvoiceRecord;
    const html = renderInvoicePage(subscription, null, [open]);
    expect(html).toContain('<h1>Invoices</h1>');
    expect(html).not.toContain('data-line');
    expect(html).toContain('data-field="no-pending-invoice">Invoices are issued at the end of each period, for the usage counted in it. An issued invoice is still unpaid: see below.<');
    expect(html).toContain('data-field="total" data-amount="12.500">12.500 KWD<');
    expect(html).toContain('data-field="pay-invoice" href="https://demo.myfatoorah.com/KWT/ie/0106"');
    expect(renderInvoicePage(subscription, null, [])).toContain('; none has been issued yet.<');
  });

  it("links every issued invoice's PDF, and its engine page: to pay while unpaid, to view after", () => {
    const issued = (engineInvoiceId: string, status: 'OPEN' | 'PAID', pdf: string | null) =>
      ({ engineInvoiceId, status, currency: 'usd', total: 500n, amountRemaining: status === 'OPEN' ? 500n : 0n, lastError: null,
        periodStart: new Date('2026-11-30T00:00:00Z'), periodEnd: new Date('2026-12-30T00:00:00Z'),
        hostedInvoiceUrl: `https://invoice.stripe.com/i/${engineInvoiceId}`, invoicePdfUrl: pdf }) as unknown as InvoiceRecord;
    const html = renderInvoicePage(subscription, invoice(), [issued('in_2', 'OPEN', 'https://pay.stripe.com/invoice/in_2/pdf'), issued('in_1', 'PAID', null)]);
    const row = (id: string) => html.slice(html.indexOf(`data-invoice="${id}"`)).split('</tr>')[0]!;
    expect(row('in_2')).toContain('data-field="period">2026-11-30 – 2026-12-30<');
    expect(row('in_2')).toContain('data-field="pay-invoice" href="https://invoice.stripe.com/i/in_2"');
    expect(row('in_2')).toContain('data-field="invoice-pdf" href="https://pay.stripe.com/invoice/in_2/pdf"');
    expect(row('in_1')).toContain('data-field="view-invoice" href="https://invoice.stripe.com/i/in_1"');
    expect(row('in_1')).not.toContain('pay-invoice');
    expect(row('in_1')).not.toContain('invoice-pdf');
  });
});
