/** Minimal server-side HTML: every interpolated value goes through `escapeHtml`. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' })[c]!);
}

const STYLE = `
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f4f5f7; color: #1f2328; }
  main { max-width: 880px; margin: 32px auto; background: #fff; border-radius: 8px; padding: 32px 40px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  h1 { font-size: 24px; margin: 0 0 4px; }
  .muted { color: #59636e; }
  table { width: 100%; border-collapse: collapse; margin: 24px 0; }
  th, td { text-align: left; padding: 10px 8px; border-bottom: 1px solid #d1d9e0; }
  th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
  tfoot td { border-bottom: none; }
  tfoot tr.total td { font-weight: 700; font-size: 18px; border-top: 2px solid #1f2328; }
  .pay { display: inline-block; background: #1f6feb; color: #fff; padding: 10px 18px; border-radius: 6px; text-decoration: none; font-weight: 600; }
  .pay.small { padding: 4px 12px; font-size: 14px; }
  a.small { font-size: 14px; }
  h2 { margin-top: 36px; font-size: 20px; }
  .status { font-size: 13px; font-weight: 600; padding: 2px 8px; border-radius: 10px; background: #eaeef2; }
  .status-paid { background: #dafbe1; color: #116329; }
  .status-open { background: #fff8c5; color: #7d4e00; }
  .status-uncollectible { background: #ffebe9; color: #a40e26; }
  .status-void { background: #eaeef2; color: #59636e; }
  form.signin textarea { width: 100%; height: 120px; font-family: monospace; }
  button { padding: 8px 16px; font-size: 15px; }
  .error { color: #cf222e; }
  header.bar { display: flex; justify-content: space-between; align-items: center; }
`;

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · Meterline Developer Portal</title>
<style>${STYLE}</style>
</head>
<body><main>${body}</main></body>
</html>`;
}

/**
 * Headers for every portal page: no scripts at all, no framing, no caching of invoices, no
 * referrer leaking the page URL to the payment site.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};
