import type { MonetizationEngineFactory } from '../../src/monetization/monetization';
import { stripeCapabilities } from './capabilities';
import { stripeMigrations } from './migrations';
import { StripeMonetization } from './stripe.monetization';
import { parseStripeOptions } from './stripe.options';

/** The Stripe billing engine, registered as `monetization_impl = "stripe"`. */
export const stripeEngine: MonetizationEngineFactory = {
  name: 'stripe',
  capabilities: stripeCapabilities,
  migrations: stripeMigrations,
  create(options, dependencies) {
    return new StripeMonetization(parseStripeOptions(options), dependencies);
  },
};

export default stripeEngine;
