import { currencyExponent, formatDecimal, parseDecimal } from '../../src/domain/money';
import { MonetizationError, type InvoiceToSubmit } from '../../src/monetization/monetization';
import type { SendPaymentRequest } from './client';

/**
 * Meterline's invoice as a SendPayment request (https://docs.myfatoorah.com/docs/send-payment):
 * - NotificationOption LNK: MyFatoorah only answers the pay link, which Meterline shows on its
 *   invoice pages and listings. EML would have MyFatoorah e-mail every invoice from the vendor's
 *   account besides, with no way to take it back when a submission is retried, and would fail for
 *   a subscriber without an e-mail address; CustomerEmail is still sent when known, so MyFatoorah's
 *   invoice page shows it.
 * - InvoiceItems: MyFatoorah checks that Quantity × UnitPrice adds up to InvoiceValue, and a
 *   UnitPrice has the currency's decimals at most. A line whose unit price is exact there and
 *   whose quantity × unit price is its amount is sent as it is ("2,982 calls × 0.002 KWD"); any
 *   other line (a rate finer than the currency, a tiered or package amount) as quantity 1 at the
 *   line's amount, so the sum is the invoice's total exactly. Lines of zero are left out
 *   (MyFatoorah wants Quantity above zero, and they change no sum).
 * - CustomerReference is Meterline's invoice id (the submission's idempotency key: looked up before
 *   sending), UserDefinedField the Meterline subscription, ExpiryDate when the pay link stops working.
 */
export function sendPaymentRequest(invoice: InvoiceToSubmit): SendPaymentRequest {
  const currency = invoice.currency.toLowerCase();
  const exponent = currencyExponent(currency);
  if (invoice.total <= 0n) {
    throw new MonetizationError('ENGINE_REJECTED', `invoice ${invoice.invoiceId} is for ${majorText(invoice.total, exponent)} ${currency.toUpperCase()}: MyFatoorah cannot issue an invoice that is not above zero`);
  }
  const sum = invoice.lines.reduce((total, line) => total + line.amount, 0n);
  if (sum !== invoice.total) {
    throw new MonetizationError('ENGINE_REJECTED', `invoice ${invoice.invoiceId}: its lines add up to ${sum}, not its total ${invoice.total} (minor units)`);
  }
  const items = invoice.lines
    .filter((line) => line.amount !== 0n)
    .map((line) => {
      if (line.amount < 0n) throw new MonetizationError('ENGINE_REJECTED', `invoice ${invoice.invoiceId}: MyFatoorah takes no negative line ("${line.description}")`);
      const unit = exactUnitPrice(line.unitAmountDecimal, exponent);
      const asIs = unit !== null && line.quantity > 0n && line.quantity * unit === line.amount && line.quantity <= BigInt(Number.MAX_SAFE_INTEGER);
      return asIs
        ? { ItemName: itemName(line.description), Quantity: Number(line.quantity), UnitPrice: majorNumber(unit, exponent) }
        : { ItemName: itemName(line.description), Quantity: 1, UnitPrice: majorNumber(line.amount, exponent) };
    });
  return {
    InvoiceValue: majorNumber(invoice.total, exponent),
    CustomerName: invoice.customer.name.trim() === '' ? invoice.subscription.subscriber.userId : invoice.customer.name,
    NotificationOption: 'LNK',
    DisplayCurrencyIso: currency.toUpperCase(),
    ...(invoice.customer.email ? { CustomerEmail: invoice.customer.email } : {}),
    CustomerReference: invoice.invoiceId,
    UserDefinedField: invoice.subscription.uuid,
    ExpiryDate: invoice.expiresAt.toISOString(),
    Language: 'en',
    InvoiceItems: items,
  };
}

/** A major-unit unit price ("0.002") in minor units when it is exact in the currency's decimals; else null. */
function exactUnitPrice(unitAmountDecimal: string | null, exponent: number): bigint | null {
  if (unitAmountDecimal === null) return null;
  try {
    const { digits, scale } = parseDecimal(unitAmountDecimal);
    if (scale <= exponent) return digits * 10n ** BigInt(exponent - scale);
    const divisor = 10n ** BigInt(scale - exponent);
    return digits % divisor === 0n ? digits / divisor : null;
  } catch {
    return null;
  }
}

function majorText(minor: bigint, exponent: number): string {
  const negative = minor < 0n;
  return `${negative ? '-' : ''}${formatDecimal({ digits: negative ? -minor : minor, scale: exponent })}`;
}

/**
 * Minor units as the JSON number MyFatoorah reads ("accepts decimal values e.g. 2.500"). JSON
 * writes a number with the shortest digits that read back as it, so an amount of up to 15
 * significant digits goes out exactly as its decimal text; a larger one is refused, not rounded.
 */
function majorNumber(minor: bigint, exponent: number): number {
  const text = majorText(minor, exponent);
  if (text.replace(/[^0-9]/g, '').replace(/^0+/, '').length > 15) {
    throw new MonetizationError('ENGINE_REJECTED', `${text} has too many digits to send to MyFatoorah exactly`);
  }
  return Number(text);
}

/** MyFatoorah shows item names on its invoice page; a very long description is cut, not refused. */
function itemName(description: string): string {
  return description.length <= 200 ? description : `${description.slice(0, 199)}…`;
}
