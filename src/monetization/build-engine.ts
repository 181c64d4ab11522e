import type { MeterlineConfig } from '../config/schema';
import type { EngineDependencies, Monetization } from './monetization';
import type { EngineRegistry } from './registry';

/**
 * Picks the billing engine named by `monetization_impl` and builds it with its options
 * (`[apim.monetization.<name>]`), which the engine validates: a bad option stops start-up. The
 * composition root (src/composition.ts) calls it once per process with what engines receive.
 */
export function buildMonetizationEngine(input: { config: MeterlineConfig; registry: EngineRegistry; dependencies: EngineDependencies }): Monetization {
  const { config, registry, dependencies } = input;
  const factory = registry.resolve(config.apim.monetization.monetization_impl);
  const options = (config.apim.monetization as Record<string, unknown>)[factory.name];
  return factory.create(options, { ...dependencies, logger: dependencies.logger.child({ engine: factory.name }) });
}
