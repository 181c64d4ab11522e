import type { Account } from './accounts';
import type { Clock } from './clock';
import type { Invoice, InvoiceItem, InvoiceStore } from './invoices';
import { CURRENCY_DECIMALS } from './accounts';
import { formatAmount, toMajorNumber, toMinor } from './money';

/**
 * MyFatoorah API v2 endpoints a payment-link integration needs. Every answer has MyFatoorah's
 * envelope `{ IsSuccess, Message, ValidationErrors, Data }` (https://docs.myfatoorah.com/docs/send-payment,
 * https://docs.myfatoorah.com/docs/get-payment-status); a refused request is HTTP 400 with
 * IsSuccess false and ValidationErrors `[{ Name, Error }]` naming the fields. The Error texts are
 * this server's: MyFatoorah documents the shape, not the wording.
 */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

export interface ApiContext {
  account: Account;
  invoices: InvoiceStore;
  clock: Clock;
  /** Where the invoice pages are served (this server's URL). */
  baseUrl: string;
}

type Json = Record<string, unknown>;
interface FieldError {
  Name: string;
  Error: string;
}

export function ok(message: string, data: unknown): ApiAnswer {
  return { status: 200, body: { IsSuccess: true, Message: message, ValidationErrors: null, Data: data } };
}

export function invalid(errors: FieldError[], message = 'Invalid data'): ApiAnswer {
  return { status: 400, body: { IsSuccess: false, Message: message, ValidationErrors: errors, Data: null } };
}

function optionalText(body: Json, name: string, errors: FieldError[]): string | null {
  const value = body[name];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    errors.push({ Name: name, Error: `${name} must be a string` });
    return null;
  }
  return value;
}

const NOTIFICATION_OPTIONS = ['LNK', 'EML', 'SMS', 'ALL'];
/** Invoices live this long when SendPayment gives no ExpiryDate (ours; a V2 sample shows 180 days between CreationDate and ExpirationDate). */
export const DEFAULT_EXPIRY_DAYS = 180;

/**
 * POST /v2/SendPayment (https://docs.myfatoorah.com/docs/send-payment): required InvoiceValue,
 * CustomerName, NotificationOption (LNK / EML / SMS / ALL; EML and ALL need CustomerEmail, SMS and
 * ALL CustomerMobile). InvoiceItems, when given, must add up (Quantity × UnitPrice) to InvoiceValue.
 * DisplayCurrencyIso defaults to the account's currency (send-payment) and must be one the account
 * can invoice. There is no idempotency: the same request twice makes two invoices.
 */
export function sendPayment(body: Json, ctx: ApiContext): ApiAnswer {
  const errors: FieldError[] = [];
  const currency = (optionalText(body, 'DisplayCurrencyIso', errors) ?? ctx.account.currencies[0] ?? 'KWD').toUpperCase();
  if (!ctx.account.currencies.includes(currency)) {
    errors.push({ Name: 'DisplayCurrencyIso', Error: `The currency ${currency} is not enabled on this account (${ctx.account.currencies.join(', ')})` });
  }
  const decimals = CURRENCY_DECIMALS[currency] ?? 3;

  let value: bigint | null = null;
  if (body.InvoiceValue === undefined || body.InvoiceValue === null) errors.push({ Name: 'InvoiceValue', Error: 'InvoiceValue is required' });
  else {
    value = toMinor(body.InvoiceValue, decimals);
    if (value === null) errors.push({ Name: 'InvoiceValue', Error: `InvoiceValue must be a number with at most ${decimals} decimals` });
    else if (value <= 0n) errors.push({ Name: 'InvoiceValue', Error: 'InvoiceValue must be greater than zero' });
  }

  const customerName = optionalText(body, 'CustomerName', errors);
  if (!customerName || customerName.trim() === '') errors.push({ Name: 'CustomerName', Error: 'CustomerName is required' });

  const option = optionalText(body, 'NotificationOption', errors)?.toUpperCase() ?? null;
  if (!option) errors.push({ Name: 'NotificationOption', Error: 'NotificationOption is required' });
  else if (!NOTIFICATION_OPTIONS.includes(option)) errors.push({ Name: 'NotificationOption', Error: 'NotificationOption must be LNK, EML, SMS or ALL' });

  const email = optionalText(body, 'CustomerEmail', errors);
  const mobile = optionalText(body, 'CustomerMobile', errors);
  if ((option === 'EML' || option === 'ALL') && !email) errors.push({ Name: 'CustomerEmail', Error: 'CustomerEmail is required when NotificationOption is EML or ALL' });
  if (email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) errors.push({ Name: 'CustomerEmail', Error: 'CustomerEmail is not a valid e-mail address' });
  if ((option === 'SMS' || option === 'ALL') && !mobile) errors.push({ Name: 'CustomerMobile', Error: 'CustomerMobile is required when NotificationOption is SMS or ALL' });
  // send-payment: "Its length is between 0 and 11", digits only.
  if (mobile && !/^\d{0,11}$/.test(mobile)) errors.push({ Name: 'CustomerMobile', Error: 'CustomerMobile must be at most 11 digits' });

  const now = ctx.clock.now();
  let expiresAt = new Date(now.getTime() + DEFAULT_EXPIRY_DAYS * 86_400_000);
  const expiry = optionalText(body, 'ExpiryDate', errors);
  if (expiry !== null) {
    // An ExpiryDate without an offset is read as UTC here (MyFatoorah reads it in the account's time zone).
    const parsed = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(expiry) ? expiry : `${expiry}Z`);
    if (Number.isNaN(parsed.getTime())) errors.push({ Name: 'ExpiryDate', Error: 'ExpiryDate is not a valid date' });
    else if (parsed.getTime() <= now.getTime()) errors.push({ Name: 'ExpiryDate', Error: 'ExpiryDate must be in the future' });
    else expiresAt = parsed;
  }

  const items: InvoiceItem[] = [];
  if (body.InvoiceItems !== undefined && body.InvoiceItems !== null) {
    if (!Array.isArray(body.InvoiceItems)) errors.push({ Name: 'InvoiceItems', Error: 'InvoiceItems must be an array' });
    else {
      body.InvoiceItems.forEach((raw: unknown, i: number) => {
        const item = (typeof raw === 'object' && raw !== null ? raw : {}) as Json;
        const name = `InvoiceItems[${i}]`;
        if (typeof item.ItemName !== 'string' || item.ItemName.trim() === '') errors.push({ Name: `${name}.ItemName`, Error: 'ItemName is required' });
        const quantity = item.Quantity;
        if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity <= 0) errors.push({ Name: `${name}.Quantity`, Error: 'Quantity must be a whole number greater than zero' });
        const unitPrice = toMinor(item.UnitPrice, decimals);
        if (unitPrice === null || unitPrice < 0n) errors.push({ Name: `${name}.UnitPrice`, Error: `UnitPrice must be a non-negative number with at most ${decimals} decimals` });
        if (typeof item.ItemName === 'string' && typeof quantity === 'number' && unitPrice !== null) {
          items.push({ ItemName: item.ItemName, Quantity: quantity, unitPrice });
        }
      });
      if (errors.length === 0 && value !== null) {
        const total = items.reduce((sum, item) => sum + BigInt(item.Quantity) * item.unitPrice, 0n);
        if (total !== value) {
          errors.push({ Name: 'InvoiceValue', Error: `InvoiceValue must equal the total of InvoiceItems (${toMajorNumber(total, decimals)})` });
        }
      }
    }
  }

  const customerReference = optionalText(body, 'CustomerReference', errors);
  const userDefinedField = optionalText(body, 'UserDefinedField', errors);
  const callBackUrl = optionalText(body, 'CallBackUrl', errors);
  const errorUrl = optionalText(body, 'ErrorUrl', errors);
  for (const [name, url] of [['CallBackUrl', callBackUrl], ['ErrorUrl', errorUrl]] as const) {
    if (url !== null && !/^https?:\/\/\S+$/.test(url)) errors.push({ Name: name, Error: `${name} must be an absolute http(s) URL` });
  }
  const language = (optionalText(body, 'Language', errors) ?? 'en').toLowerCase();
  if (language !== 'en' && language !== 'ar') errors.push({ Name: 'Language', Error: 'Language must be en or ar' });

  if (errors.length > 0 || value === null || !customerName || !option) return invalid(errors);

  const invoice = ctx.invoices.create({
    account: ctx.account,
    expiresAt,
    value,
    currency,
    customerName,
    customerEmail: email,
    customerMobile: mobile,
    customerReference,
    userDefinedField,
    callBackUrl,
    errorUrl,
    language,
    notificationOption: option,
    items,
  });
  return ok('Invoice Created Successfully!', {
    InvoiceId: invoice.id,
    InvoiceURL: invoiceUrl(ctx.baseUrl, invoice),
    CustomerReference: invoice.customerReference,
    UserDefinedField: invoice.userDefinedField,
  });
}

/** The pay link: MyFatoorah's invoice URLs look like `https://demo.MyFatoorah.com/KWT/ie/01072438217031`. */
export function invoiceUrl(baseUrl: string, invoice: Invoice): string {
  return `${baseUrl}/${invoice.account.country}/ie/${invoice.key}`;
}

/**
 * POST /v2/GetPaymentStatus (https://docs.myfatoorah.com/docs/get-payment-status): Key and KeyType
 * InvoiceId / PaymentId / CustomerReference (any case: the payment-inquiry example sends "invoiceid").
 */
export function getPaymentStatus(body: Json, ctx: ApiContext): ApiAnswer {
  const errors: FieldError[] = [];
  const key = body.Key;
  const keyType = typeof body.KeyType === 'string' ? body.KeyType.toLowerCase() : null;
  if ((typeof key !== 'string' && typeof key !== 'number') || String(key).trim() === '') errors.push({ Name: 'Key', Error: 'Key is required' });
  if (keyType !== 'invoiceid' && keyType !== 'paymentid' && keyType !== 'customerreference') {
    errors.push({ Name: 'KeyType', Error: 'KeyType must be InvoiceId, PaymentId or CustomerReference' });
  }
  if (errors.length > 0) return invalid(errors);
  const invoice = ctx.invoices.find(ctx.account, keyType as 'invoiceid' | 'paymentid' | 'customerreference', String(key));
  if (!invoice) return invalid([{ Name: 'Key', Error: `No invoice found for ${String(body.KeyType)} ${String(key)}` }], 'No data match the given key');
  return ok('', paymentStatusData(invoice, ctx.invoices));
}

export function paymentStatusData(invoice: Invoice, invoices: InvoiceStore): Record<string, unknown> {
  const value = toMajorNumber(invoice.value, invoice.decimals);
  return {
    InvoiceId: invoice.id,
    InvoiceStatus: invoices.status(invoice),
    InvoiceReference: invoice.reference,
    CustomerReference: invoice.customerReference,
    CreatedDate: invoice.createdAt.toISOString(),
    ExpiryDate: invoice.expiresAt.toISOString(),
    InvoiceValue: value,
    Comments: null,
    CustomerName: invoice.customerName,
    CustomerMobile: invoice.customerMobile,
    CustomerEmail: invoice.customerEmail,
    UserDefinedField: invoice.userDefinedField,
    InvoiceDisplayValue: formatAmount(invoice.value, invoice.decimals, invoice.currency),
    InvoiceItems: invoice.items.map((item) => ({ ItemName: item.ItemName, Quantity: item.Quantity, UnitPrice: toMajorNumber(item.unitPrice, invoice.decimals) })),
    InvoiceTransactions: invoice.transactions.map((t) => ({
      TransactionDate: t.at.toISOString(),
      PaymentGateway: t.gateway,
      ReferenceId: t.referenceId,
      TrackId: t.trackId,
      TransactionId: t.transactionId,
      PaymentId: t.paymentId,
      AuthorizationId: t.authorizationId,
      TransactionStatus: t.status,
      // "TransationValue" (sic) is the field's name in MyFatoorah's v2 answers.
      TransationValue: String(value),
      CustomerServiceCharge: '0',
      DueValue: String(value),
      PaidCurrency: invoice.currency,
      PaidCurrencyValue: String(value),
      Currency: invoice.currency,
      Error: t.error,
      ErrorCode: t.errorCode,
    })),
    Suppliers: [],
  };
}

/**
 * POST /v2/InitiatePayment (https://docs.myfatoorah.com/docs/initiate-payment): "all available and
 * enabled Payment Methods of your portal account" for an InvoiceAmount in a CurrencyIso. Here always
 * KNET and VISA/MASTER, without service charge. A CurrencyIso the account cannot invoice has no
 * enabled method: refused with a ValidationErrors entry naming CurrencyIso (the shape is
 * MyFatoorah's envelope, the wording ours; MyFatoorah documents no text for it). Meterline's engine
 * asks this to learn whether an account can invoice a plan's currency.
 */
export function initiatePayment(body: Json, ctx: ApiContext): ApiAnswer {
  const currency = typeof body.CurrencyIso === 'string' ? body.CurrencyIso.toUpperCase() : (ctx.account.currencies[0] ?? 'KWD');
  if (!ctx.account.currencies.includes(currency)) return invalid([{ Name: 'CurrencyIso', Error: `The currency ${currency} is not enabled on this account` }]);
  const decimals = CURRENCY_DECIMALS[currency] ?? 3;
  const amount = toMinor(body.InvoiceAmount, decimals);
  if (amount === null || amount <= 0n) return invalid([{ Name: 'InvoiceAmount', Error: `InvoiceAmount must be a positive number with at most ${decimals} decimals` }]);
  const method = (id: number, code: string, en: string, ar: string) => ({
    PaymentMethodId: id,
    PaymentMethodAr: ar,
    PaymentMethodEn: en,
    PaymentMethodCode: code,
    IsDirectPayment: false,
    ServiceCharge: 0,
    TotalAmount: toMajorNumber(amount, decimals),
    CurrencyIso: currency,
    ImageUrl: '',
    IsEmbeddedSupported: false,
    PaymentCurrencyIso: currency,
  });
  return ok('Initiated Successfully!', { PaymentMethods: [method(1, 'kn', 'KNET', 'كي نت'), method(2, 'vm', 'VISA/MASTER', 'فيزا / ماستر')] });
}
