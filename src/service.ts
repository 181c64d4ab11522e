import type { Knex } from 'knex';
import type { MeterlineConfig } from './config/schema';
import { connectDatabase } from './db/connect';
import { migrateLatest } from './db/migrator';
import { createApp } from './http/app';
import { listen } from './http/server';
import type { Logger } from './logger';
import { buildMonetizationEngine } from './monetization/build-engine';
import type { Monetization } from './monetization/monetization';
import { EngineRegistry } from './monetization/registry';
import { builtInEngines } from '../plugins';

export interface RunningService {
  url: string;
  db: Knex;
  engine: Monetization;
  /** Stops accepting requests, lets the ones in flight finish, then closes the database pool. */
  close(): Promise<void>;
}

export interface ServiceOptions {
  config: MeterlineConfig;
  logger: Logger;
  /** Overrides `[server] port` (tests pass 0 for a free port). */
  port?: number;
  /** The billing engines to choose from; the built-in ones by default. */
  registry?: EngineRegistry;
  clock?: () => Date;
}

/** Composes the service from its configuration: database, migrations, HTTP. */
export async function startService({ config, logger, port, registry, clock }: ServiceOptions): Promise<RunningService> {
  const db = connectDatabase(config.database.apim_db, { logger });
  try {
    const engine = buildMonetizationEngine({ config, registry: registry ?? new EngineRegistry(builtInEngines), db, logger, ...(clock ? { clock } : {}) });
    if (config.database.apim_db.migrate_on_start) {
      const applied = await migrateLatest(db);
      if (applied.length > 0) logger.info({ migrations: applied }, 'applied database migrations');
    }
    const http = await listen(createApp({ db, logger, engine, config, ...(clock ? { clock } : {}) }), config.server.host, port ?? config.server.port);
    logger.info({ url: http.url, database: config.database.apim_db.type }, 'meterline is listening');
    return {
      url: http.url,
      db,
      engine,
      close: async () => {
        await http.close();
        await db.destroy();
      },
    };
  } catch (error) {
    await db.destroy();
    throw error;
  }
}
