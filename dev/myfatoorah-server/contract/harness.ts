import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startMyFatoorahServer, type MyFatoorahServer, type MyFatoorahServerOptions } from '../index';

/**
 * Contract-test plumbing: a server on an ephemeral port, a client that speaks to it as an
 * integration does (JSON over HTTP with `Authorization: Bearer <token>`), and a webhook receiver.
 */
export const KWT_TOKEN = 'mf_test_kwt_contract';
export const SAU_TOKEN = 'mf_test_sau_contract';
export const KWT_SECRET = 'kwt-webhook-secret';

/** 2030-01-15T00:00:00Z: a fixed start, so expiry arithmetic does not depend on today. */
export const START = new Date(Date.UTC(2030, 0, 15));

export interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON under test
}

export interface Harness {
  server: MyFatoorahServer;
  call(path: string, body: unknown, token?: string | null): Promise<Answer>;
  sendPayment(overrides?: Record<string, unknown>, token?: string): Promise<Answer>;
  status(key: string | number, keyType: string, token?: string): Promise<Answer>;
  close(): Promise<void>;
}

export async function startHarness(options: MyFatoorahServerOptions = {}): Promise<Harness> {
  const server = await startMyFatoorahServer({
    startAt: START,
    accounts: [
      { token: KWT_TOKEN, country: 'KWT', currencies: ['KWD', 'USD'], webhook: { secret: KWT_SECRET } },
      { token: SAU_TOKEN, country: 'SAU' },
    ],
    ...options,
  });
  const call = async (path: string, body: unknown, token: string | null = KWT_TOKEN): Promise<Answer> => {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (token !== null) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(`${server.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, body: text === '' ? null : JSON.parse(text) };
  };
  return {
    server,
    call,
    sendPayment: (overrides = {}, token = KWT_TOKEN) =>
      call('/v2/SendPayment', { InvoiceValue: 10.5, CustomerName: 'Acme Co', NotificationOption: 'LNK', DisplayCurrencyIso: token === KWT_TOKEN ? 'KWD' : 'SAR', ...overrides }, token),
    status: (key, keyType, token = KWT_TOKEN) => call('/v2/GetPaymentStatus', { Key: String(key), KeyType: keyType }, token),
    close: () => server.close(),
  };
}

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  raw: string;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON under test
}

/** A webhook endpoint that records what it receives and answers `answer` (200 unless changed). */
export interface Receiver {
  url: string;
  received: ReceivedWebhook[];
  answer: number;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: ReceivedWebhook[] = [];
  const receiver = { url: '', received, answer: 200, close: async () => undefined } as Receiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      received.push({ headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(receiver.answer);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/am/monetization/webhooks/myfatoorah/carbon.super`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return receiver;
}
