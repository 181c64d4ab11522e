import type { Knex } from 'knex';
import { composeHttp, composeSchedules, composeServices, type Services } from './composition';
import type { MeterlineConfig } from './config/schema';
import { pingDatabase } from './db/connect';
import { describeDatabase } from './db/describe';
import { migrateLatest } from './db/migrator';
import { waitForDatabase, type Backoff, type Sleep } from './db/wait';
import type { Readiness } from './http/health';
import { listen } from './http/server';
import type { Logger } from './logger';
import type { Monetization } from './monetization/monetization';
import type { EngineRegistry } from './monetization/registry';
import type { UsageService } from './usage/usage-service';

export interface RunningService {
  url: string;
  db: Knex;
  engine: Monetization;
  usage: UsageService;
  /** Everything the composition root built (src/composition.ts). */
  services: Services;
  /** Stops waiting for the database, stops accepting requests, lets the ones in flight finish, then closes the pool. */
  close(): Promise<void>;
}

export interface LaunchedService extends RunningService {
  /**
   * `ready` once the database answered and migrations ran (from then on the REST API serves);
   * `closed` when `close()` came first. Rejects when migrations fail: the service cannot serve.
   */
  ready: Promise<'ready' | 'closed'>;
}

export interface ServiceOptions {
  config: MeterlineConfig;
  logger: Logger;
  /** Overrides `[server] port` (tests pass 0 for a free port). */
  port?: number;
  /** The billing engines to choose from; the built-in ones by default. */
  registry?: EngineRegistry;
  clock?: () => Date;
  /** Between attempts to reach the database (default 1 s doubling to 30 s); tests shorten it. */
  backoff?: Backoff;
  sleep?: Sleep;
  /** The round trip that decides the database answers; `pingDatabase` unless a test stands in. */
  ping?: (db: Knex) => Promise<void>;
}

/**
 * Composes the service from its configuration (src/composition.ts) and listens at once; the database is reached in
 * the background, retried with backoff, and migrated (`migrate_on_start`). Until then `/health`
 * answers 503 DOWN and every other request 503, so an orchestrator that starts Meterline before
 * its database sees an instance that is up but not ready, instead of one that crashes in a loop.
 * Configuration mistakes (a bad engine option, a port in use) still reject here.
 */
export async function launchService({ config, logger, port, registry, clock, backoff, sleep, ping = pingDatabase }: ServiceOptions): Promise<LaunchedService> {
  const database = describeDatabase(config.database.apim_db);
  const services = await composeServices({ config, logger, ...(registry ? { registry } : {}), ...(clock ? { clock } : {}) });
  const { db, engine, usage } = services;
  const stopping = new AbortController();
  let state: Readiness = 'waiting-for-database';
  let http: Awaited<ReturnType<typeof listen>> | undefined;
  // The schedules (usage publishing, reconcile, invoicing, notifications, spend) start once the
  // database is migrated: a tick before that could only fail on tables not made yet.
  let stopSchedules: () => Promise<void> = async () => undefined;
  try {
    http = await listen(composeHttp(services, () => state), config.server.host, port ?? config.server.port);
  } catch (error) {
    await http?.close();
    await services.close();
    throw error;
  }
  const server = http;
  const url = server.url;
  logger.info({ url, database }, 'meterline is listening');

  const ready = (async (): Promise<'ready' | 'closed'> => {
    const outcome = await waitForDatabase(() => ping(db), {
      logger,
      database,
      signal: stopping.signal,
      ...(backoff ? { backoff } : {}),
      ...(sleep ? { sleep } : {}),
    });
    if (outcome === 'stopped') return 'closed';
    state = 'migrating';
    if (config.database.apim_db.migrate_on_start) {
      const applied = await migrateLatest(db, services.migrations);
      if (applied.length > 0) logger.info({ migrations: applied }, 'applied database migrations');
    }
    if (stopping.signal.aborted) return 'closed';
    stopSchedules = composeSchedules(services);
    state = 'ready';
    logger.info({ url, database }, 'meterline is ready');
    return 'ready';
  })();

  return {
    url,
    db,
    engine,
    usage,
    services,
    ready,
    close: async () => {
      stopping.abort();
      await ready.catch(() => undefined); // migrations in progress finish; the failure was reported by whoever awaited `ready`
      await stopSchedules();
      await server.close();
      await usage.publisher.stop(); // a running job stops after its calls in flight; the next one resumes
      await services.close();
    },
  };
}

/**
 * `launchService`, resolving only once the service is ready (tests and the demo, which call the
 * API straight away). Rejects, with everything closed, when migrations fail.
 */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const service = await launchService(options);
  try {
    await service.ready;
    return service;
  } catch (error) {
    await service.close();
    throw error;
  }
}
