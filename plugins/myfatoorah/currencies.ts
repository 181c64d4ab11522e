import type { PriceProblem, PriceToCheck } from '../../src/monetization/capabilities';
import { currencyExponent, parseDecimal } from '../../src/domain/money';

/**
 * The currencies MyFatoorah invoices in: its ISO lookups list one per country it serves (Kuwait
 * KWD, Saudi Arabia SAR, Bahrain BHD, UAE AED, Qatar QAR, Oman OMR, Jordan JOD, Egypt EGP):
 * https://docs.myfatoorah.com/docs/iso-lookups. `DisplayCurrencyIso` of SendPayment takes these
 * (https://docs.myfatoorah.com/docs/send-payment); MyFatoorah documents no other invoice currency
 * (USD or EUR appear only as what a card may be charged in after conversion), so a plan in any
 * other currency is refused rather than left to fail at the first invoice.
 */
export const MYFATOORAH_CURRENCIES: ReadonlySet<string> = new Set(['kwd', 'sar', 'bhd', 'aed', 'qar', 'omr', 'jod', 'egp']);

/**
 * Whether MyFatoorah can charge a policy's price: its currency one of MYFATOORAH_CURRENCIES, and a
 * fixed amount (base fee, setup fee) exact in the currency's decimals (KWD 3, SAR 2: MyFatoorah's
 * InvoiceValue "accepts decimal values e.g. 2.500"). A per-unit rate may be finer ("0.0005" KWD a
 * call): Meterline rates usage and rounds each invoice line once, so only line amounts reach MyFatoorah.
 */
export function myFatoorahPriceProblem(price: PriceToCheck): PriceProblem | null {
  const currency = price.currency.toLowerCase();
  if (!MYFATOORAH_CURRENCIES.has(currency)) {
    return {
      on: 'currency',
      message: `MyFatoorah cannot invoice in ${price.currency.toUpperCase()}: it invoices in ${[...MYFATOORAH_CURRENCIES].map((c) => c.toUpperCase()).join(', ')}`,
    };
  }
  if (price.kind === 'fixed') {
    const exponent = currencyExponent(currency);
    let scale: number;
    try {
      const { digits, scale: s } = parseDecimal(price.amount);
      scale = s;
      // Trailing zeros do not count: "10.500" SAR is exact.
      for (let d = digits; scale > 0 && d % 10n === 0n; d /= 10n) scale -= 1;
    } catch {
      return { on: 'amount', message: `"${price.amount}" is not an amount` };
    }
    if (scale > exponent) {
      return { on: 'amount', message: `${price.amount} ${currency.toUpperCase()} is not exact in ${currency.toUpperCase()}'s ${exponent} decimals, so MyFatoorah cannot charge it` };
    }
  }
  return null;
}
