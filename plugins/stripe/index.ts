import type { MonetizationEngineFactory } from '../../src/monetization/monetization';
import { stripeCapabilities } from './capabilities';
import { stripeMigrations } from './migrations';
import { StripeMonetization } from './stripe.monetization';
import { parseStripeOptions } from './stripe.options';

/**
 * WSO2's Stripe plugin class (wso2-am-stripe-plugin 1.x, `[apim.monetization] monetization_impl`
 * in WSO2's "Monetizing an API" guide): a WSO2 `deployment.toml` naming it selects this engine.
 */
export const WSO2_STRIPE_PLUGIN_CLASS = 'org.wso2.apim.monetization.impl.StripeMonetizationImpl';

/** The Stripe billing engine, registered as `monetization_impl = "stripe"` (or WSO2's class name). */
export const stripeEngine: MonetizationEngineFactory = {
  name: 'stripe',
  aliases: [WSO2_STRIPE_PLUGIN_CLASS],
  capabilities: stripeCapabilities,
  migrations: stripeMigrations,
  create(options, dependencies) {
    return new StripeMonetization(parseStripeOptions(options), dependencies);
  },
};

export default stripeEngine;
