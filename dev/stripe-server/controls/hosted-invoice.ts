import type { WireInvoice } from '../wire';

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A bare page standing in for Stripe's hosted invoice page (what `hosted_invoice_url` points at). */
export function hostedInvoicePage(invoice: WireInvoice): string {
  const rows = invoice.lines.data
    .map((line) => `<tr><td>${escape(line.description ?? '')}</td><td>${line.quantity ?? ''}</td><td>${line.amount}</td></tr>`)
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Invoice ${escape(invoice.number ?? invoice.id)}</title></head>
<body><h1>Invoice ${escape(invoice.number ?? invoice.id)}</h1>
<p>Status: ${escape(String(invoice.status))} — amount due ${invoice.amount_due} ${escape(invoice.currency)} (minor units)</p>
<table><thead><tr><th>Description</th><th>Qty</th><th>Amount</th></tr></thead><tbody>${rows}</tbody></table>
<p><small>Meterline Stripe test server — not a real Stripe page.</small></p></body></html>`;
}
