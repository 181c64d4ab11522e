import type { MonetizationEngineFactory } from '../../src/monetization/monetization';
import { httpIntegrationCapabilities } from './capabilities';
import { HttpIntegrationMonetization } from './http-integration.monetization';
import { parseHttpIntegrationOptions } from './http-integration.options';
import { httpIntegrationMigrations } from './migrations';

/** The HTTP integration engine, registered as `monetization_impl = "http-integration"` (docs/custom-billing.md). */
export const httpIntegrationEngine: MonetizationEngineFactory = {
  name: 'http-integration',
  capabilities: httpIntegrationCapabilities,
  migrations: httpIntegrationMigrations,
  create(options, dependencies) {
    return new HttpIntegrationMonetization(parseHttpIntegrationOptions(options), dependencies);
  },
};

export default httpIntegrationEngine;
