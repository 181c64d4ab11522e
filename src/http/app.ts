import express, { type ErrorRequestHandler, type Express } from 'express';
import type { Knex } from 'knex';
import type { Logger } from '../logger';
import { healthHandler } from './health';

export interface AppDependencies {
  db: Knex;
  logger: Logger;
}

/** Builds the HTTP application; the caller decides where it listens. */
export function createApp({ db, logger }: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/health', healthHandler(db, logger));

  app.use((req, res) => {
    res.status(404).json({
      code: 404,
      message: 'Not Found',
      description: `No resource at ${req.method} ${req.path}`,
      moreInfo: '',
      error: [],
    });
  });

  // The last resort: an unexpected error is logged with its stack, the client gets no details.
  const onError: ErrorRequestHandler = (error, _req, res, _next) => {
    logger.error({ err: error }, 'unhandled error');
    res.status(500).json({
      code: 500,
      message: 'Internal Server Error',
      description: 'The server could not complete the request',
      moreInfo: '',
      error: [],
    });
  };
  app.use(onError);
  return app;
}
