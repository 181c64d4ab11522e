import type { Invoice, InvoiceStatus } from './invoices';
import { formatAmount } from './money';

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/**
 * The small page an InvoiceURL opens: the invoice, its items and total, and (while it can be paid)
 * test buttons that pay or fail it, as a customer would on MyFatoorah's page. The buttons post to
 * `<InvoiceURL>/pay` and `<InvoiceURL>/fail`, which redirect to the CallBackUrl / ErrorUrl with
 * `paymentId` and `Id` as MyFatoorah does (https://docs.myfatoorah.com/docs/payment-inquiry).
 */
export function payPage(invoice: Invoice, status: InvoiceStatus, path: string): string {
  const rows = invoice.items
    .map((item) => `<tr><td>${escape(item.ItemName)}</td><td>${item.Quantity}</td><td>${formatAmount(item.unitPrice, invoice.decimals, invoice.currency)}</td></tr>`)
    .join('');
  const state = status === 'Canceled' ? 'Expired' : status;
  const actions =
    status === 'Pending'
      ? `<form method="post" action="${escape(path)}/pay"><button type="submit" id="pay">Pay ${formatAmount(invoice.value, invoice.decimals, invoice.currency)}</button></form>
<form method="post" action="${escape(path)}/fail"><button type="submit" id="fail">Decline (test)</button></form>`
      : `<p id="state-note">This invoice is ${state.toLowerCase()} and cannot be paid.</p>`;
  return `<!doctype html>
<html lang="${invoice.language === 'ar' ? 'ar' : 'en'}"><head><meta charset="utf-8"><title>Invoice ${invoice.id}</title>
<style>body{font-family:sans-serif;max-width:36rem;margin:2rem auto}table{width:100%;border-collapse:collapse}td,th{padding:.3rem;border-bottom:1px solid #ddd;text-align:left}form{display:inline}</style></head>
<body>
<h1>Invoice ${invoice.id}</h1>
<p>MyFatoorah test server · ${escape(invoice.account.country)} · reference ${escape(invoice.reference)}</p>
<p>Customer: ${escape(invoice.customerName)}${invoice.customerEmail ? ` &lt;${escape(invoice.customerEmail)}&gt;` : ''}</p>
<p>Status: <strong id="status">${state}</strong> · expires ${invoice.expiresAt.toISOString()}</p>
${rows ? `<table><thead><tr><th>Item</th><th>Quantity</th><th>Unit price</th></tr></thead><tbody>${rows}</tbody></table>` : ''}
<p>Total: <strong id="total">${formatAmount(invoice.value, invoice.decimals, invoice.currency)}</strong></p>
${actions}
</body></html>`;
}
