import { MonetizationError } from '../../src/monetization/monetization';
import type { MyFatoorahOptions } from './myfatoorah.options';

/**
 * MyFatoorah's API v2 over HTTP (`fetch`), for one tenant's token. Every answer has the envelope
 * `{ IsSuccess, Message, ValidationErrors, Data }`; a refused request is HTTP 400 with IsSuccess
 * false and `ValidationErrors: [{ Name, Error }]` (https://docs.myfatoorah.com/docs/send-payment).
 *
 * Failures become MonetizationErrors: 401/403 ENGINE_AUTHENTICATION_FAILED (the token), a 400
 * ENGINE_REJECTED naming MyFatoorah's fields, no answer / 429 / 5xx ENGINE_UNAVAILABLE once the
 * re-sends are spent. Only requests that are safe to repeat are re-sent here (`idempotent`).
 */

export interface SendPaymentRequest {
  InvoiceValue: number;
  CustomerName: string;
  NotificationOption: 'LNK' | 'EML' | 'SMS' | 'ALL';
  DisplayCurrencyIso: string;
  CustomerEmail?: string;
  CustomerReference: string;
  UserDefinedField: string;
  ExpiryDate: string;
  Language: 'en' | 'ar';
  InvoiceItems: Array<{ ItemName: string; Quantity: number; UnitPrice: number }>;
}

export interface SendPaymentData {
  InvoiceId: number | string;
  InvoiceURL: string;
  CustomerReference?: string | null;
  UserDefinedField?: string | null;
}

export interface PaymentStatusTransaction {
  PaymentId?: string | null;
  TransactionId?: string | null;
  TransactionStatus?: string | null;
  TransactionDate?: string | null;
  Error?: string | null;
}

/** GetPaymentStatus's Data (https://docs.myfatoorah.com/docs/payment-inquiry). */
export interface PaymentStatusData {
  InvoiceId: number | string;
  /** "Pending", "Paid" or "Canceled" (an expired invoice). */
  InvoiceStatus: string;
  CustomerReference?: string | null;
  UserDefinedField?: string | null;
  InvoiceValue?: number | string | null;
  CreatedDate?: string | null;
  ExpiryDate?: string | null;
  InvoiceTransactions?: PaymentStatusTransaction[] | null;
}

export type KeyType = 'InvoiceId' | 'PaymentId' | 'CustomerReference';

/** One of InitiatePayment's PaymentMethods (https://docs.myfatoorah.com/docs/initiate-payment). */
export interface PaymentMethod {
  PaymentMethodId?: number;
  PaymentMethodEn?: string | null;
  CurrencyIso?: string | null;
  ServiceCharge?: number | string | null;
  TotalAmount?: number | string | null;
}

interface Envelope<T> {
  IsSuccess?: boolean;
  Message?: string | null;
  ValidationErrors?: Array<{ Name?: string; Error?: string }> | null;
  Data?: T | null;
}

class Refused extends Error {
  constructor(
    readonly status: number,
    readonly envelope: Envelope<unknown>,
  ) {
    super(describe(envelope) || `HTTP ${status}`);
  }
}

function describe(envelope: Envelope<unknown>): string {
  const fields = (envelope.ValidationErrors ?? []).map((e) => `${e.Name ?? '?'}: ${e.Error ?? ''}`.trim());
  return [envelope.Message ?? '', ...fields].filter((s) => s !== '').join('; ');
}

export class MyFatoorahClient {
  constructor(
    private readonly options: MyFatoorahOptions,
    private readonly token: string,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** POST /v2/SendPayment: one attempt (it is not idempotent; the caller looks up before re-sending). */
  async sendPayment(request: SendPaymentRequest): Promise<SendPaymentData> {
    return this.call<SendPaymentData>('SendPayment', request, { idempotent: false, what: 'create the MyFatoorah invoice' });
  }

  /**
   * POST /v2/GetPaymentStatus (https://docs.myfatoorah.com/docs/payment-inquiry). Null when
   * MyFatoorah has no invoice for the key (a 400 whose validation error names `Key`).
   */
  async paymentStatus(key: string, keyType: KeyType): Promise<PaymentStatusData | null> {
    try {
      return await this.call<PaymentStatusData>('GetPaymentStatus', { Key: key, KeyType: keyType }, { idempotent: true, what: `read MyFatoorah invoice ${keyType} ${key}` });
    } catch (error) {
      if (error instanceof MonetizationError && error.code === 'ENGINE_REJECTED' && error.context.keyNotFound === true) return null;
      throw error;
    }
  }

  /**
   * POST /v2/InitiatePayment (https://docs.myfatoorah.com/docs/initiate-payment): "all available and
   * enabled Payment Methods of your portal account" for an InvoiceAmount in a CurrencyIso. Null
   * when MyFatoorah refuses the currency (a 400 whose validation error names `CurrencyIso`).
   */
  async paymentMethods(invoiceAmount: number, currencyIso: string): Promise<PaymentMethod[] | null> {
    try {
      const data = await this.call<{ PaymentMethods?: PaymentMethod[] | null }>(
        'InitiatePayment',
        { InvoiceAmount: invoiceAmount, CurrencyIso: currencyIso },
        { idempotent: true, what: `list the payment methods for ${currencyIso}` },
      );
      return data.PaymentMethods ?? [];
    } catch (error) {
      if (error instanceof MonetizationError && error.code === 'ENGINE_REJECTED' && error.context.currencyRefused === true) return null;
      throw error;
    }
  }

  /** A request with re-sends: for `idempotent` ones on no answer, 429 and 5xx; otherwise one attempt. */
  async attempt<T>(run: () => Promise<T>, idempotent: boolean): Promise<T> {
    let delay = this.options.retryInitialDelayMs;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await run();
      } catch (error) {
        const retryable = error instanceof MonetizationError && error.code === 'ENGINE_UNAVAILABLE';
        if (!idempotent || !retryable || attempt >= this.options.retries) throw error;
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.options.retryMaxDelayMs);
      }
    }
  }

  private call<T>(endpoint: string, body: unknown, how: { idempotent: boolean; what: string }): Promise<T> {
    return this.attempt(() => this.once<T>(endpoint, body, how.what), how.idempotent);
  }

  private async once<T>(endpoint: string, body: unknown, what: string): Promise<T> {
    const url = `${this.options.baseUrl}/v2/${endpoint}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      throw new MonetizationError('ENGINE_UNAVAILABLE', `MyFatoorah did not answer (could not ${what}): ${(error as Error).message}`, { endpoint }, { cause: error });
    }
    const text = await response.text().catch(() => '');
    let envelope: Envelope<T> = {};
    try {
      envelope = text === '' ? {} : (JSON.parse(text) as Envelope<T>);
    } catch {
      envelope = {};
    }
    if (response.status === 401 || response.status === 403) {
      throw new MonetizationError('ENGINE_AUTHENTICATION_FAILED', `MyFatoorah refused the tenant's API token (HTTP ${response.status}) when trying to ${what}`, { endpoint });
    }
    if (response.status === 429 || response.status >= 500) {
      throw new MonetizationError('ENGINE_UNAVAILABLE', `MyFatoorah answered HTTP ${response.status} when trying to ${what}`, { endpoint, status: response.status });
    }
    if (response.ok && envelope.IsSuccess === true && envelope.Data !== null && envelope.Data !== undefined) return envelope.Data;
    const refusal = new Refused(response.status, envelope);
    const names = (envelope.ValidationErrors ?? []).map((e) => (e.Name ?? '').toLowerCase());
    const keyNotFound = endpoint === 'GetPaymentStatus' && names.includes('key');
    const currencyRefused = endpoint === 'InitiatePayment' && names.includes('currencyiso');
    throw new MonetizationError('ENGINE_REJECTED', `MyFatoorah refused to ${what}: ${refusal.message}`, { endpoint, status: response.status, keyNotFound, currencyRefused });
  }
}
