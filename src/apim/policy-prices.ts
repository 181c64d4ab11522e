import type { PolicyPricing, PriceTier } from '../domain/model';
import type { EngineCapabilities } from '../monetization/capabilities';
import { GatewayError } from './errors';

/** The monetization property each checked price came from. */
type PriceKey = 'fixedPrice' | 'pricePerRequest' | 'setupFee' | 'tiers' | 'packagePrice';

/**
 * Applies the billing engine's price rules (its `checkPrice` capability) to every amount of a
 * policy's pricing, before the policy is stored or the engine called: a price the engine could
 * not charge is a 400 naming the request field (`monetization.properties.currencyType`,
 * `.fixedPrice`, `.pricePerRequest`, `.setupFee`, `.tiers` or `.packagePrice`), never a plan that
 * fails later, when a subscriber is charged.
 */
export function checkPolicyPrices(pricing: PolicyPricing | null, capabilities: Pick<EngineCapabilities, 'checkPrice'>): void {
  const check = capabilities.checkPrice;
  if (!pricing || !check) return;
  const prices: Array<{ key: PriceKey; kind: 'fixed' | 'per_unit'; amount: string; what?: string }> = [];
  if (pricing.fixedPrice !== undefined) prices.push({ key: 'fixedPrice', kind: 'fixed', amount: pricing.fixedPrice });
  if (pricing.setupFee !== undefined) prices.push({ key: 'setupFee', kind: 'fixed', amount: pricing.setupFee });
  if (pricing.plan === 'DYNAMICRATE') {
    prices.push({ key: 'pricePerRequest', kind: 'per_unit', amount: pricing.pricePerRequest });
    const rate = pricing.usageRate;
    if (rate?.model === 'package') prices.push({ key: 'packagePrice', kind: 'fixed', amount: rate.packagePrice });
    if (rate?.model === 'graduated' || rate?.model === 'volume') {
      rate.tiers.forEach((tier, index) => {
        prices.push({ key: 'tiers', kind: 'per_unit', amount: tier.unitPrice, what: `tier ${index + 1}: unitPrice: ` });
        prices.push({ key: 'tiers', kind: 'fixed', amount: tier.flatPrice, what: `tier ${index + 1}: flatPrice: ` });
      });
    }
  }
  for (const price of prices) {
    const problem = check({ currency: pricing.currency, kind: price.kind, amount: price.amount });
    if (!problem) continue;
    const field = problem.on === 'currency' ? 'currencyType' : price.key;
    throw GatewayError.invalid(`monetization.properties.${field}`, `${problem.on === 'currency' ? '' : price.what ?? ''}${problem.message}`);
  }
}

/** Tiers as the `tiers` property and ML_POLICY_PRICING.TIERS hold them: compact JSON, every field present. */
export function tiersToJson(tiers: readonly PriceTier[]): string {
  return JSON.stringify(tiers.map(({ upTo, unitPrice, flatPrice }) => ({ upTo, unitPrice, flatPrice })));
}

/** Tiers back from `tiersToJson` (Meterline's own column, written only after validation). */
export function tiersFromJson(text: string): PriceTier[] {
  const parsed = JSON.parse(text) as Array<{ upTo: number | null; unitPrice: string; flatPrice: string }>;
  return parsed.map(({ upTo, unitPrice, flatPrice }) => ({ upTo, unitPrice, flatPrice }));
}
