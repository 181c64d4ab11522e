import { randomBytes } from 'node:crypto';
import express, { type Request } from 'express';
import { accessGuard, remoteAccessChecker } from '../../src/gateway-kit/access-guard';
import { listen, type RunningServer } from '../../src/http/server';
import { UsageRecorder, type CallIdentity } from '../../src/gateway-kit/usage-recorder';
import { httpUsageSink } from '../../src/gateway-kit/http-usage-sink';

/** What the gateway knows about an API key after the subscriber got it for a subscription. */
export interface KeyGrant extends CallIdentity {
  subscriptionId: string;
}

export interface DemoGateway {
  url: string;
  /** Issues an API key for a subscription (a real gateway's key manager would). */
  issueKey(grant: KeyGrant): string;
  /** Sends what the usage recorder has buffered to Meterline. */
  flushUsage(): Promise<void>;
  /** Events the recorder could not hand over (0 unless Meterline refused them). */
  usageProblems(): string[];
  close(): Promise<void>;
}

/** How long the access guard reuses an answer (the guard's default is 5 s; shorter makes the demo snappier). */
export const ACCESS_CACHE_MS = 1_000;

/**
 * A tiny Node.js gateway in front of a hello-world API, built the way the README tells gateway
 * authors to: `accessGuard` refuses subscriptions that may not call (asking Meterline over HTTP),
 * then `UsageRecorder` records every call it lets through and ships the events to Meterline's
 * `POST /api/am/usage/v1/events` with a gateway token.
 *
 *   GET /hello/v1/greeting   200 {"message": "Hello, <name>!"}
 *   GET /hello/v1/boom       500 (a failing backend: recorded, never billed)
 *   anything else            404 (recorded, never billed)
 * Calls carry the key in the `apikey` header; without a known key they are refused with 401.
 * `now` stamps the calls with the demo's clock (Meterline's, which follows the local billing
 * server's): a call after the demo moved the clock a month on falls in that month, as it would
 * from a gateway on Meterline's clock.
 */
export async function startDemoGateway(meterlineUrl: string, gatewayToken: string, now: () => Date): Promise<DemoGateway> {
  const grants = new Map<string, KeyGrant>();
  const grantOf = (req: Request) => grants.get(req.get('apikey') ?? '');
  const problems: string[] = [];
  // The gateway kit's HTTP sink, as the README tells gateway authors: batches over keep-alive
  // sockets, retried with their fixed event ids; events Meterline refuses are shown by the demo.
  const sink = httpUsageSink({
    url: meterlineUrl,
    token: () => gatewayToken,
    onRejected: (rejected) => {
      for (const r of rejected) problems.push(`event ${r.eventId ?? r.index} rejected: ${JSON.stringify(r.errors)}`);
    },
  });
  const recorder = new UsageRecorder(sink, {
    identify: (req) => {
      const grant = grantOf(req);
      return grant && { apiId: grant.apiId, applicationId: grant.applicationId, subscriptionId: grant.subscriptionId, tenant: grant.tenant };
    },
    flushIntervalMs: 500,
    now: () => now().getTime(),
    onError: (error) => problems.push(`usage flush failed: ${error instanceof Error ? error.message : String(error)}`),
  });

  const app = express();
  app.disable('x-powered-by');
  app.use('/hello', (req, res, next) => {
    if (!grantOf(req)) return void res.status(401).json({ code: 401, message: 'Unauthorized', description: 'a valid apikey header is required' });
    next();
  });
  app.use('/hello', accessGuard({ checker: remoteAccessChecker(meterlineUrl, () => gatewayToken), identify: (req) => grantOf(req)?.subscriptionId, cacheMs: ACCESS_CACHE_MS }));
  app.use('/hello', recorder.middleware());
  app.get('/hello/v1/greeting', (req, res) => {
    res.json({ message: `Hello, ${typeof req.query.name === 'string' ? req.query.name : 'world'}!` });
  });
  app.get('/hello/v1/boom', (_req, res) => {
    res.status(500).json({ code: 500, message: 'Internal Server Error', description: 'the backend failed (on purpose, for the demo)' });
  });
  app.use((_req, res) => {
    res.status(404).json({ code: 404, message: 'Not Found', description: 'no such resource' });
  });
  const server: RunningServer = await listen(app, '127.0.0.1', 0);
  return {
    url: server.url,
    issueKey(grant) {
      const key = `demo_${randomBytes(16).toString('hex')}`;
      grants.set(key, grant);
      return key;
    },
    flushUsage: () => recorder.flush(),
    usageProblems: () => [...problems],
    async close() {
      await recorder.close();
      server.server.closeAllConnections();
      await server.close();
    },
  };
}
