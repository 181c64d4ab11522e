import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { advanceClock } from './billing/subscription-cycle';
import type { StripeServerControls } from './controls';
import { handleControlRequest } from './controls/http-controls';
import { FaultInjector } from './faults/faults';
import { RateLimiter, type RateLimitConfig } from './faults/rate-limit';
import { apiRoutes } from './http/routes';
import { Router } from './http/router';
import { handleApiRequest } from './pipeline';
import { RequestLog } from './request-log';
import { World } from './state/world';
import { exhaustRetries } from './billing/dunning';
import { completeAuthentication } from './billing/invoice-lifecycle';
import { reportMeterErrors } from './resources/meter-events';

export interface StripeServerOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Initial simulated time, Unix seconds; default: now. */
  startAt?: number;
  /** Seed for rate-based fault injection; default 42. */
  seed?: number;
  /** Rate limits from the start; default none. */
  rateLimit?: RateLimitConfig;
  /**
   * Seconds until a meter event counts in previews and invoices (Stripe aggregates asynchronously);
   * default 30 (billing/usage.ts). 0 turns it off, for tests that are not about aggregation.
   */
  aggregationDelaySeconds?: number;
}

/** A running server: where it listens, how to stop it, and its test controls. */
export interface StripeServer extends StripeServerControls {
  url: string;
  host: string;
  port: number;
  /** Stops accepting requests, drops idle keep-alive connections and waits for in-flight webhooks. */
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function buildControls(world: World, faults: FaultInjector, rateLimiter: RateLimiter, log: RequestLog): StripeServerControls {
  const advanceTo = (target: number) => {
    advanceClock(world, target);
    return world.clock.now();
  };
  return {
    clock: {
      now: () => world.clock.now(),
      advance: (seconds) => {
        if (!Number.isInteger(seconds) || seconds < 0) throw new RangeError('advance takes a non-negative whole number of seconds');
        return advanceTo(world.clock.now() + seconds);
      },
      advanceTo,
    },
    webhooks: {
      // Flushing stands for Stripe's asynchronous work being done: open meter error windows are reported first.
      flush: () => {
        reportMeterErrors(world);
        return world.dispatcher.flush();
      },
      deliveries: () => world.dispatcher.deliveries(),
      pending: () => world.dispatcher.pending(),
      pause: () => world.dispatcher.pause(),
      resume: () => world.dispatcher.resume(),
      reorder: (order) => world.dispatcher.reorder(order),
      replay: (eventId, endpointId) => world.dispatcher.replay(eventId, endpointId),
      discardPending: () => world.dispatcher.discardPending(),
    },
    requests: {
      list: (filter) => log.list(filter),
      reset: () => log.reset(),
    },
    faults: {
      add: (rule) => faults.add(rule),
      remove: (id) => faults.remove(id),
      clear: (seed) => {
        faults.clear(seed);
        rateLimiter.configure({});
      },
      rateLimit: (config) => rateLimiter.configure(config),
      hold: (match) => faults.hold(match),
    },
    payments: {
      failNext: (input) => world.payments.failNext(input),
      completeAuthentication: (accountId, invoiceId) => {
        const account = world.registry.get(accountId);
        const invoice = account?.invoices.get(invoiceId);
        if (!account || !invoice) throw new RangeError(`no invoice ${invoiceId} in account ${accountId}`);
        world.events.within(null, () => completeAuthentication(world, account, invoice));
      },
    },
    billing: {
      aggregationDelaySeconds: () => world.billingTiming.aggregationDelaySeconds,
      setAggregationDelay: (seconds) => {
        if (!Number.isInteger(seconds) || seconds < 0) throw new RangeError('the aggregation delay is a non-negative whole number of seconds');
        world.billingTiming.aggregationDelaySeconds = seconds;
      },
      exhaustRetries: (accountId, invoiceId, settings) => {
        const account = world.registry.get(accountId);
        const invoice = account?.invoices.get(invoiceId);
        if (!account || !invoice) throw new RangeError(`no invoice ${invoiceId} in account ${accountId}`);
        world.events.within(null, () => exhaustRetries(world, account, invoice, settings));
      },
    },
    accountIdForKey: (key) => world.registry.platformForKey(key).id,
    invoice: (accountId, invoiceId) => world.registry.get(accountId)?.invoices.get(invoiceId),
    reset: () => {
      world.registry.reset();
      world.dispatcher.reset();
      world.payments.reset();
      log.reset();
      faults.clear();
      rateLimiter.configure({});
    },
  };
}

/**
 * Starts a Stripe-compatible test server. Point the real SDK at it with
 * `new Stripe('sk_test_...', { host: '127.0.0.1', port: server.port, protocol: 'http' })`.
 */
export async function startStripeServer(options: StripeServerOptions = {}): Promise<StripeServer> {
  const host = options.host ?? '127.0.0.1';
  const world = new World(options.startAt);
  const router = new Router(apiRoutes);
  const faults = new FaultInjector(options.seed ?? 42);
  const rateLimiter = new RateLimiter();
  if (options.rateLimit) rateLimiter.configure(options.rateLimit);
  const log = new RequestLog();
  const controls = buildControls(world, faults, rateLimiter, log);
  if (options.aggregationDelaySeconds !== undefined) controls.billing.setAggregationDelay(options.aggregationDelaySeconds);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const body = await readBody(req);
      if ((req.url ?? '').startsWith('/_test/')) await handleControlRequest(req, res, body, controls);
      else await handleApiRequest(req, res, body, { world, router, faults, rateLimiter, log });
    } catch (error) {
      process.stderr.write(`stripe-server: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'api_error', message: 'Internal error in the Stripe test server.' } }));
    }
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host}:${port}`;
  world.baseUrl = url;

  return {
    ...controls,
    url,
    host,
    port,
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      world.dispatcher.pause();
      world.dispatcher.discardPending();
      await world.dispatcher.flush();
    },
  };
}
