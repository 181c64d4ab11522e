import { SAU_TOKEN, startHarness, type Harness } from './harness';

/**
 * GetPaymentStatus as https://docs.myfatoorah.com/docs/get-payment-status documents it (Key and
 * KeyType InvoiceId / PaymentId / CustomerReference; InvoiceStatus Pending / Paid / Canceled;
 * InvoiceTransactions) and https://docs.myfatoorah.com/docs/payment-inquiry explains it (an invoice
 * may have several transactions: Paid once one succeeded, "Succss" (sic), Pending while all are in
 * progress or failed; every key of the same invoice answers the same).
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

async function newInvoice(overrides: Record<string, unknown> = {}): Promise<number> {
  const answer = await h.sendPayment({ InvoiceValue: 7.5, CustomerEmail: 'a@acme.example', ...overrides });
  expect(answer.status).toBe(200);
  return answer.body.Data.InvoiceId as number;
}

describe('GetPaymentStatus (docs/get-payment-status, docs/payment-inquiry)', () => {
  it('answers a new invoice as Pending without transactions', async () => {
    const id = await newInvoice({ CustomerReference: 'inv_pending', InvoiceItems: [{ ItemName: 'Fee', Quantity: 2, UnitPrice: 3.75 }] });
    const answer = await h.status(id, 'InvoiceId');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ IsSuccess: true, ValidationErrors: null });
    expect(answer.body.Data).toMatchObject({
      InvoiceId: id,
      InvoiceStatus: 'Pending',
      CustomerReference: 'inv_pending',
      InvoiceValue: 7.5,
      InvoiceDisplayValue: '7.500 KWD',
      CustomerName: 'Acme Co',
      CustomerEmail: 'a@acme.example',
      InvoiceItems: [{ ItemName: 'Fee', Quantity: 2, UnitPrice: 3.75 }],
      InvoiceTransactions: [],
    });
  });

  it('is Paid after a successful transaction, spelled "Succss", and answers the same by InvoiceId, PaymentId and CustomerReference', async () => {
    const id = await newInvoice({ CustomerReference: 'inv_paid' });
    const { paymentId } = h.server.invoices.pay(id);
    const byInvoice = await h.status(id, 'InvoiceId');
    expect(byInvoice.body.Data.InvoiceStatus).toBe('Paid');
    expect(byInvoice.body.Data.InvoiceTransactions).toEqual([
      expect.objectContaining({ PaymentId: paymentId, TransactionStatus: 'Succss', PaymentGateway: 'KNET', TransationValue: '7.5', PaidCurrency: 'KWD' }),
    ]);
    expect((await h.status(paymentId, 'PaymentId')).body.Data).toEqual(byInvoice.body.Data);
    expect((await h.status('inv_paid', 'customerreference')).body.Data).toEqual(byInvoice.body.Data);
  });

  it('stays Pending after a failed attempt and is Paid when a later attempt succeeds', async () => {
    const id = await newInvoice();
    h.server.invoices.fail(id);
    expect((await h.status(id, 'InvoiceId')).body.Data).toMatchObject({ InvoiceStatus: 'Pending', InvoiceTransactions: [expect.objectContaining({ TransactionStatus: 'Failed' })] });
    h.server.invoices.pay(id);
    const data = (await h.status(id, 'InvoiceId')).body.Data;
    expect(data.InvoiceStatus).toBe('Paid');
    expect(data.InvoiceTransactions.map((t: { TransactionStatus: string }) => t.TransactionStatus)).toEqual(['Failed', 'Succss']);
    expect(() => h.server.invoices.pay(id)).toThrow(/paid/);
  });

  it('answers an unpaid invoice past its expiry as Canceled, and it can no longer be paid', async () => {
    const now = h.server.clock.now().getTime();
    const id = await newInvoice({ ExpiryDate: new Date(now + 3600_000).toISOString() });
    h.server.clock.advance(3599);
    expect((await h.status(id, 'InvoiceId')).body.Data.InvoiceStatus).toBe('Pending');
    h.server.clock.advance(1);
    expect((await h.status(id, 'InvoiceId')).body.Data.InvoiceStatus).toBe('Canceled');
    expect(() => h.server.invoices.pay(id)).toThrow(/expired/);

    const other = await newInvoice();
    h.server.invoices.expire(other);
    expect((await h.status(other, 'InvoiceId')).body.Data.InvoiceStatus).toBe('Canceled');
  });

  it('refuses an unknown KeyType, a missing Key, and another account\'s invoice with HTTP 400', async () => {
    const id = await newInvoice();
    const badType = await h.status(id, 'OrderId');
    expect(badType.status).toBe(400);
    expect(badType.body).toMatchObject({ IsSuccess: false, ValidationErrors: [{ Name: 'KeyType', Error: expect.any(String) }], Data: null });
    expect((await h.call('/v2/GetPaymentStatus', { KeyType: 'InvoiceId' })).body.ValidationErrors).toEqual([{ Name: 'Key', Error: expect.any(String) }]);
    const elsewhere = await h.status(id, 'InvoiceId', SAU_TOKEN);
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body).toMatchObject({ IsSuccess: false, Data: null });
  });
});
