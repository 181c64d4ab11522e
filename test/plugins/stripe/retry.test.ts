import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { retryingHttpClient } from '../../../plugins/stripe/retry';

/**
 * The Stripe engine's one retry layer, against a real HTTP server answering as Stripe documents
 * (https://docs.stripe.com/error-low-level: `Stripe-Should-Retry`; https://docs.stripe.com/rate-limits:
 * 429) through the real SDK. Each answer is scripted per request; the assertions count requests.
 */
type Answer = { status: number; headers?: Record<string, string> } | 'drop';

const CUSTOMER = JSON.stringify({ id: 'cus_retry', object: 'customer' });
const API_ERROR = JSON.stringify({ error: { type: 'api_error', message: 'scripted' } });

describe("the Stripe engine's retry layer", () => {
  let server: http.Server;
  let script: Answer[] = [];
  let seen: Array<{ idempotencyKey: string | undefined }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({ idempotencyKey: req.headers['idempotency-key'] as string | undefined });
        const answer = script.shift() ?? { status: 200 };
        if (answer === 'drop') return req.socket.destroy();
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(answer.status === 200 ? CUSTOMER : API_ERROR);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    script = [];
    seen = [];
    waits = [];
  });

  /** The waits the retry layer asked for, each spent at once. */
  let waits: number[] = [];
  const recordingSleep = async (ms: number) => {
    waits.push(ms);
  };
  const stripe = (retries: number, initialDelayMs = 1) =>
    new Stripe('sk_test_retry', {
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      protocol: 'http',
      maxNetworkRetries: 0,
      telemetry: false,
      httpClient: retryingHttpClient({ retries, initialDelayMs, maxDelayMs: 5_000 }, undefined, recordingSleep),
    });

  it('re-sends a 429, a 409, a 5xx and a dropped connection with the same idempotency key, then succeeds', async () => {
    script = [{ status: 429 }, { status: 409 }, { status: 503 }, 'drop'];
    await expect(stripe(4).customers.create({}, { idempotencyKey: 'meaningful-key' })).resolves.toMatchObject({ id: 'cus_retry' });
    expect(seen.map((s) => s.idempotencyKey)).toEqual(Array(5).fill('meaningful-key'));
  });

  it('gives up after `retries` re-sends and the SDK raises the last answer', async () => {
    script = [{ status: 429 }, { status: 429 }, { status: 429 }];
    await expect(stripe(2).customers.create({})).rejects.toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(seen).toHaveLength(3);
  });

  it('follows Stripe-Should-Retry over the status: false stops a 5xx, true retries a 400', async () => {
    script = [{ status: 500, headers: { 'Stripe-Should-Retry': 'false' } }];
    await expect(stripe(3).customers.create({})).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(seen).toHaveLength(1);

    seen = [];
    script = [{ status: 400, headers: { 'Stripe-Should-Retry': 'true' } }];
    await expect(stripe(3).customers.create({})).resolves.toMatchObject({ id: 'cus_retry' });
    expect(seen).toHaveLength(2);
  });

  it('never re-sends any other 4xx', async () => {
    script = [{ status: 400 }];
    await expect(stripe(3).customers.create({})).rejects.toBeInstanceOf(Stripe.errors.StripeError);
    expect(seen).toHaveLength(1);
  });

  it('waits the Retry-After Stripe asks for instead of its own (1 ms) backoff', async () => {
    script = [{ status: 429, headers: { 'Retry-After': '1' } }];
    await stripe(1).customers.create({});
    expect(seen).toHaveLength(2);
    expect(waits).toEqual([1_000]);
  });
});
