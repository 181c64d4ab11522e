import type { PolicyPricing } from '../domain/model';
import type { EngineCapabilities } from '../monetization/capabilities';
import { GatewayError } from './errors';

/**
 * Applies the billing engine's price rules (its `checkPrice` capability) to a policy's pricing,
 * before the policy is stored or the engine called: a price the engine could not charge is a 400
 * naming the request field (`monetization.properties.currencyType`, `.fixedPrice` or
 * `.pricePerRequest`), never a plan that fails later, when a subscriber is charged.
 */
export function checkPolicyPrices(pricing: PolicyPricing | null, capabilities: Pick<EngineCapabilities, 'checkPrice'>): void {
  const check = capabilities.checkPrice;
  if (!pricing || !check) return;
  const prices: Array<{ key: 'fixedPrice' | 'pricePerRequest'; kind: 'fixed' | 'per_unit'; amount: string }> = [];
  if (pricing.fixedPrice !== undefined) prices.push({ key: 'fixedPrice', kind: 'fixed', amount: pricing.fixedPrice });
  if (pricing.plan === 'DYNAMICRATE') prices.push({ key: 'pricePerRequest', kind: 'per_unit', amount: pricing.pricePerRequest });
  for (const price of prices) {
    const problem = check({ currency: pricing.currency, kind: price.kind, amount: price.amount });
    if (!problem) continue;
    const field = problem.on === 'currency' ? 'currencyType' : price.key;
    throw GatewayError.invalid(`monetization.properties.${field}`, problem.message);
  }
}
