import { USAGE_MODELS, type PolicyPricing, type PriceTier, type UsageModel, type UsageRate } from '../../../domain/model';
import { currencyExponent, formatDecimal, InvalidAmountError, parseDecimal, toMinorUnitDecimal, toMinorUnits } from '../../../domain/money';
import { GatewayError } from '../../../apim/errors';
import { tiersToJson } from '../../../apim/policy-prices';

/**
 * The monetization properties of Meterline's pricing models (docs/pricing.md), beside WSO2's
 * fixedPrice / pricePerRequest / currencyType / billingCycle. WSO2's properties are a string map,
 * so every value is a string; tiers are a JSON array in one string.
 */
export const PRICING_MODEL_KEYS = ['setupFee', 'usageModel', 'tiers', 'packageSize', 'packagePrice'] as const;

/** At most this many tiers in a policy. */
export const MAX_TIERS = 100;
const TIERS_TEXT_MAX = 10_000;
/** packageSize is an INTEGER column, like WSO2's quota counts. */
const PACKAGE_SIZE_MAX = 2_147_483_647;

const field = (key: string) => `monetization.properties.${key}`;
const invalid = (key: string, message: string) => GatewayError.invalid(field(key), message);

function checked<T>(key: string, work: () => T, context = ''): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof InvalidAmountError) throw invalid(key, `${context}${error.message}`);
    throw error;
  }
}

function sameDecimal(a: string, b: string): boolean {
  return formatDecimal(parseDecimal(a)) === formatDecimal(parseDecimal(b));
}

/**
 * The usage model of a DYNAMICRATE plan from its properties, or undefined without `usageModel`
 * (per unit at pricePerRequest, as WSO2 defines). `perRequest` reads the (checked) pricePerRequest,
 * required or not. A tiered or package model determines pricePerRequest (the first tier's unit
 * price; a package's price ÷ its size), which WSO2's clients read: when given, it must agree.
 */
export function parseUsageRate(
  value: (key: string) => string,
  currency: string,
  priceWidth: number,
  perRequest: (required: boolean) => string | undefined,
): { rate: UsageRate; pricePerRequest: string } | undefined {
  const model = value('usageModel');
  const refuse = (keys: readonly string[], why: string) => {
    const present = keys.find((key) => value(key) !== '');
    if (present !== undefined) throw invalid(present, why);
  };
  if (model === '') {
    refuse(['tiers', 'packageSize', 'packagePrice'], 'needs usageModel (graduated, volume or package)');
    return undefined;
  }
  if (!(USAGE_MODELS as readonly string[]).includes(model)) throw invalid('usageModel', `must be one of ${USAGE_MODELS.join(', ')}`);
  const usageModel = model as UsageModel;
  const agreeing = (derived: string, what: string): string => {
    const given = perRequest(false);
    if (given !== undefined && !sameDecimal(given, derived)) {
      throw invalid('pricePerRequest', `must be ${derived} (${what}) for a ${usageModel} plan, or be left out`);
    }
    return given ?? derived;
  };
  if (usageModel === 'per_unit') {
    refuse(['tiers', 'packageSize', 'packagePrice'], 'does not apply to usageModel per_unit');
    const unitPrice = perRequest(true)!;
    return { rate: { model: 'per_unit', unitPrice }, pricePerRequest: unitPrice };
  }
  if (usageModel === 'package') {
    refuse(['tiers'], 'does not apply to usageModel package');
    const sizeText = value('packageSize');
    if (!/^\d+$/.test(sizeText) || BigInt(sizeText) < 1n || BigInt(sizeText) > BigInt(PACKAGE_SIZE_MAX)) {
      throw invalid('packageSize', `is required for usageModel package: a whole number of calls from 1 to ${PACKAGE_SIZE_MAX}`);
    }
    const packageSize = Number(sizeText);
    const packagePrice = value('packagePrice');
    if (packagePrice === '') throw invalid('packagePrice', 'is required for usageModel package');
    if (packagePrice.length > priceWidth) throw invalid('packagePrice', `must be at most ${priceWidth} characters`);
    checked('packagePrice', () => toMinorUnits(packagePrice, currency));
    const perCall = pricePerCall(packagePrice, packageSize, currency, priceWidth);
    return { rate: { model: 'package', packageSize, packagePrice }, pricePerRequest: agreeing(perCall, 'packagePrice ÷ packageSize, rounded half up') };
  }
  refuse(['packageSize', 'packagePrice'], `does not apply to usageModel ${usageModel}`);
  const tiers = parseTiers(value('tiers'), currency, priceWidth);
  return { rate: { model: usageModel, tiers }, pricePerRequest: agreeing(tiers[0]!.unitPrice, "the first tier's unitPrice") };
}

/**
 * A package's price per call for WSO2's pricePerRequest: packagePrice ÷ packageSize, rounded half
 * up to the finest that fits (12 decimals of a minor unit, `width` characters). Informational:
 * Meterline rates a package plan by packagePrice per started package, never by this number.
 */
export function pricePerCall(packagePrice: string, packageSize: number, currency: string, width: number): string {
  const price = parseDecimal(packagePrice);
  for (let decimals = currencyExponent(currency) + 12; decimals >= 0; decimals -= 1) {
    const numerator = price.digits * 10n ** BigInt(decimals);
    const denominator = 10n ** BigInt(price.scale) * BigInt(packageSize);
    const rounded = (2n * numerator + denominator) / (2n * denominator);
    const text = formatDecimal({ digits: rounded, scale: decimals });
    if (text.length <= width) return text;
  }
  return formatDecimal({ digits: price.digits / (10n ** BigInt(price.scale) * BigInt(packageSize)), scale: 0 });
}

const TIER_KEYS = ['upTo', 'unitPrice', 'flatPrice'];

/**
 * `tiers`: a JSON array of {upTo, unitPrice, flatPrice}. upTo: a whole number of calls, strictly
 * ascending; the last tier's is null (or "inf"). Prices are decimal strings: unitPrice may be finer
 * than the currency's minor unit (as pricePerRequest), flatPrice is exact in it; either may be left
 * out for "0", not both.
 */
export function parseTiers(text: string, currency: string, priceWidth: number): PriceTier[] {
  const shape = 'must be a JSON array of tiers {"upTo": 1000, "unitPrice": "0.002", "flatPrice": "0"}, the last with "upTo": null';
  if (text === '') throw invalid('tiers', `is required for a tiered usageModel: it ${shape}`);
  if (text.length > TIERS_TEXT_MAX) throw invalid('tiers', `must be at most ${TIERS_TEXT_MAX} characters`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid('tiers', `is not valid JSON: it ${shape}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw invalid('tiers', shape);
  if (parsed.length > MAX_TIERS) throw invalid('tiers', `may hold at most ${MAX_TIERS} tiers`);
  let previous = 0;
  return parsed.map((entry: unknown, index): PriceTier => {
    const at = `tier ${index + 1}: `;
    const last = index === parsed.length - 1;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalid('tiers', `${at}${shape}`);
    const tier = entry as Record<string, unknown>;
    const extra = Object.keys(tier).find((key) => !TIER_KEYS.includes(key));
    if (extra !== undefined) throw invalid('tiers', `${at}"${extra}" is not a tier field (known: ${TIER_KEYS.join(', ')})`);
    const upTo = tier.upTo === undefined || tier.upTo === null || tier.upTo === 'inf' ? null : tier.upTo;
    if (upTo === null) {
      if (!last) throw invalid('tiers', `${at}only the last tier may be unbounded ("upTo": null)`);
    } else {
      if (last) throw invalid('tiers', `${at}the last tier must be unbounded ("upTo": null or "inf"), so every call has a price`);
      if (typeof upTo !== 'number' || !Number.isSafeInteger(upTo) || upTo < 1) {
        throw invalid('tiers', `${at}upTo must be a whole number of calls (at least 1), or null for the last tier`);
      }
      if (upTo <= previous) throw invalid('tiers', `${at}upTo must be greater than the tier before's (${previous})`);
      previous = upTo;
    }
    const amount = (key: 'unitPrice' | 'flatPrice'): string | undefined => {
      const raw = tier[key];
      if (raw === undefined || raw === null) return undefined;
      if (typeof raw !== 'string') throw invalid('tiers', `${at}${key} must be a decimal string such as "0.002" (a JSON number may lose digits)`);
      const price = raw.trim();
      if (price.length === 0 || price.length > priceWidth) throw invalid('tiers', `${at}${key} must be 1 to ${priceWidth} characters`);
      checked('tiers', () => (key === 'unitPrice' ? toMinorUnitDecimal(price, currency) : toMinorUnits(price, currency)), at);
      return price;
    };
    const unitPrice = amount('unitPrice');
    const flatPrice = amount('flatPrice');
    if (unitPrice === undefined && flatPrice === undefined) throw invalid('tiers', `${at}needs a unitPrice, a flatPrice or both`);
    return { upTo, unitPrice: unitPrice ?? '0', flatPrice: flatPrice ?? '0' };
  });
}

/** The pricing-model properties of a policy, as GET returns them (tiers as compact JSON). */
export function pricingModelProperties(pricing: PolicyPricing): Record<string, string> {
  const properties: Record<string, string> = {};
  if (pricing.setupFee !== undefined) properties.setupFee = pricing.setupFee;
  const rate = pricing.plan === 'DYNAMICRATE' ? pricing.usageRate : undefined;
  if (!rate) return properties;
  properties.usageModel = rate.model;
  if (rate.model === 'package') {
    properties.packageSize = String(rate.packageSize);
    properties.packagePrice = rate.packagePrice;
  } else if (rate.model !== 'per_unit') {
    properties.tiers = tiersToJson(rate.tiers);
  }
  return properties;
}
