import Stripe from 'stripe';
import { startStripeServer, type StripeServer, type StripeServerOptions } from '../index';

/**
 * Contract-test plumbing: a server on an ephemeral port and real SDK clients
 * pointed at it. Tests talk to the server only through the SDK (plus the
 * server's test controls for time, faults and webhooks).
 */
export interface Harness {
  server: StripeServer;
  /** A client for a platform key (each distinct key is its own platform account). */
  client(key?: string): Stripe;
}

export const PLATFORM_KEY = 'sk_test_meterline_platform';

export async function startHarness(options: StripeServerOptions = {}): Promise<Harness> {
  const server = await startStripeServer(options);
  return {
    server,
    client: (key = PLATFORM_KEY) =>
      new Stripe(key, { host: server.host, port: server.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false }),
  };
}

/** The error a rejected SDK call threw, so a test can assert on its class and fields. */
export async function failureOf(call: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return error;
    throw error;
  }
  throw new Error('expected the Stripe call to fail, but it succeeded');
}

export const DAY = 86_400;

/** 2030-01-15T00:00:00Z: a fixed start so period arithmetic in tests is predictable. */
export const START = Date.UTC(2030, 0, 15) / 1000;
