import { createHmac } from 'node:crypto';
import { signedString, verifyWebhookSignature } from '../index';
import { KWT_SECRET, KWT_TOKEN, startHarness, startReceiver, type Harness, type Receiver } from './harness';

/**
 * Webhook V2 as documented: the `{ Event, Data }` body of PAYMENT_STATUS_CHANGED
 * (https://docs.myfatoorah.com/docs/webhook-v2-payment-status-data-model), the `MyFatoorah-Signature`
 * header (https://docs.myfatoorah.com/docs/webhook-signature: the event type's fields in their
 * order as `key=value` joined by commas, null as empty, HMAC-SHA256 with the secret key, base64),
 * and retries when the endpoint does not answer (https://docs.myfatoorah.com/docs/webhook-v2: a
 * configured retry count, at most 5, and delay, at most 180 seconds).
 */
let h: Harness;
let receiver: Receiver;
beforeAll(async () => {
  [h, receiver] = await Promise.all([startHarness(), startReceiver()]);
  h.server.accounts.configureWebhook(KWT_TOKEN, { url: receiver.url, retries: 2, retryDelaySeconds: 30 });
});
afterAll(() => Promise.all([h.close(), receiver.close()]));
beforeEach(() => {
  receiver.received.length = 0;
  receiver.answer = 200;
});

async function newInvoice(overrides: Record<string, unknown> = {}): Promise<number> {
  return (await h.sendPayment({ InvoiceValue: 20, CustomerReference: 'inv_hook', ...overrides })).body.Data.InvoiceId as number;
}

describe('Webhook V2 (docs/webhook-v2, docs/webhook-signature)', () => {
  it('sends PAYMENT_STATUS_CHANGED when an invoice is paid, with the documented objects', async () => {
    const id = await newInvoice();
    const { paymentId, webhookReference } = h.server.invoices.pay(id);
    await h.server.webhooks.flush();
    expect(receiver.received).toHaveLength(1);
    const { body } = receiver.received[0]!;
    // webhook-v2: CreationDate is ISO 8601 "yyyy-MM-ddTHH:mm:ssZ" in UTC.
    expect(body.Event).toEqual({ Code: 1, Name: 'PAYMENT_STATUS_CHANGED', CountryIsoCode: 'KWT', CreationDate: `${h.server.clock.now().toISOString().slice(0, 19)}Z`, Reference: webhookReference });
    expect(body.Event.CreationDate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(body.Data.Invoice).toMatchObject({ Id: String(id), Status: 'PAID', ExternalIdentifier: 'inv_hook', UserDefinedField: null });
    expect(body.Data.Transaction).toMatchObject({ Status: 'SUCCESS', PaymentId: paymentId, PaymentMethod: 'KNET' });
    expect(body.Data.Customer).toMatchObject({ Name: 'Acme Co', Reference: 'inv_hook' });
    expect(body.Data.Amount).toMatchObject({ BaseCurrency: 'KWD', ValueInBaseCurrency: '20', DisplayCurrency: 'KWD', ValueInDisplayCurrency: '20' });
  });

  it('signs the documented fields in the documented order with the account\'s secret, base64', async () => {
    const id = await newInvoice({ CustomerReference: undefined });
    const { paymentId } = h.server.invoices.pay(id);
    await h.server.webhooks.flush();
    const { headers, body } = receiver.received[0]!;
    // Written out by hand from the documents, not by the server's code: a null ExternalIdentifier is empty.
    const expected = `Invoice.Id=${id},Invoice.Status=PAID,Transaction.Status=SUCCESS,Transaction.PaymentId=${paymentId},Invoice.ExternalIdentifier=`;
    expect(signedString(body)).toBe(expected);
    expect(headers['myfatoorah-signature']).toBe(createHmac('sha256', KWT_SECRET).update(expected, 'utf8').digest('base64'));
    expect(verifyWebhookSignature(body, KWT_SECRET, headers['myfatoorah-signature'] as string)).toBe(true);
    expect(verifyWebhookSignature({ ...body, Data: { ...body.Data, Invoice: { ...body.Data.Invoice, Status: 'PENDING' } } }, KWT_SECRET, headers['myfatoorah-signature'] as string)).toBe(false);
  });

  it('sends a failed attempt as PENDING / FAILED', async () => {
    const id = await newInvoice();
    h.server.invoices.fail(id, { error: 'Insufficient funds' });
    await h.server.webhooks.flush();
    expect(receiver.received[0]!.body.Data).toMatchObject({ Invoice: { Status: 'PENDING' }, Transaction: { Status: 'FAILED', Error: { Message: 'Insufficient funds' } } });
  });

  it('sends nothing when an invoice expires', async () => {
    const id = await newInvoice();
    h.server.invoices.expire(id);
    await h.server.webhooks.flush();
    expect(receiver.received).toHaveLength(0);
  });

  it('retries the configured number of times, the configured delay apart, while the endpoint does not answer 2xx', async () => {
    receiver.answer = 500;
    const id = await newInvoice();
    const { webhookReference } = h.server.invoices.pay(id);
    await h.server.webhooks.flush();
    const delivery = () => h.server.webhooks.deliveries().find((d) => d.reference === webhookReference)!;
    expect(delivery()).toMatchObject({ state: 'pending', attempts: [{ status: 500 }] });
    h.server.clock.advance(29);
    await h.server.webhooks.flush();
    expect(delivery().attempts).toHaveLength(1);
    h.server.clock.advance(1);
    await h.server.webhooks.flush();
    expect(delivery().attempts).toHaveLength(2);
    h.server.clock.advance(30);
    await h.server.webhooks.flush();
    expect(delivery()).toMatchObject({ state: 'failed', attempts: [{ status: 500 }, { status: 500 }, { status: 500 }], nextAttemptAt: null });
    // Every attempt carries the same event and signature.
    expect(new Set(receiver.received.map((r) => r.raw)).size).toBe(1);
    expect(new Set(receiver.received.map((r) => r.headers['myfatoorah-signature'])).size).toBe(1);
  });

  it('stops retrying once the endpoint answers 2xx, and a replay sends the same event again', async () => {
    receiver.answer = 503;
    const id = await newInvoice();
    const { webhookReference } = h.server.invoices.pay(id);
    await h.server.webhooks.flush();
    receiver.answer = 200;
    h.server.clock.advance(30);
    await h.server.webhooks.flush();
    expect(h.server.webhooks.deliveries().find((d) => d.reference === webhookReference)).toMatchObject({ state: 'delivered', attempts: [{ status: 503 }, { status: 200 }] });
    expect(h.server.webhooks.replay(webhookReference!)).toBe(1);
    await h.server.webhooks.flush();
    expect(receiver.received.map((r) => r.body.Event.Reference)).toEqual([webhookReference, webhookReference, webhookReference]);
  });

  it('refuses retry settings beyond the documented maximums', () => {
    expect(() => h.server.accounts.configureWebhook(KWT_TOKEN, { retries: 6 })).toThrow(RangeError);
    expect(() => h.server.accounts.configureWebhook(KWT_TOKEN, { retryDelaySeconds: 181 })).toThrow(RangeError);
  });
});
