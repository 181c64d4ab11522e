import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import { connectionFailureMessage, pingDatabase } from '../db/connect';
import type { Logger } from '../logger';
import { notReadyError, sendError } from './errors';

/**
 * Where a service is in its start: it listens at once, then waits for its database (retrying),
 * then applies migrations, then serves. See `launchService` in src/service.ts.
 */
export type Readiness = 'waiting-for-database' | 'migrating' | 'ready';

/**
 * `GET /health`: 200 when the service and its database answer, 503 otherwise, so a load
 * balancer or orchestrator can take an instance out of rotation. While the service starts it
 * is 503 without a ping of its own: the start-up loop is already trying, and logging.
 */
export function healthHandler(db: Knex, logger: Logger, readiness: () => Readiness = () => 'ready'): RequestHandler {
  return async (_req, res) => {
    const state = readiness();
    if (state !== 'ready') {
      res.status(503).json({ status: 'DOWN', database: state === 'migrating' ? 'UP' : 'DOWN' });
      return;
    }
    try {
      await pingDatabase(db);
      res.json({ status: 'UP', database: 'UP' });
    } catch (error) {
      logger.warn({ error: connectionFailureMessage(error) }, 'health check: database unreachable');
      res.status(503).json({ status: 'DOWN', database: 'DOWN' });
    }
  };
}

/** Answers every request 503 (WSO2 error body, Retry-After) until the service is ready. */
export function unavailableUntilReady(readiness: () => Readiness): RequestHandler {
  return (_req, res, next) => {
    const state = readiness();
    if (state === 'ready') {
      next();
      return;
    }
    const why = state === 'migrating' ? 'database migrations are running' : 'the database is not reachable yet';
    sendError(res, notReadyError(`Meterline is starting: ${why}; retry shortly`));
  };
}
