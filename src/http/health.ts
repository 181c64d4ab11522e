import type { RequestHandler } from 'express';
import type { Knex } from 'knex';
import { pingDatabase } from '../db/connect';
import type { Logger } from '../logger';

/**
 * `GET /health`: 200 when the service and its database answer, 503 otherwise, so a load
 * balancer or orchestrator can take an instance out of rotation.
 */
export function healthHandler(db: Knex, logger: Logger): RequestHandler {
  return async (_req, res) => {
    try {
      await pingDatabase(db);
      res.json({ status: 'UP', database: 'UP' });
    } catch (error) {
      logger.warn({ err: error }, 'health check: database unreachable');
      res.status(503).json({ status: 'DOWN', database: 'DOWN' });
    }
  };
}
