import type { Knex } from 'knex';
import type { MeterlineConfig } from '../config/schema';
import type { Logger } from '../logger';
import { apimCoreRecords } from '../apim/core-records';
import type { Monetization } from './monetization';
import type { EngineRegistry } from './registry';
import { tenantDirectoryFrom } from './tenant-directory';

/**
 * Picks the billing engine named by `monetization_impl` and builds it with its options
 * (`[apim.monetization.<name>]`), which the engine validates: a bad option stops start-up.
 */
export function buildMonetizationEngine(input: {
  config: MeterlineConfig;
  registry: EngineRegistry;
  db: Knex;
  logger: Logger;
  clock?: () => Date;
}): Monetization {
  const { config, registry, db, logger } = input;
  const impl = config.apim.monetization.monetization_impl;
  const factory = registry.resolve(impl);
  const options = (config.apim.monetization as Record<string, unknown>)[factory.name];
  return factory.create(options, {
    core: apimCoreRecords(db),
    store: db,
    logger: logger.child({ engine: factory.name }),
    clock: input.clock ?? (() => new Date()),
    tenants: tenantDirectoryFrom(config),
  });
}
