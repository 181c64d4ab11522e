import { KWT_TOKEN, startHarness, startReceiver, type Harness, type Receiver } from './harness';

/**
 * The test controls over HTTP (`/_test/`), fault injection on the API, and the invoice page's
 * buttons, which send the customer back to the CallBackUrl with `paymentId` and `Id` as MyFatoorah
 * does (https://docs.myfatoorah.com/docs/payment-inquiry: "MyFatoorah returns a PaymentId as a
 * parameter in the CallBack/Error URL").
 */
let h: Harness;
let receiver: Receiver;
beforeAll(async () => {
  [h, receiver] = await Promise.all([startHarness(), startReceiver()]);
});
afterAll(() => Promise.all([h.close(), receiver.close()]));
afterEach(() => h.server.faults.clear());

async function control(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const init: RequestInit = { method };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(`${h.server.url}${path}`, init);
  return { status: response.status, json: await response.json() };
}

describe('HTTP test controls', () => {
  it('configures the webhook endpoint, pays an invoice, and flushes its webhook', async () => {
    expect((await control('POST', '/_test/webhooks/config', { token: KWT_TOKEN, url: receiver.url, secret: 'from-http' })).json).toMatchObject({ url: receiver.url, secret: 'from-http' });
    const id = (await h.sendPayment()).body.Data.InvoiceId as number;
    const paid = await control('POST', `/_test/invoices/${id}/pay`, { flush: true });
    expect(paid.json).toEqual({ invoiceId: id, paymentId: expect.any(String), webhookReference: expect.stringMatching(/^WH-/) });
    expect(receiver.received.map((r) => r.body.Data.Invoice.Id)).toContain(String(id));
    expect((await control('GET', `/_test/invoices/${id}`)).json.InvoiceStatus).toBe('Paid');
    expect((await control('POST', `/_test/invoices/${id}/pay`)).status).toBe(400);
    expect((await control('GET', '/_test/webhooks/deliveries')).json.data).toEqual(expect.arrayContaining([expect.objectContaining({ state: 'delivered' })]));
  });

  it('moves the clock and refuses to move it backwards', async () => {
    const before = (await control('GET', '/_test/clock')).json.now as string;
    const after = (await control('POST', '/_test/clock/advance', { seconds: 60 })).json.now as string;
    expect(Date.parse(after) - Date.parse(before)).toBe(60_000);
    expect((await control('POST', '/_test/clock/advance', { to: before })).status).toBe(400);
  });

  it('expires an invoice', async () => {
    const id = (await h.sendPayment()).body.Data.InvoiceId as number;
    await control('POST', `/_test/invoices/${id}/expire`);
    expect((await h.status(id, 'InvoiceId')).body.Data.InvoiceStatus).toBe('Canceled');
  });

  it('answers 404 for an unknown control', async () => {
    expect((await control('POST', '/_test/nope')).status).toBe(404);
  });
});

describe('faults', () => {
  it('error: the next matching request gets HTTP 500 and creates nothing; the one after works', async () => {
    const before = h.server.requests.list().length;
    await control('POST', '/_test/faults', { kind: 'error', path: '/v2/SendPayment' });
    expect((await h.sendPayment({ CustomerReference: 'inv_fault' })).status).toBe(500);
    expect((await h.status('inv_fault', 'CustomerReference')).status).toBe(400);
    expect((await h.sendPayment({ CustomerReference: 'inv_fault' })).status).toBe(200);
    expect(h.server.requests.list().slice(before).map((r) => r.status)).toEqual([500, 400, 200]);
  });

  it('lose_response: the invoice is made but the client gets no answer', async () => {
    h.server.faults.add({ kind: 'lose_response', path: '/v2/sendpayment' });
    await expect(h.sendPayment({ CustomerReference: 'inv_lost' })).rejects.toThrow();
    expect((await h.status('inv_lost', 'CustomerReference')).body.Data.InvoiceStatus).toBe('Pending');
  });

  it('rate_limit and drop: HTTP 429, or a dropped connection, for the next matching request only', async () => {
    const id = (await h.sendPayment()).body.Data.InvoiceId as number;
    await control('POST', '/_test/faults', { kind: 'rate_limit', path: '/v2/GetPaymentStatus', times: 2 });
    expect((await h.status(id, 'InvoiceId')).status).toBe(429);
    expect((await h.status(id, 'InvoiceId')).status).toBe(429);
    expect((await h.status(id, 'InvoiceId')).status).toBe(200);
    h.server.faults.add({ kind: 'drop' });
    await expect(h.status(id, 'InvoiceId')).rejects.toThrow();
    expect((await h.status(id, 'InvoiceId')).status).toBe(200);
    expect((await control('POST', '/_test/faults', { kind: 'teapot' })).status).toBe(400);
  });

  it('timeout: the request is held past the client\'s own timeout', async () => {
    h.server.faults.add({ kind: 'timeout', path: '/v2/GetPaymentStatus', delayMs: 2_000 });
    const call = fetch(`${h.server.url}/v2/GetPaymentStatus`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KWT_TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ Key: '1', KeyType: 'InvoiceId' }),
      signal: AbortSignal.timeout(100),
    });
    await expect(call).rejects.toThrow(/abort|timeout/i);
  });

  it('delayed, then released: the SendPayment whose client gave up still makes its invoice, after the client looked it up', async () => {
    await control('POST', '/_test/faults', { kind: 'delayed', path: '/v2/SendPayment', delay_ms: 60_000 });
    const call = fetch(`${h.server.url}/v2/SendPayment`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${KWT_TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ InvoiceValue: 1, CustomerName: 'Ann', NotificationOption: 'LNK', CustomerReference: 'inv_delayed' }),
      signal: AbortSignal.timeout(300),
    });
    await expect(call).rejects.toThrow(/abort|timeout/i);
    expect((await h.status('inv_delayed', 'CustomerReference')).status).toBe(400);
    // (Also ends the hold of the timeout test's request above, if it is still held.)
    expect((await control('POST', '/_test/faults/release')).json.released).toBeGreaterThanOrEqual(1);
    expect((await h.status('inv_delayed', 'CustomerReference')).body.Data).toMatchObject({ CustomerReference: 'inv_delayed', InvoiceStatus: 'Pending' });
  });
});

describe('the invoice page (InvoiceURL)', () => {
  it('shows the invoice, and its Pay button pays it and redirects to the CallBackUrl with paymentId and Id', async () => {
    const created = await h.sendPayment({ InvoiceValue: 3, CallBackUrl: 'https://shop.example/paid?order=7' });
    const url = created.body.Data.InvoiceURL as string;
    const page = await (await fetch(url)).text();
    expect(page).toContain('3.000 KWD');
    expect(page).toContain('id="pay"');
    const paid = await fetch(`${url}/pay`, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);
    const location = new URL(paid.headers.get('location') as string);
    expect(location.origin + location.pathname).toBe('https://shop.example/paid');
    expect(location.searchParams.get('order')).toBe('7');
    const paymentId = location.searchParams.get('paymentId');
    expect(location.searchParams.get('Id')).toBe(paymentId);
    expect((await h.status(paymentId as string, 'PaymentId')).body.Data.InvoiceStatus).toBe('Paid');
    expect(await (await fetch(url)).text()).not.toContain('id="pay"');
  });

  it('says an expired invoice cannot be paid, and its Pay button changes nothing', async () => {
    const created = (await h.sendPayment()).body.Data;
    h.server.invoices.expire(created.InvoiceId as number);
    const page = await (await fetch(created.InvoiceURL as string)).text();
    expect(page).toContain('Expired');
    expect(page).not.toContain('id="pay"');
    const tried = await fetch(`${created.InvoiceURL as string}/pay`, { method: 'POST', redirect: 'manual' });
    expect(tried.status).toBe(303);
    expect(tried.headers.get('location')).toBe(created.InvoiceURL);
    expect((await h.status(created.InvoiceId as number, 'InvoiceId')).body.Data).toMatchObject({ InvoiceStatus: 'Canceled', InvoiceTransactions: [] });
  });
});
