/**
 * Stripe's currency rules, as https://docs.stripe.com/currencies states them.
 *
 * - Amounts are in the currency's minor unit; zero-decimal currencies are passed
 *   as-is (#zero-decimal).
 * - ISK is a two-decimal currency in the API, but charged amounts "must be evenly
 *   divisible by 100" (#special-cases;
 *   https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds
 *   quotes the answer, 400 `invalid_charge_amount_no_decimal_compatible`).
 * - Three-decimal currencies (BHD, JOD, KWD, OMR, TND) "require the least-significant
 *   (last) digit to be 0" (#three-decimal).
 * - Charges below the minimum charge amount are refused; an invoice below it is
 *   marked paid and its amount moved to the customer's balance
 *   (#minimum-and-maximum-charge-amounts, https://docs.stripe.com/billing/customer/balance).
 * - A currency outside the presentment list (#presentment-currencies) is refused.
 */

/** Stripe's presentment currencies (lower-case ISO 4217), https://docs.stripe.com/currencies#presentment-currencies. */
const PRESENTMENT = new Set(
  (
    'usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn bzd cad cdf chf ' +
    'clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq gyd hkd hnl htg huf idr ils ' +
    'inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk ' +
    'mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp ' +
    'sle sos srd std szl thb tjs tnd top try ttd twd tzs uah ugx uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw'
  ).split(' '),
);

/** https://docs.stripe.com/currencies#zero-decimal */
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);

/** https://docs.stripe.com/currencies#three-decimal */
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/**
 * Minimum charge amounts in minor units, for the settlement currencies the table at
 * https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts lists. A charge in
 * another currency must convert to at least the settlement currency's minimum; this server
 * converts nothing, so currencies outside the table have no minimum here. Every value was checked
 * against that table (all 24 rows; none differed); contract/minimum-charges.test.ts holds the table.
 */
const MINIMUM_CHARGE: Readonly<Record<string, number>> = {
  usd: 50,
  aed: 200,
  aud: 50,
  bgn: 100,
  brl: 50,
  cad: 50,
  chf: 50,
  czk: 1500,
  dkk: 250,
  eur: 50,
  gbp: 30,
  hkd: 400,
  huf: 17500,
  inr: 50,
  jpy: 50,
  mxn: 1000,
  myr: 200,
  nok: 300,
  nzd: 50,
  pln: 200,
  ron: 200,
  sek: 300,
  sgd: 50,
  thb: 1000,
};

export function isSupportedCurrency(currency: string): boolean {
  return PRESENTMENT.has(currency.toLowerCase());
}

/** Digits after the decimal point in the currency's minor unit (JPY 0, USD 2, KWD 3). */
export function currencyExponent(currency: string): number {
  const code = currency.toLowerCase();
  if (ZERO_DECIMAL.has(code)) return 0;
  return THREE_DECIMAL.has(code) ? 3 : 2;
}

/** The smallest amount Stripe charges in this currency (minor units), 1 when the table names none. */
export function minimumChargeAmount(currency: string): number {
  return MINIMUM_CHARGE[currency.toLowerCase()] ?? 1;
}

/** Why a whole minor-unit amount cannot be charged in the currency, with Stripe's error code; null when it can. */
export function chargeAmountProblem(currency: string, amount: number): { code: string; message: string } | null {
  const code = currency.toLowerCase();
  if (code === 'isk' && amount % 100 !== 0) {
    return {
      code: 'invalid_charge_amount_no_decimal_compatible',
      message:
        'Invalid amount. Currency ISK has become effectively zero-decimal and charged amounts must be evenly divisible by 100. See https://stripe.com/docs/currencies#special-cases for more information.',
    };
  }
  if (THREE_DECIMAL.has(code) && amount % 10 !== 0) {
    return {
      code: 'invalid_charge_amount',
      message: `Invalid amount. Amounts in ${code.toUpperCase()} must have 0 as their last digit (round to the nearest ten minor units). See https://stripe.com/docs/currencies#three-decimal for more information.`,
    };
  }
  return null;
}
