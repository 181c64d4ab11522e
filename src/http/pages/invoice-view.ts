import { currencyExponent, formatDecimal, formatMinorUnits, parseDecimal } from '../../domain/money';
import type { InvoiceRecord } from '../../billing/model';
import type { SubscriptionRecord } from '../../apim/model';
import type { PendingInvoice } from '../../monetization/monetization';
import { escapeHtml, page } from './html';

/** Minor units as a grouped exact amount with its currency code: 1234567n USD → "12,345.67 USD". */
export function formatMoney(minor: bigint, currency: string): string {
  return `${groupThousands(formatMinorUnits(minor, currency))} ${currency.toUpperCase()}`;
}

/**
 * A unit price Stripe gives in (possibly fractional) minor units, "0.05" US cents, as the major
 * unit the policy was priced in, "0.0005 USD", with at least the currency's decimals ("10.00 USD",
 * as amounts are written). Exact: the decimal point moves, nothing rounds.
 */
export function formatUnitPrice(minorUnitDecimal: string, currency: string): string {
  const value = parseDecimal(minorUnitDecimal);
  const exponent = currencyExponent(currency);
  const plain = formatDecimal({ digits: value.digits, scale: value.scale + exponent });
  const decimals = plain.includes('.') ? plain.length - plain.indexOf('.') - 1 : 0;
  const padded = decimals >= exponent ? plain : `${plain}${decimals === 0 ? '.' : ''}${'0'.repeat(exponent - decimals)}`;
  return `${groupThousands(padded)} ${currency.toUpperCase()}`;
}

function groupThousands(amount: string): string {
  const negative = amount.startsWith('-');
  const [whole, fraction] = (negative ? amount.slice(1) : amount).split('.');
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${grouped}${fraction === undefined ? '' : `.${fraction}`}`;
}

function day(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * The lines of an invoice Meterline issued itself (an engine with `capabilities.invoicing`
 * 'meterline' only collects payment, so billing's record of the invoice has no lines): what it is
 * and what it bills. Unit prices in (possibly fractional) minor units, as on the pending invoice.
 */
export interface IssuedInvoiceDetail {
  kind: 'SUBSCRIPTION_START' | 'PERIOD' | 'FINAL';
  periodStart: Date;
  periodEnd: Date;
  currency: string;
  lines: ReadonlyArray<{ description: string; quantity: bigint; unitAmountDecimal: string | null; amount: bigint }>;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "1 Nov – 1 Dec" (UTC), with the years when they differ ("1 Dec 2026 – 1 Jan 2027"). */
function span(start: Date, end: Date): string {
  const short = (date: Date, year: boolean) => `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}${year ? ` ${date.getUTCFullYear()}` : ''}`;
  const years = start.getUTCFullYear() !== end.getUTCFullYear();
  return `${short(start, years)} – ${short(end, years)}`;
}

/** The kind of an issued own invoice in words: "first invoice", "invoice for 1 Nov – 1 Dec", "final invoice". */
export function invoiceKindInWords(detail: Pick<IssuedInvoiceDetail, 'kind' | 'periodStart' | 'periodEnd'>): string {
  switch (detail.kind) {
    case 'SUBSCRIPTION_START':
      return 'first invoice';
    case 'FINAL':
      return 'final invoice';
    case 'PERIOD':
      return `invoice for ${span(detail.periodStart, detail.periodEnd)}`;
  }
}

/**
 * The subscriber's pending invoice: the period it pays for, one line per item (what was bought,
 * API, quantity, unit price, amount), totals, and the payment link where Stripe has one. Every amount carries its exact
 * major-unit value in `data-amount`, the same string the REST API's usage map gives. `invoice` is
 * null when the engine keeps no pending invoice (Meterline issues the invoices: MyFatoorah); the
 * page then shows the issued ones.
 */
export function renderInvoicePage(
  subscription: SubscriptionRecord,
  invoice: PendingInvoice | null,
  history: readonly InvoiceRecord[] = [],
  issuedLines: ReadonlyMap<string, IssuedInvoiceDetail> = new Map(),
): string {
  return page(
    `Invoice for ${subscription.api.name}`,
    `<header class="bar">
      <div>
        <h1>${invoice ? 'Pending invoice' : 'Invoices'}</h1>
        <div class="muted"><span data-field="api-name">${escapeHtml(subscription.api.name)} ${escapeHtml(subscription.api.version)}</span>
          · application <span data-field="application">${escapeHtml(subscription.application.name)}</span>
          · plan <span data-field="tier">${escapeHtml(subscription.tier)}</span></div>
      </div>
      <form method="post" action="/devportal/logout"><button type="submit">Sign out</button></form>
    </header>
    ${invoice ? renderPending(subscription, invoice, history) : renderNothingPending(history)}
    ${renderHistory(history, issuedLines)}`,
  );
}

function renderNothingPending(history: readonly InvoiceRecord[]): string {
  const unpaid = history.some((issued) => UNPAID.has(issued.status));
  return `<p class="muted" data-field="no-pending-invoice">Invoices are issued at the end of each period, for the usage counted in it${
    history.length === 0 ? '; none has been issued yet' : unpaid ? '. An issued invoice is still unpaid: see below' : ''
  }.</p>`;
}

function renderPending(subscription: SubscriptionRecord, invoice: PendingInvoice, history: readonly InvoiceRecord[]): string {
  const { currency } = invoice;
  // The period the lines pay for, where the engine says (a fee in advance reaches past the billing period).
  const paysFor = invoice.servicePeriod ?? { start: invoice.periodStart, end: invoice.periodEnd };
  const money = (minor: bigint) => formatMoney(minor, currency);
  const exact = (minor: bigint) => escapeHtml(formatMinorUnits(minor, currency));
  const lines = invoice.lines
    .map(
      (line) => `<tr data-line>
        <td data-field="description">${escapeHtml(line.description)}</td>
        <td data-field="api">${escapeHtml(line.apiName ?? subscription.api.name)}</td>
        <td class="num" data-field="quantity">${escapeHtml(line.quantity.toLocaleString('en-US'))}</td>
        <td class="num" data-field="unit-price">${line.unitAmountDecimal === null ? '—' : escapeHtml(formatUnitPrice(line.unitAmountDecimal, currency))}</td>
        <td class="num" data-field="amount" data-amount="${exact(line.amount)}">${escapeHtml(money(line.amount))}</td>
      </tr>`,
    )
    .join('\n');
  const total = (label: string, field: string, minor: bigint, extra = '') =>
    `<tr${extra}><td colspan="4">${label}</td><td class="num" data-field="${field}" data-amount="${exact(minor)}">${escapeHtml(money(minor))}</td></tr>`;
  const pay = invoice.hostedInvoiceUrl
    ? `<p><a class="pay" data-field="pay" href="${escapeHtml(invoice.hostedInvoiceUrl)}" rel="noopener noreferrer">Pay this invoice</a></p>`
    : history.some((issued) => UNPAID.has(issued.status))
      ? `<p class="muted" data-field="no-payment-link">This invoice is issued at the end of the period. An issued invoice is still unpaid: see below.</p>`
      : `<p class="muted" data-field="no-payment-link">Nothing to pay yet: this invoice is issued at the end of the period.</p>`;
  return `<p>Period <strong data-field="period-start">${day(paysFor.start)}</strong> to <strong data-field="period-end">${day(paysFor.end)}</strong> (UTC)
      ${invoice.accountName ? ` · billed by <span data-field="account-name">${escapeHtml(invoice.accountName)}</span>` : ''}</p>
    <table>
      <thead><tr><th>Description</th><th>API</th><th class="num">Quantity</th><th class="num">Unit price</th><th class="num">Amount</th></tr></thead>
      <tbody>${lines || '<tr><td colspan="5" class="muted">No charges yet in this period.</td></tr>'}</tbody>
      <tfoot>
        ${total('Subtotal', 'subtotal', invoice.subtotal)}
        ${total('Tax', 'tax', invoice.tax)}
        ${total('Total', 'total', invoice.total, ' class="total"')}
        ${total('Amount due', 'amount-due', invoice.amountDue)}
      </tfoot>
    </table>
    <p class="muted">Currency <span data-field="currency">${escapeHtml(currency.toUpperCase())}</span>${invoice.paid ? ' · paid' : ''}</p>
    ${pay}`;
}

const UNPAID = new Set(['OPEN', 'UNCOLLECTIBLE']);

/**
 * Issued invoices, newest period first: the period each pays for, status, amounts, and links to
 * the engine's page of the invoice (to pay it while unpaid, to view it after) and its PDF, where
 * the engine has them (the records keep only links that pass `payLink`). An invoice Meterline
 * issued itself has its kind in words and its lines in a row under it.
 */
function renderHistory(history: readonly InvoiceRecord[], issuedLines: ReadonlyMap<string, IssuedInvoiceDetail>): string {
  if (history.length === 0) return '';
  const rows = history
    .map((invoice) => {
      const money = (minor: bigint) => escapeHtml(formatMoney(minor, invoice.currency));
      const exact = (minor: bigint) => escapeHtml(formatMinorUnits(minor, invoice.currency));
      const page = invoice.hostedInvoiceUrl
        ? UNPAID.has(invoice.status)
          ? `<a class="pay small" data-field="pay-invoice" href="${escapeHtml(invoice.hostedInvoiceUrl)}" rel="noopener noreferrer">Pay</a>`
          : `<a class="small" data-field="view-invoice" href="${escapeHtml(invoice.hostedInvoiceUrl)}" rel="noopener noreferrer">View</a>`
        : '';
      const pdf = invoice.invoicePdfUrl
        ? `<a class="small" data-field="invoice-pdf" href="${escapeHtml(invoice.invoicePdfUrl)}" rel="noopener noreferrer">PDF</a>`
        : '';
      const link = [page, pdf].filter(Boolean).join(' · ');
      return `<tr data-invoice="${escapeHtml(invoice.engineInvoiceId)}">
        <td data-field="period">${day(invoice.periodStart)} – ${day(invoice.periodEnd)}</td>
        <td data-field="status"><span class="status status-${escapeHtml(invoice.status.toLowerCase())}">${escapeHtml(invoice.status)}</span>${invoice.lastError ? `<div class="muted" data-field="error">${escapeHtml(invoice.lastError)}</div>` : ''}</td>
        <td class="num" data-field="total" data-amount="${exact(invoice.total)}">${money(invoice.total)}</td>
        <td class="num" data-field="remaining" data-amount="${exact(invoice.amountRemaining)}">${money(invoice.amountRemaining)}</td>
        <td>${link}</td>
      </tr>${renderIssuedLines(invoice.engineInvoiceId, issuedLines.get(invoice.engineInvoiceId))}`;
    })
    .join('\n');
  return `<h2>Issued invoices</h2>
    <table data-section="history">
      <thead><tr><th>Period</th><th>Status</th><th class="num">Total</th><th class="num">Remaining</th><th></th></tr></thead>
      <tbody>${rows}</tbody>
    </table>`;
}

/** The row under an issued invoice with its kind and lines; nothing when there are none (the engine's own invoices: Stripe). */
function renderIssuedLines(engineInvoiceId: string, detail: IssuedInvoiceDetail | undefined): string {
  if (!detail) return '';
  const { currency } = detail;
  const exact = (minor: bigint) => escapeHtml(formatMinorUnits(minor, currency));
  const lines = detail.lines
    .map(
      (line) => `<tr data-issued-line>
          <td data-field="description">${escapeHtml(line.description)}</td>
          <td class="num" data-field="quantity">${escapeHtml(line.quantity.toLocaleString('en-US'))}</td>
          <td class="num" data-field="unit-price">${line.unitAmountDecimal === null ? '—' : escapeHtml(formatUnitPrice(line.unitAmountDecimal, currency))}</td>
          <td class="num" data-field="amount" data-amount="${exact(line.amount)}">${escapeHtml(formatMoney(line.amount, currency))}</td>
        </tr>`,
    )
    .join('\n');
  const kind = invoiceKindInWords(detail);
  return `<tr data-invoice-lines="${escapeHtml(engineInvoiceId)}">
      <td colspan="5">
        <div class="muted" data-field="invoice-kind">${escapeHtml(kind.charAt(0).toUpperCase() + kind.slice(1))}</div>
        <table data-section="invoice-lines">
          <thead><tr><th>Description</th><th class="num">Quantity</th><th class="num">Unit price</th><th class="num">Amount</th></tr></thead>
          <tbody>${lines || '<tr><td colspan="4" class="muted">No lines.</td></tr>'}</tbody>
        </table>
      </td>
    </tr>`;
}

export function renderMessagePage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p data-field="message">${escapeHtml(message)}</p><p><a href="/devportal/login">Sign in</a></p>`);
}

export function renderSignInPage(next: string, error?: string): string {
  return page(
    'Sign in',
    `<h1>Sign in to the developer portal</h1>
    <p class="muted">Paste an access token with the <code>apim:subscribe</code> scope (for a local deployment: <code>meterline token --sub you --scope apim:subscribe</code>).</p>
    ${error ? `<p class="error" data-field="error">${escapeHtml(error)}</p>` : ''}
    <form class="signin" method="post" action="/devportal/login">
      <input type="hidden" name="next" value="${escapeHtml(next)}">
      <label for="token">Access token</label>
      <textarea id="token" name="token" required autocomplete="off" spellcheck="false"></textarea>
      <p><button type="submit">Sign in</button></p>
    </form>`,
  );
}
