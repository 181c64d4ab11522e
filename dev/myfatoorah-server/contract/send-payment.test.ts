import { KWT_TOKEN, SAU_TOKEN, startHarness, type Harness } from './harness';

/**
 * SendPayment as https://docs.myfatoorah.com/docs/send-payment documents it (request header
 * `Authorization: Bearer {Token}`, required InvoiceValue / CustomerName / NotificationOption, the
 * `{ IsSuccess, Message, ValidationErrors, Data }` answer), the invoice link of
 * https://docs.myfatoorah.com/docs/invoice-link, and the account's currencies of
 * https://docs.myfatoorah.com/docs/iso-lookups and https://docs.myfatoorah.com/docs/live-token.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const fieldsOf = (body: { ValidationErrors: Array<{ Name: string }> }) => body.ValidationErrors.map((e) => e.Name).sort();

describe('SendPayment (docs/send-payment)', () => {
  it('creates an invoice and answers its id, its URL, the customer reference and the user-defined field', async () => {
    const answer = await h.sendPayment({
      InvoiceValue: 12.25,
      CustomerEmail: 'billing@acme.example',
      CustomerReference: 'inv_0001',
      UserDefinedField: 'sub-42',
      InvoiceItems: [
        { ItemName: 'Hello API · monthly fee', Quantity: 1, UnitPrice: 10 },
        { ItemName: 'Hello API · 3 calls × 0.750 KWD', Quantity: 3, UnitPrice: 0.75 },
      ],
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      IsSuccess: true,
      Message: 'Invoice Created Successfully!',
      ValidationErrors: null,
      Data: { InvoiceId: expect.any(Number), InvoiceURL: expect.stringMatching(/\/KWT\/ie\/\w+$/), CustomerReference: 'inv_0001', UserDefinedField: 'sub-42' },
    });
    const page = await fetch(answer.body.Data.InvoiceURL as string);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('12.250 KWD');
    expect(html).toContain('Hello API · monthly fee');
  });

  it('refuses a request without a known token with HTTP 401 and no body', async () => {
    await expect(h.call('/v2/SendPayment', { InvoiceValue: 1, CustomerName: 'A', NotificationOption: 'LNK' }, 'not-a-token')).resolves.toEqual({ status: 401, body: null });
    await expect(h.call('/v2/SendPayment', { InvoiceValue: 1, CustomerName: 'A', NotificationOption: 'LNK' }, null)).resolves.toEqual({ status: 401, body: null });
  });

  it('names every missing required field in ValidationErrors with HTTP 400', async () => {
    const answer = await h.call('/v2/SendPayment', {});
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ IsSuccess: false, Data: null });
    expect(fieldsOf(answer.body)).toEqual(['CustomerName', 'InvoiceValue', 'NotificationOption']);
  });

  it('needs CustomerEmail for EML and ALL, CustomerMobile for SMS and ALL', async () => {
    expect(fieldsOf((await h.sendPayment({ NotificationOption: 'EML' })).body)).toEqual(['CustomerEmail']);
    expect(fieldsOf((await h.sendPayment({ NotificationOption: 'SMS' })).body)).toEqual(['CustomerMobile']);
    expect(fieldsOf((await h.sendPayment({ NotificationOption: 'ALL' })).body)).toEqual(['CustomerEmail', 'CustomerMobile']);
    expect((await h.sendPayment({ NotificationOption: 'EML', CustomerEmail: 'a@b.example' })).status).toBe(200);
    expect(fieldsOf((await h.sendPayment({ NotificationOption: 'FAX' })).body)).toEqual(['NotificationOption']);
  });

  it('refuses items that do not add up to InvoiceValue', async () => {
    const answer = await h.sendPayment({ InvoiceValue: 10, InvoiceItems: [{ ItemName: 'Fee', Quantity: 3, UnitPrice: 3 }] });
    expect(answer.status).toBe(400);
    expect(answer.body.ValidationErrors).toEqual([{ Name: 'InvoiceValue', Error: expect.stringContaining('9') }]);
  });

  it('takes amounts to the currency\'s decimals: 3 for KWD, 2 for SAR', async () => {
    expect((await h.sendPayment({ InvoiceValue: 2.5 })).status).toBe(200);
    expect((await h.sendPayment({ InvoiceValue: 2.125 })).status).toBe(200);
    expect(fieldsOf((await h.sendPayment({ InvoiceValue: 2.1255 })).body)).toEqual(['InvoiceValue']);
    expect(fieldsOf((await h.sendPayment({ InvoiceValue: 2.125 }, SAU_TOKEN)).body)).toEqual(['InvoiceValue']);
    expect(fieldsOf((await h.sendPayment({ InvoiceValue: 0 })).body)).toEqual(['InvoiceValue']);
  });

  it('invoices only in the currencies the account has; the account\'s currency by default', async () => {
    expect((await h.sendPayment({ DisplayCurrencyIso: 'USD', InvoiceValue: 3.5 })).status).toBe(200);
    const refused = await h.sendPayment({ DisplayCurrencyIso: 'EUR' });
    expect(refused.status).toBe(400);
    expect(refused.body.ValidationErrors).toEqual([{ Name: 'DisplayCurrencyIso', Error: expect.stringContaining('EUR') }]);
    expect(fieldsOf((await h.sendPayment({ DisplayCurrencyIso: 'KWD', InvoiceValue: 1 }, SAU_TOKEN)).body)).toEqual(['DisplayCurrencyIso']);
    const byDefault = await h.sendPayment({ DisplayCurrencyIso: undefined, InvoiceValue: 1 }, SAU_TOKEN);
    const status = await h.status(byDefault.body.Data.InvoiceId as number, 'InvoiceId', SAU_TOKEN);
    expect(status.body.Data.InvoiceDisplayValue).toBe('1.00 SAR');
  });

  it('has no idempotency: the same CustomerReference twice makes two invoices, and the newest answers to it', async () => {
    const first = await h.sendPayment({ CustomerReference: 'inv_twice' });
    const second = await h.sendPayment({ CustomerReference: 'inv_twice' });
    expect(second.body.Data.InvoiceId).not.toBe(first.body.Data.InvoiceId);
    const status = await h.status('inv_twice', 'CustomerReference');
    expect(status.body.Data.InvoiceId).toBe(second.body.Data.InvoiceId);
  });

  it('takes an ExpiryDate in the future only', async () => {
    const now = h.server.clock.now().getTime();
    const later = new Date(now + 3 * 86_400_000).toISOString();
    const created = await h.sendPayment({ ExpiryDate: later });
    expect((await h.status(created.body.Data.InvoiceId as number, 'InvoiceId')).body.Data.ExpiryDate).toBe(later);
    expect(fieldsOf((await h.sendPayment({ ExpiryDate: new Date(now - 1000).toISOString() })).body)).toEqual(['ExpiryDate']);
    expect(fieldsOf((await h.sendPayment({ ExpiryDate: 'tomorrow' })).body)).toEqual(['ExpiryDate']);
  });

  it('answers InitiatePayment with payment methods for an amount (docs/initiate-payment)', async () => {
    const answer = await h.call('/v2/InitiatePayment', { InvoiceAmount: 5, CurrencyIso: 'KWD' }, KWT_TOKEN);
    expect(answer.status).toBe(200);
    expect(answer.body.Data.PaymentMethods).toEqual(expect.arrayContaining([expect.objectContaining({ PaymentMethodEn: 'KNET', TotalAmount: 5, CurrencyIso: 'KWD' })]));
  });

  it("offers no payment method in a currency the account cannot invoice: InitiatePayment refuses it, naming CurrencyIso (docs/initiate-payment: the account's enabled methods)", async () => {
    const sar = await h.call('/v2/InitiatePayment', { InvoiceAmount: 5, CurrencyIso: 'SAR' }, KWT_TOKEN);
    expect(sar.status).toBe(400);
    expect(fieldsOf(sar.body)).toEqual(['CurrencyIso']);
    expect((await h.call('/v2/InitiatePayment', { InvoiceAmount: 5, CurrencyIso: 'SAR' }, SAU_TOKEN)).status).toBe(200);
  });
});
