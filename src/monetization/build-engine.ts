import type { MeterlineConfig } from '../config/schema';
import type { EngineDependencies, Monetization, MonetizationEngineFactory } from './monetization';

/**
 * Builds the billing engine `factory` (the one `monetization_impl` names, resolved once by the
 * composition root) with its options (`[apim.monetization.<name>]`), which the engine validates:
 * a bad option stops start-up. The composition root calls it once per process with what engines
 * receive.
 */
export function buildMonetizationEngine(input: { config: MeterlineConfig; factory: MonetizationEngineFactory; dependencies: EngineDependencies }): Monetization {
  const { config, factory, dependencies } = input;
  const options = (config.apim.monetization as Record<string, unknown>)[factory.name];
  return factory.create(options, { ...dependencies, logger: dependencies.logger.child({ engine: factory.name }) });
}
