import express, { type Express } from 'express';
import type { Knex } from 'knex';
import type { Apim } from '../apim/apim';
import type { Billing } from '../billing/billing';
import type { MeterlineConfig } from '../config/schema';
import type { Logger } from '../logger';
import type { Monetization, TenantDirectory } from '../monetization/monetization';
import { TokenVerifier } from './auth/tokens';
import { errorHandler, notFoundBody } from './errors';
import { buildOpenApiDocument, meterlineVersion } from './openapi/document';
import { withExtensions } from './openapi/extensions';
import { healthHandler, unavailableUntilReady, type Readiness } from './health';
import { accessRouter } from './billing/access-route';
import { billingWebhookRouter } from './billing/webhook-route';
import { devportalPages, type IssuedInvoiceLinesReader } from './pages/devportal-pages';
import { registerRoutes } from './route';
import { ROUTES } from './routes';
import { EXTENSION_ROUTES } from './routes/extensions';
import { usageIngestRouter } from './usage/ingest-route';
import { publishUsageRoutes } from './usage/publish-usage-routes';
import { usageReconcileRoutes } from './usage/usage-reconcile-route';
import { usageRequeueRoutes } from './routes/admin/requeue-usage-records';
import { engineDeliveryRoutes } from './routes/admin/engine-deliveries';
import type { UsageRequeuer } from '../usage/usage-requeue';
import type { OwnInvoicesAdmin } from './routes/extensions/own-invoices-port';
import { notificationRoutes } from './routes/admin/notifications';
import type { NotificationsAdmin } from '../notifications/notifications-admin';
import type { SpendLimitsPort } from './routes/extensions/spend-limits-port';
import type { UsageReconciler } from '../usage/usage-reconcile';
import type { UsageService } from '../usage/usage-service';

/** The services the REST API calls, built by the composition root (src/composition.ts); http/ builds none. */
export interface AppServices {
  config: MeterlineConfig;
  clock: () => Date;
  tenants: TenantDirectory;
  engine: Monetization;
  billing: Billing;
  apim: Apim;
  /** Usage capture and publishing (src/usage): its ingestion and publish-usage routes. */
  usage?: UsageService;
  /** Usage sent against what the engine counted and invoiced: the usage-reconciliation route. */
  reconcileUsage?: UsageReconciler;
  requeueUsage?: UsageRequeuer;
  /** The lines of the invoices Meterline issues itself (engines with `invoicing` 'meterline'), for the invoice page. */
  issuedInvoiceLines?: IssuedInvoiceLinesReader;
  /** Meterline's own invoices, for the own-invoice admin routes (absent: they answer as for an engine that invoices itself). */
  ownInvoices?: OwnInvoicesAdmin;
  /** The tenants' notification channels and deliveries (src/notifications), for the notification admin routes. */
  notifications?: NotificationsAdmin;
  /** Spend limits per subscription (src/spend), for the spend-limit routes (absent: they answer 404). */
  spendLimits?: SpendLimitsPort;
}

export interface AppDependencies {
  /** What `/health` pings. */
  db: Knex;
  logger: Logger;
  /** Without them only `/health` is served. */
  services?: AppServices;
  /** Until this says `ready`, `/health` is 503 and every other request is answered 503. */
  readiness?: () => Readiness;
}

/** Builds the HTTP application on the composed services; the caller decides where it listens. */
export function createApp({ db, logger, services, readiness }: AppDependencies): Express {
  const config = services?.config;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Behind a TLS-terminating proxy, req.secure (and so the session cookie's Secure) follows its X-Forwarded-Proto.
  app.set('trust proxy', config?.server.trust_proxy ?? false);
  app.get('/health', healthHandler(db, logger, readiness));
  if (readiness) app.use(unavailableUntilReady(readiness));

  if (services) {
    const { config, clock, tenants, engine, billing, apim, usage, reconcileUsage, requeueUsage, issuedInvoiceLines, ownInvoices, spendLimits } = services;
    const jwt = config.auth.jwt;
    if (!jwt) logger.warn('[auth.jwt] is not configured: every REST API request will be refused with 401');
    // Token expiry is judged by the wall clock, never by the billing clock tests may move.
    const verifier = jwt ? new TokenVerifier(jwt, tenants) : undefined;
    let openApi: Record<string, unknown> | undefined;
    app.get('/api/am/openapi.json', (_req, res) => {
      openApi ??= withExtensions(buildOpenApiDocument([...ROUTES, ...(usage ? publishUsageRoutes(usage) : [])], meterlineVersion()), engine.capabilities.webhooks?.signatureHeaders ?? null);
      res.json(openApi);
    });
    // Raw bodies: signatures are checked on the bytes as sent, before any JSON parser runs.
    app.use(billingWebhookRouter({ engine, tenants, records: billing.records, logger, clock, ...(usage ? { usage } : {}) }));
    app.use(accessRouter({ access: billing.access, verifier, clock }));
    if (usage) app.use(usageIngestRouter(usage, verifier)); // before the 100 kB parser: batches are larger
    app.use('/api/am', express.json({ limit: '100kb' }));
    // Meterline's own admin routes built on a service: usage reconciliation and re-queue, notifications.
    const reconcileRoutes = [...(reconcileUsage ? usageReconcileRoutes(reconcileUsage) : []), ...(requeueUsage ? usageRequeueRoutes(requeueUsage) : []), ...engineDeliveryRoutes(engine.deliveries), ...(services.notifications ? notificationRoutes(services.notifications) : [])];
    app.use(registerRoutes([...ROUTES, ...EXTENSION_ROUTES, ...(usage ? publishUsageRoutes(usage) : []), ...reconcileRoutes], { verifier, apim, ...(usage ? { usage } : {}), ...(ownInvoices ? { ownInvoices } : {}), ...(spendLimits ? { spendLimits } : {}) }));
    app.use(devportalPages({ verifier, apim, ...(issuedInvoiceLines ? { issuedInvoiceLines } : {}) }));
  }

  app.use((req, res) => {
    res.status(404).json(notFoundBody(`No resource at ${req.method} ${req.path}`));
  });
  app.use(errorHandler(logger));
  return app;
}
