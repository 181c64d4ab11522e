import { EngineOptionsError, type MonetizationEngineFactory } from '../../src/monetization/monetization';
import { httpIntegrationCapabilities } from './capabilities';
import { HttpIntegrationMonetization } from './http-integration.monetization';
import { parseHttpIntegrationOptions, tenantAccountKindProblems } from './http-integration.options';
import { httpIntegrationMigrations } from './migrations';

/** The HTTP integration engine, registered as `monetization_impl = "http-integration"` (docs/custom-billing.md). */
export const httpIntegrationEngine: MonetizationEngineFactory = {
  name: 'http-integration',
  capabilities: httpIntegrationCapabilities,
  migrations: httpIntegrationMigrations,
  create(options, dependencies) {
    const parsed = parseHttpIntegrationOptions(options);
    const problems = tenantAccountKindProblems(dependencies.tenants);
    if (problems.length > 0) throw new EngineOptionsError(`invalid HTTP integration settings: ${problems.join('; ')}`);
    return new HttpIntegrationMonetization(parsed, dependencies);
  },
};

export default httpIntegrationEngine;
