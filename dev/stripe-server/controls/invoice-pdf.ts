import type { WireInvoice } from '../wire';

/**
 * A one-page PDF standing in for Stripe's invoice PDF (what `invoice_pdf` points at: "The link to
 * download the PDF for the invoice", https://docs.stripe.com/api/invoices/object#invoice_object-invoice_pdf):
 * the invoice's number, status, lines and amount due, in PDF 1.4 with the standard Helvetica font.
 */
export function invoicePdf(invoice: WireInvoice): Buffer {
  const text = [
    `Invoice ${invoice.number ?? invoice.id}`,
    `Status: ${String(invoice.status)} - amount due ${invoice.amount_due} ${invoice.currency} (minor units)`,
    ...invoice.lines.data.map((line) => `${line.description ?? ''}  ${line.quantity ?? ''}  ${line.amount}`),
    'Meterline Stripe test server - not a real Stripe document.',
  ];
  const content = ['BT', '/F1 11 Tf', '50 780 Td', '14 TL', ...text.map((line) => `(${pdfString(line)}) '`), 'ET'].join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
  ];
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, index) => {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${index + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`).join('')}`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

/** A PDF literal string: printable ASCII only, with its delimiters escaped. */
function pdfString(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').replace(/[\\()]/g, (c) => `\\${c}`);
}
