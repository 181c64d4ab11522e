import Stripe from 'stripe';
import { toMinorUnitDecimal, toMinorUnits, InvalidAmountError } from '../../src/domain/money';
import type { PolicyPricing } from '../../src/domain/model';
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
