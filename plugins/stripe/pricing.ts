import Stripe from 'stripe';
import { toMinorUnitDecimal, toMinorUnits, InvalidAmountError } from '../../src/domain/money';
import type { PolicyPricing } from '../../src/domain/model';
import type { PriceProblem, PriceToCheck } from '../../src/monetization/capabilities';
import { MonetizationError } from '../../src/monetization/monetization';

/** Stripe's largest `unit_amount` (eight digits of minor units). */
const MAX_UNIT_AMOUNT = 99_999_999n;

/** The Stripe price parameters of a policy's pricing, without product, meter or metadata. */
export type PriceParams = Pick<
  Stripe.PriceCreateParams,
  'currency' | 'unit_amount' | 'unit_amount_decimal' | 'recurring' | 'nickname' | 'billing_scheme' | 'tiers_mode' | 'tiers' | 'transform_quantity'
>;

/**
 * The Stripe price parameters of a policy's pricing. FIXEDRATE: a licensed recurring price in
 * whole minor units. DYNAMICRATE: a metered price whose amounts are exact decimals of minor units
 * (0.0005 USD → "0.05" cents), never a float and never truncated, charging the plan's usage rate
 * with Stripe's own pricing features:
 * - per_unit (and a plan without `usageRate`): `unit_amount_decimal`, as before;
 * - package: the package price per `transform_quantity: { divide_by: packageSize, round: 'up' }`
 *   ("divide the reported usage by a specific number and round the result up",
 *   https://docs.stripe.com/billing/subscriptions/usage-based/transform-quantities);
 * - graduated / volume: `billing_scheme: 'tiered'` with `tiers_mode` and `tiers[]` (`up_to`, the
 *   last `inf`; `unit_amount_decimal`; `flat_amount_decimal`, which Stripe takes as "a decimal
 *   value representing an integer in the minor units", so a tier's flat fee must be whole minor
 *   units): https://docs.stripe.com/api/prices/create#create_price-tiers,
 *   https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing.
 */
export function priceParams(pricing: PolicyPricing, policyName: string): PriceParams {
  return asPolicyError(policyName, () => {
    const currency = pricing.currency.toLowerCase();
    if (pricing.plan === 'FIXEDRATE') {
      return {
        currency,
        nickname: policyName,
        unit_amount: chargedAmount(pricing.fixedPrice, currency),
        recurring: { interval: pricing.billingCycle, usage_type: 'licensed' },
      };
    }
    const metered = { currency, nickname: policyName, recurring: { interval: pricing.billingCycle, usage_type: 'metered' as const } };
    const rate = pricing.usageRate ?? { model: 'per_unit', unitPrice: pricing.pricePerRequest };
    switch (rate.model) {
      case 'per_unit':
        return { ...metered, unit_amount_decimal: minorDecimal(rate.unitPrice, currency) };
      case 'package':
        if (!Number.isSafeInteger(rate.packageSize) || rate.packageSize < 1) {
          throw new InvalidAmountError(`a package must be a whole number of calls, at least 1 (got ${rate.packageSize})`);
        }
        return {
          ...metered,
          unit_amount_decimal: minorDecimal(rate.packagePrice, currency),
          transform_quantity: { divide_by: rate.packageSize, round: 'up' },
        };
      case 'graduated':
      case 'volume':
        return {
          ...metered,
          billing_scheme: 'tiered',
          tiers_mode: rate.model,
          tiers: rate.tiers.map((tier) => ({
            up_to: tier.upTo ?? 'inf',
            unit_amount_decimal: minorDecimal(tier.unitPrice, currency),
            flat_amount_decimal: Stripe.Decimal.from(toMinorUnits(tier.flatPrice, currency).toString()),
          })),
        };
    }
  });
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

/**
 * The setup fee of a plan that has one (not zero), as a one-off invoice item of a subscription
 * create: `add_invoice_items` are "appended to the next invoice for this subscription", which for
 * a new subscription is its first, so the fee is charged once and never on a renewal
 * (https://docs.stripe.com/api/subscriptions/create#create_subscription-add_invoice_items). Inline
 * `price_data` makes a one-time price on the API's product.
 */
export function setupFeeItem(pricing: PolicyPricing, policyName: string, productId: string): Stripe.SubscriptionCreateParams.AddInvoiceItem | undefined {
  if (pricing.setupFee === undefined) return undefined;
  return asPolicyError(policyName, () => {
    const currency = pricing.currency.toLowerCase();
    const amount = chargedAmount(pricing.setupFee!, currency);
    return amount === 0 ? undefined : { price_data: { currency, product: productId, unit_amount: amount }, quantity: 1 };
  });
}

/** Whether an existing Stripe price already charges what `wanted` describes (a tiered price read with `expand: ['tiers']`). */
export function priceMatches(price: Stripe.Price, wanted: PriceParams, meterId: string | undefined): boolean {
  const usage = wanted.recurring?.usage_type ?? 'licensed';
  if (price.currency !== wanted.currency) return false;
  if (price.recurring?.interval !== wanted.recurring?.interval || price.recurring?.usage_type !== usage) return false;
  if (usage !== 'metered') return price.unit_amount === wanted.unit_amount && price.billing_scheme !== 'tiered' && !price.transform_quantity;
  if (price.recurring?.meter !== meterId) return false;
  if ((price.billing_scheme === 'tiered') !== (wanted.billing_scheme === 'tiered')) return false;
  const transform = price.transform_quantity;
  const wantedTransform = wanted.transform_quantity;
  if (transform?.divide_by !== wantedTransform?.divide_by || transform?.round !== wantedTransform?.round) return false;
  if (wanted.billing_scheme !== 'tiered') return decimalText(price.unit_amount_decimal) === decimalText(wanted.unit_amount_decimal);
  const tiers = price.tiers ?? [];
  const wantedTiers = wanted.tiers ?? [];
  return (
    price.tiers_mode === wanted.tiers_mode &&
    tiers.length === wantedTiers.length &&
    wantedTiers.every((w, i) => {
      const t = tiers[i]!;
      return (
        (t.up_to ?? 'inf') === w.up_to &&
        decimalText(t.unit_amount_decimal ?? t.unit_amount ?? 0) === decimalText(w.unit_amount_decimal ?? 0) &&
        decimalText(t.flat_amount_decimal ?? t.flat_amount ?? 0) === decimalText(w.flat_amount_decimal ?? 0)
      );
    })
  );
}

function decimalText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  return Stripe.Decimal.from(String(value)).toString();
}

function minorDecimal(amount: string, currency: string): Stripe.Decimal {
  return Stripe.Decimal.from(toMinorUnitDecimal(amount, currency));
}

/** An amount charged as it is (a fixed price, a fee): whole minor units within Stripe's `unit_amount`. */
function chargedAmount(amount: string, currency: string): number {
  const minor = toMinorUnits(amount, currency);
  if (minor > MAX_UNIT_AMOUNT) {
    throw new InvalidAmountError(`${amount} ${currency.toUpperCase()} is above Stripe's largest price (${MAX_UNIT_AMOUNT} minor units)`);
  }
  return Number(minor);
}

function asPolicyError<T>(policyName: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof InvalidAmountError) {
      throw new MonetizationError('INVALID_POLICY_PRICING', `policy "${policyName}": ${error.message}`, { policy: policyName });
    }
    throw error;
  }
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
