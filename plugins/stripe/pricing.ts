import Stripe from 'stripe';
import { toMinorUnitDecimal, toMinorUnits, InvalidAmountError } from '../../src/domain/money';
import type { PolicyPricing } from '../../src/domain/model';
import type { PriceProblem, PriceToCheck } from '../../src/monetization/capabilities';
import { MonetizationError } from '../../src/monetization/monetization';

/** Stripe's largest `unit_amount` (eight digits of minor units). */
const MAX_UNIT_AMOUNT = 99_999_999n;

/**
 * The Stripe price parameters of a policy's pricing, without product or meter. FIXEDRATE: a
 * licensed recurring price in whole minor units; DYNAMICRATE: a metered per-request price as an
 * exact decimal of minor units (0.0005 USD → "0.05" cents), never a float and never truncated.
 */
export function priceParams(
  pricing: PolicyPricing,
  policyName: string,
): Pick<Stripe.PriceCreateParams, 'currency' | 'unit_amount' | 'unit_amount_decimal' | 'recurring' | 'nickname'> {
  try {
    const currency = pricing.currency.toLowerCase();
    if (pricing.plan === 'FIXEDRATE') {
      const minor = toMinorUnits(pricing.fixedPrice, currency);
      if (minor > MAX_UNIT_AMOUNT) {
        throw new InvalidAmountError(`${pricing.fixedPrice} ${currency.toUpperCase()} is above Stripe's largest price (${MAX_UNIT_AMOUNT} minor units)`);
      }
      return {
        currency,
        nickname: policyName,
        unit_amount: Number(minor),
        recurring: { interval: pricing.billingCycle, usage_type: 'licensed' },
      };
    }
    return {
      currency,
      nickname: policyName,
      unit_amount_decimal: Stripe.Decimal.from(toMinorUnitDecimal(pricing.pricePerRequest, currency)),
      recurring: { interval: pricing.billingCycle, usage_type: 'metered' },
    };
  } catch (error) {
    if (error instanceof InvalidAmountError) {
      throw new MonetizationError('INVALID_POLICY_PRICING', `policy "${policyName}": ${error.message}`, { policy: policyName });
    }
    throw error;
  }
}

/**
 * The base fee of a DYNAMICRATE plan that has one, as inline price data for a subscription item
 * on the API's product: charged each cycle in advance beside the metered usage. Undefined when
 * the plan has no base fee.
 */
export function baseFeeItem(pricing: PolicyPricing, policyName: string, productId: string): Stripe.SubscriptionCreateParams.Item | undefined {
  if (pricing.plan !== 'DYNAMICRATE' || pricing.fixedPrice === undefined) return undefined;
  const base = priceParams({ plan: 'FIXEDRATE', currency: pricing.currency, billingCycle: pricing.billingCycle, fixedPrice: pricing.fixedPrice }, policyName);
  return {
    price_data: {
      currency: base.currency,
      product: productId,
      unit_amount: base.unit_amount!,
      recurring: { interval: pricing.billingCycle },
    },
    quantity: 1,
  };
}

/** Whether an existing Stripe price already charges what `wanted` describes. */
export function priceMatches(
  price: Stripe.Price,
  wanted: ReturnType<typeof priceParams>,
  meterId: string | undefined,
): boolean {
  const usage = wanted.recurring?.usage_type ?? 'licensed';
  if (price.currency !== wanted.currency) return false;
  if (price.recurring?.interval !== wanted.recurring?.interval || price.recurring?.usage_type !== usage) return false;
  if (usage === 'metered') {
    return price.recurring?.meter === meterId && decimalText(price.unit_amount_decimal) === decimalText(wanted.unit_amount_decimal);
  }
  return price.unit_amount === wanted.unit_amount;
}

function decimalText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  return Stripe.Decimal.from(String(value)).toString();
}

/** Stripe's presentment currencies: https://docs.stripe.com/currencies#presentment-currencies */
const STRIPE_CURRENCIES = new Set(
  (
    'usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn bzd cad cdf chf ' +
    'clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq gyd hkd hnl htg huf idr ils ' +
    'inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk ' +
    'mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp ' +
    'sle sos srd std szl thb tjs tnd top try ttd twd tzs uah ugx uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw'
  ).split(' '),
);

/** Three-decimal currencies, whose charged amounts must end in 0: https://docs.stripe.com/currencies#three-decimal */
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/**
 * Stripe's rules on a policy's price (the engine's `checkPrice` capability), so a price Stripe
 * would refuse, or could not charge, is refused when the policy is saved:
 * - a currency outside Stripe's presentment list;
 * - an ISK amount with øre: ISK stays two-decimal in the API but "charged amounts must be evenly
 *   divisible by 100" (https://docs.stripe.com/currencies#special-cases);
 * - a three-decimal amount whose last minor digit is not 0 (5.125 KWD; 5.12 is fine):
 *   "these API calls require the least-significant (last) digit to be 0"
 *   (https://docs.stripe.com/currencies#three-decimal).
 * Fixed prices are charged as they are and are checked; per-unit rates are multiplied by usage and
 * rounded on the line, so only their currency is.
 */
export function stripePriceProblem(price: PriceToCheck): PriceProblem | null {
  const currency = price.currency.toLowerCase();
  if (!STRIPE_CURRENCIES.has(currency)) {
    return { on: 'currency', message: `${currency.toUpperCase()} is not a currency Stripe charges in (https://docs.stripe.com/currencies)` };
  }
  if (price.kind !== 'fixed') return null;
  let minor: bigint;
  try {
    minor = toMinorUnits(price.amount, currency);
  } catch (error) {
    if (error instanceof InvalidAmountError) return { on: 'amount', message: error.message };
    throw error;
  }
  if (currency === 'isk' && minor % 100n !== 0n) {
    return { on: 'amount', message: `${price.amount} ISK cannot be charged: Stripe charges ISK in whole krónur only` };
  }
  if (THREE_DECIMAL.has(currency) && minor % 10n !== 0n) {
    return { on: 'amount', message: `${price.amount} ${currency.toUpperCase()} cannot be charged: Stripe needs ${currency.toUpperCase()} amounts with at most two decimals (the third must be 0)` };
  }
  return null;
}
