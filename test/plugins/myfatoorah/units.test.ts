import { createHmac } from 'node:crypto';
import { signWebhookEvent, signedString as serverSignedString } from '../../../dev/myfatoorah-server';
import { AccountCurrencies } from '../../../plugins/myfatoorah/account-currencies';
import type { PaymentMethod } from '../../../plugins/myfatoorah/client';
import { myFatoorahPriceProblem } from '../../../plugins/myfatoorah/currencies';
import { sendPaymentRequest } from '../../../plugins/myfatoorah/invoice-request';
import { baseUrlFor, parseMyFatoorahOptions } from '../../../plugins/myfatoorah/myfatoorah.options';
import { sign, signatureMatches, signedString } from '../../../plugins/myfatoorah/signature';
import { myFatoorahEngine, tenantRegionProblems } from '../../../plugins/myfatoorah';
import { parseConfig } from '../../../src/config/load';
import { EngineOptionsError, MonetizationError, type EngineDependencies, type InvoiceToSubmit } from '../../../src/monetization/monetization';
import { tenantDirectoryFrom } from '../../../src/monetization/tenant-directory';
import type { SubscriptionRef } from '../../../src/domain/model';

/** A V2 PAYMENT_STATUS_CHANGED Data as https://docs.myfatoorah.com/docs/webhook-v2-payment-status-data-model shapes it. */
const data = {
  Invoice: { Id: '6389662', Status: 'PAID', Reference: '2025060928', ExternalIdentifier: 'inv_1', UserDefinedField: 'sub-1' },
  Transaction: { Id: '1', Status: 'SUCCESS', PaymentId: '07076389662', TransactionDate: '2030-01-15T00:00:00.000Z' },
  Amount: { BaseCurrency: 'KWD', ValueInBaseCurrency: '5.964', DisplayCurrency: 'KWD', ValueInDisplayCurrency: '5.964' },
};

describe('MyFatoorah-Signature (https://docs.myfatoorah.com/docs/webhook-signature)', () => {
  it('signs the documented properties in their documented order as key=value joined by commas, null as empty', () => {
    expect(signedString(1, data)).toBe(
      'Invoice.Id=6389662,Invoice.Status=PAID,Transaction.Status=SUCCESS,Transaction.PaymentId=07076389662,Invoice.ExternalIdentifier=inv_1',
    );
    const withNull = { ...data, Invoice: { ...data.Invoice, ExternalIdentifier: null } };
    expect(signedString(1, withNull)).toMatch(/,Invoice\.ExternalIdentifier=$/);
    expect(signedString(99, data)).toBeNull();
  });

  it('is the base64 HMAC-SHA256 of that string with the secret, as the local MyFatoorah server signs', () => {
    const expected = createHmac('sha256', 'kwt-secret').update(signedString(1, data)!).digest('base64');
    expect(sign(signedString(1, data)!, 'kwt-secret')).toBe(expected);
    const event = { Event: { Code: 1 }, Data: data };
    expect(signedString(1, data)).toBe(serverSignedString(event));
    expect(signatureMatches(sign(signedString(1, data)!, 'kwt-secret'), signWebhookEvent(event, 'kwt-secret'))).toBe(true);
    expect(signatureMatches(sign(signedString(1, data)!, 'kwt-secret'), signWebhookEvent(event, 'other'))).toBe(false);
  });
});

describe('[apim.monetization.myfatoorah]', () => {
  it("maps a region to MyFatoorah's documented origin, or takes api_base_url", () => {
    expect(parseMyFatoorahOptions({ region: 'saudi_arabia' }).baseUrl).toBe('https://api-sa.myfatoorah.com');
    expect(parseMyFatoorahOptions({ region: 'oman' }).baseUrl).toBe('https://api.myfatoorah.com');
    expect(parseMyFatoorahOptions({ region: 'test' }).baseUrl).toBe('https://apitest.myfatoorah.com');
    expect(parseMyFatoorahOptions({ api_base_url: 'http://127.0.0.1:12112/' })).toEqual({
      baseUrl: 'http://127.0.0.1:12112',
      timeoutMs: 30_000,
      retries: 3,
      retryInitialDelayMs: 500,
      retryMaxDelayMs: 8_000,
      fixedBaseUrl: true,
      unansweredSendMarginMs: 60_000,
    });
  });

  it("takes a tenant's own region (myfatoorah_region) over the deployment's, api_base_url over both, and refuses a region that is not one at start-up, naming the key", () => {
    const kuwait = parseMyFatoorahOptions({ region: 'kuwait' });
    expect(baseUrlFor(kuwait, 'saudi_arabia')).toBe('https://api-sa.myfatoorah.com');
    expect(baseUrlFor(kuwait, undefined)).toBe('https://api.myfatoorah.com');
    expect(baseUrlFor(parseMyFatoorahOptions({ region: 'kuwait', api_base_url: 'http://127.0.0.1:12112' }), 'uae')).toBe('http://127.0.0.1:12112');
    const config = parseConfig(
      {
        apim: { monetization: { monetization_impl: 'myfatoorah', myfatoorah: { region: 'kuwait' } } },
        tenants: [
          { domain: 'riyadh.example', id: 2, monetization_info: { myfatoorah_api_token: 't', myfatoorah_region: 'saudi_arabia' } },
          { domain: 'mars.example', id: 3, monetization_info: { myfatoorah_api_token: 't', myfatoorah_region: 'mars' } },
        ],
      },
      {},
      'test',
    );
    const tenants = tenantDirectoryFrom(config, myFatoorahEngine.capabilities.tenantSecrets);
    expect(tenants.find('riyadh.example')?.secrets.myfatoorah_region).toBe('saudi_arabia');
    const dependencies = { tenants } as unknown as EngineDependencies;
    expect(() => myFatoorahEngine.create({ region: 'kuwait' }, dependencies)).toThrow(EngineOptionsError);
    expect(() => myFatoorahEngine.create({ region: 'kuwait' }, dependencies)).toThrow(
      /tenant mars\.example: monetization_info\.myfatoorah_region: "mars" is not a MyFatoorah region \(kuwait, bahrain/,
    );
    expect(tenantRegionProblems(tenants)).toHaveLength(1);
  });

  it('refuses no region, an unknown region or key, naming the key', () => {
    expect(() => parseMyFatoorahOptions({})).toThrow(/apim\.monetization\.myfatoorah\.region: set region/);
    expect(() => parseMyFatoorahOptions({ region: 'mars' })).toThrow(EngineOptionsError);
    expect(() => parseMyFatoorahOptions({ region: 'test', retrys: 2 })).toThrow(/retrys/);
  });

  it("is the engine the factory builds, registered under its name", () => {
    expect(myFatoorahEngine.name).toBe('myfatoorah');
    expect(myFatoorahEngine.capabilities.invoicing).toBe('meterline');
    expect(myFatoorahEngine.capabilities.isFirstPaymentInvoice('SUBSCRIPTION_START')).toBe(true);
    expect(myFatoorahEngine.capabilities.isFirstPaymentInvoice('PERIOD')).toBe(false);
  });
});

describe('prices MyFatoorah can charge', () => {
  it('refuses a currency outside its ISO lookups, naming the ones it invoices in', () => {
    expect(myFatoorahPriceProblem({ currency: 'usd', kind: 'fixed', amount: '10' })).toEqual({ on: 'currency', message: expect.stringMatching(/cannot invoice in USD: it invoices in KWD, SAR, BHD/) });
    expect(myFatoorahPriceProblem({ currency: 'kwd', kind: 'fixed', amount: '10.500' })).toBeNull();
  });

  it("refuses a fixed amount finer than the currency's decimals, and accepts a finer per-unit rate", () => {
    expect(myFatoorahPriceProblem({ currency: 'sar', kind: 'fixed', amount: '10.005' })).toEqual({ on: 'amount', message: expect.stringMatching(/not exact in SAR's 2 decimals/) });
    expect(myFatoorahPriceProblem({ currency: 'sar', kind: 'fixed', amount: '10.500' })).toBeNull();
    expect(myFatoorahPriceProblem({ currency: 'kwd', kind: 'per_unit', amount: '0.0005' })).toBeNull();
  });
});

describe('SendPayment request (https://docs.myfatoorah.com/docs/send-payment)', () => {
  const subscription = { uuid: 'sub-1', subscriber: { userId: 'alice', email: null } } as unknown as SubscriptionRef;
  const invoice = (lines: InvoiceToSubmit['lines'], email: string | null = 'alice@example.com'): InvoiceToSubmit => ({
    invoiceId: 'inv_1',
    kind: 'PERIOD',
    subscription,
    currency: 'kwd',
    periodStart: new Date('2030-01-01T00:00:00Z'),
    periodEnd: new Date('2030-02-01T00:00:00Z'),
    lines,
    total: lines.reduce((sum, line) => sum + line.amount, 0n),
    customer: { name: 'Alice', email },
    expiresAt: new Date('2030-03-01T00:00:00Z'),
  });

  it('sends exact lines as they are and any other line as quantity 1 at its amount, adding up to InvoiceValue', () => {
    const request = sendPaymentRequest(
      invoice([
        { description: 'Hello API · monthly fee', quantity: 1n, unitAmountDecimal: '5', amount: 5000n },
        { description: 'Hello API · 2,982 calls × 0.002 KWD', quantity: 2982n, unitAmountDecimal: '0.002', amount: 5964n },
        { description: 'Hello API · 1,001 calls × 0.0005 KWD', quantity: 1001n, unitAmountDecimal: '0.0005', amount: 501n },
        { description: 'Hello API · tier 2', quantity: 10n, unitAmountDecimal: null, amount: 0n },
      ]),
    );
    expect(request).toEqual({
      InvoiceValue: 11.465,
      CustomerName: 'Alice',
      NotificationOption: 'LNK',
      DisplayCurrencyIso: 'KWD',
      CustomerEmail: 'alice@example.com',
      CustomerReference: 'inv_1',
      UserDefinedField: 'sub-1',
      ExpiryDate: '2030-03-01T00:00:00.000Z',
      Language: 'en',
      InvoiceItems: [
        { ItemName: 'Hello API · monthly fee', Quantity: 1, UnitPrice: 5 },
        { ItemName: 'Hello API · 2,982 calls × 0.002 KWD', Quantity: 2982, UnitPrice: 0.002 },
        { ItemName: 'Hello API · 1,001 calls × 0.0005 KWD', Quantity: 1, UnitPrice: 0.501 },
      ],
    });
    expect(JSON.stringify(request)).toContain('"InvoiceValue":11.465');
    expect(sendPaymentRequest(invoice([{ description: 'x', quantity: 1n, unitAmountDecimal: null, amount: 1n }], null))).not.toHaveProperty('CustomerEmail');
  });

  it('refuses an invoice that is not above zero', () => {
    expect(() => sendPaymentRequest(invoice([{ description: 'nothing', quantity: 0n, unitAmountDecimal: '0.002', amount: 0n }]))).toThrow(MonetizationError);
  });
});

describe("the account's currencies (InitiatePayment, https://docs.myfatoorah.com/docs/initiate-payment)", () => {
  it('takes a currency as invoiceable only when a payment method quotes the amount in it; answers are kept per tenant and token', async () => {
    let now = new Date('2030-01-15T00:00:00Z');
    const asked: string[] = [];
    // What MyFatoorah answers: KWD quoted in KWD; SAR converted and quoted in KWD; EGP refused (null).
    const answers: Record<string, PaymentMethod[] | null> = { KWD: [{ PaymentMethodId: 1, CurrencyIso: 'KWD' }], SAR: [{ PaymentMethodId: 1, CurrencyIso: 'KWD' }], EGP: null };
    const client = {
      paymentMethods: async (_amount: number, iso: string) => {
        asked.push(iso);
        return answers[iso] ?? [];
      },
    };
    const currencies = new AccountCurrencies(() => now);
    await expect(currencies.check('t1', 'tok', client, 'kwd', 'policy Gold')).resolves.toBeUndefined();
    for (const iso of ['sar', 'egp', 'aed']) {
      await expect(currencies.check('t1', 'tok', client, iso, 'policy Gold')).rejects.toMatchObject({
        code: 'INVALID_POLICY_PRICING',
        context: { field: 'monetization.properties.currencyType' },
        message: expect.stringContaining(`policy Gold: the tenant's MyFatoorah account cannot invoice in ${iso.toUpperCase()}`),
      });
    }
    await currencies.check('t1', 'tok', client, 'KWD', 'x');
    expect(asked).toEqual(['KWD', 'SAR', 'EGP', 'AED']);
    await currencies.check('t1', 'new-token', client, 'KWD', 'x'); // another account
    await currencies.check('t2', 'tok', client, 'KWD', 'x'); // another tenant
    now = new Date(now.getTime() + 5 * 60_000);
    await currencies.check('t1', 'new-token', client, 'KWD', 'x'); // 5 minutes old: asked again
    expect(asked).toEqual(['KWD', 'SAR', 'EGP', 'AED', 'KWD', 'KWD', 'KWD']);
  });
});
