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
import { scheduleUsagePublishing } from './usage/schedule';
import { UsageService } from './usage/usage-service';

export interface RunningService {
  url: string;
  db: Knex;
  engine: Monetization;
  usage: UsageService;
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
    const usage = new UsageService({ db, engine, logger, config, ...(clock ? { clock } : {}) });
    const http = await listen(createApp({ db, logger, engine, config, usage, ...(clock ? { clock } : {}) }), config.server.host, port ?? config.server.port);
    const stopSchedule = scheduleUsagePublishing(config.apim.monetization.usage_publish_cron, usage, logger);
    logger.info({ url: http.url, database: config.database.apim_db.type }, 'meterline is listening');
    return {
      url: http.url,
      db,
      engine,
      usage,
      close: async () => {
        await stopSchedule();
        await http.close();
        await usage.publisher.stop(); // a running job stops after its calls in flight; the next one resumes
        await db.destroy();
      },
    };
  } catch (error) {
    await db.destroy();
    throw error;
  }
}
