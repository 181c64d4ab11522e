import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeAccount, webhookSettings, type Account, type AccountConfig } from './accounts';
import { getPaymentStatus, initiatePayment, invoiceUrl, paymentStatusData, sendPayment, type ApiAnswer, type ApiContext } from './api';
import { Clock, type ClockMode } from './clock';
import type { AttemptResult, LoggedRequest, MyFatoorahServerControls } from './controls';
import { Faults } from './faults';
import { ControlError, handleControlRequest } from './http-controls';
import { InvoiceStore, type Invoice } from './invoices';
import { payPage } from './pay-page';
import { paymentStatusChanged, WebhookDispatcher } from './webhooks';

export interface MyFatoorahServerOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** The vendor accounts, one per API token. More can be added later (controls.accounts.add). */
  accounts?: AccountConfig[];
  /** `manual` (default): time stands still unless advanced. `wall`: it follows the machine's clock. */
  clock?: ClockMode;
  /** Initial time (ms since the epoch or a Date); default now. */
  startAt?: number | Date;
}

/** A running server: where it listens, how to stop it, and its test controls. */
export interface MyFatoorahServer extends MyFatoorahServerControls {
  /** The API base URL (what MyFatoorah calls the API URL, e.g. https://apitest.myfatoorah.com/ without the slash). */
  url: string;
  host: string;
  port: number;
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

const ENDPOINTS: Record<string, (body: Record<string, unknown>, ctx: ApiContext) => ApiAnswer> = {
  '/v2/sendpayment': sendPayment,
  '/v2/getpaymentstatus': getPaymentStatus,
  '/v2/initiatepayment': initiatePayment,
};

/**
 * Starts a MyFatoorah-compatible test server (docs/myfatoorah-server.md): API v2 under `/v2/`,
 * invoice pages under `/<country>/ie/<key>`, test controls under `/_test/`.
 */
export async function startMyFatoorahServer(options: MyFatoorahServerOptions = {}): Promise<MyFatoorahServer> {
  const host = options.host ?? '127.0.0.1';
  const startAt = options.startAt instanceof Date ? options.startAt.getTime() : options.startAt;
  const clock = new Clock(options.clock ?? 'manual', startAt);
  const accounts = new Map<string, Account>();
  for (const config of options.accounts ?? []) accounts.set(config.token, makeAccount(config));
  const invoices = new InvoiceStore(clock);
  const dispatcher = new WebhookDispatcher(clock);
  const faults = new Faults();
  const log: LoggedRequest[] = [];
  const held = new Set<() => void>();
  let baseUrl = '';

  const invoiceOf = (id: number): Invoice => {
    const invoice = invoices.get(id);
    if (!invoice) throw new ControlError(`no invoice ${id}`);
    return invoice;
  };
  const attempt = (id: number, outcome: 'Succss' | 'Failed', gateway: string, error: string | null): AttemptResult => {
    const invoice = invoiceOf(id);
    const status = invoices.status(invoice);
    if (status !== 'Pending') throw new ControlError(`invoice ${id} is ${status === 'Canceled' ? 'expired' : 'paid'}: it cannot be paid`);
    const transaction = invoices.attempt(invoice, outcome, gateway, error);
    const reference = dispatcher.newReference();
    const sent = dispatcher.send(invoice.account, paymentStatusChanged(invoice, transaction, reference, clock.now()));
    return { invoiceId: invoice.id, paymentId: transaction.paymentId, webhookReference: sent ? reference : null };
  };

  const controls: MyFatoorahServerControls = {
    clock: {
      now: () => clock.now(),
      advance: (seconds) => {
        const now = clock.advance(seconds);
        dispatcher.runDue();
        return now;
      },
      advanceTo: (date) => {
        const now = clock.advanceTo(date);
        dispatcher.runDue();
        return now;
      },
    },
    accounts: {
      add: (config) => {
        const account = makeAccount(config);
        accounts.set(account.token, account);
        return account;
      },
      get: (token) => accounts.get(token),
      configureWebhook: (token, settings) => {
        const account = accounts.get(token);
        if (!account) throw new ControlError('no account has that token');
        account.webhook = webhookSettings(settings, account.webhook.secret, account.webhook);
        return account.webhook;
      },
    },
    invoices: {
      pay: (id, opts = {}) => attempt(id, 'Succss', opts.gateway ?? 'KNET', null),
      fail: (id, opts = {}) => attempt(id, 'Failed', opts.gateway ?? 'KNET', opts.error ?? 'Declined by the test control'),
      expire: (id) => {
        const invoice = invoiceOf(id);
        if (invoice.paid) throw new ControlError(`invoice ${id} is paid: it cannot expire`);
        if (invoice.expiresAt.getTime() > clock.nowMs()) invoice.expiresAt = clock.now();
      },
      get: (id) => {
        const invoice = invoices.get(id);
        return invoice ? paymentStatusData(invoice, invoices) : undefined;
      },
    },
    webhooks: {
      flush: () => dispatcher.flush(),
      deliveries: () => dispatcher.deliveries(),
      pause: () => dispatcher.pause(),
      resume: () => dispatcher.resume(),
      replay: (reference) => dispatcher.replay(reference),
    },
    faults: {
      add: (rule) => faults.add(rule),
      clear: () => faults.clear(),
      release: async () => {
        const releases = [...held];
        for (const release of releases) release();
        // A released request is handled synchronously once its hold's promise settles.
        await new Promise((resolve) => setImmediate(resolve));
        return releases.length;
      },
    },
    requests: {
      list: () => log.map((entry) => ({ ...entry })),
      reset: () => {
        log.length = 0;
      },
    },
    reset: () => {
      invoices.reset();
      dispatcher.reset();
      faults.clear();
      log.length = 0;
    },
  };

  const json = (res: ServerResponse, answer: ApiAnswer) => {
    res.writeHead(answer.status, { 'Content-Type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(answer.body));
  };

  const handleApi = async (req: IncomingMessage, res: ServerResponse, path: string, raw: string) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const endpoint = ENDPOINTS[path.toLowerCase()];
    const auth = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const account = auth ? accounts.get((auth[1] ?? '').trim()) : undefined;
    let body: unknown = raw;
    try {
      body = raw.trim() === '' ? {} : JSON.parse(raw);
    } catch {
      // kept raw; answered below
    }
    const entry: LoggedRequest = { method, path, token: account?.token ?? null, body, status: 0 };
    log.push(entry);
    const answer = (result: ApiAnswer) => {
      entry.status = result.status;
      json(res, result);
    };
    if (!endpoint) {
      entry.status = 404;
      res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ Message: `No HTTP resource was found that matches the request URI '${path}'.` }));
      return;
    }
    // A missing or unknown token: HTTP 401 with an empty body (how MyFatoorah's API answers; the docs give no body).
    if (!account) {
      entry.status = 401;
      res.writeHead(401);
      res.end();
      return;
    }
    if (method !== 'POST') {
      entry.status = 405;
      res.writeHead(405, { 'Content-Type': 'application/json; charset=utf-8', Allow: 'POST' });
      res.end(JSON.stringify({ Message: `The requested resource does not support http method '${method}'.` }));
      return;
    }
    const fault = faults.take(path);
    if (fault?.kind === 'error') {
      answer({ status: 500, body: { IsSuccess: false, Message: 'Internal server error (injected by the test server)', ValidationErrors: null, Data: null } });
      return;
    }
    if (fault?.kind === 'rate_limit') {
      answer({ status: 429, body: { IsSuccess: false, Message: 'Too many requests (injected by the test server)', ValidationErrors: null, Data: null } });
      return;
    }
    if (fault?.kind === 'drop') {
      entry.status = -1;
      res.destroy();
      return;
    }
    if (fault?.kind === 'timeout' || fault?.kind === 'delayed') {
      await new Promise<void>((resolve) => {
        const release = () => {
          clearTimeout(timer);
          held.delete(release);
          resolve();
        };
        const timer = setTimeout(release, fault.delayMs ?? 30_000);
        held.add(release);
      });
      // `timeout`: a client that gave up changed nothing; `delayed`: handled all the same, later.
      if (fault.kind === 'timeout' && (res.destroyed || req.socket.destroyed)) return;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      answer({ status: 400, body: { IsSuccess: false, Message: 'The request body must be a JSON object', ValidationErrors: [{ Name: 'request', Error: 'The request is invalid.' }], Data: null } });
      return;
    }
    const result = endpoint(body as Record<string, unknown>, { account, invoices, clock, baseUrl });
    if (fault?.kind === 'lose_response') {
      entry.status = result.status;
      res.destroy();
      return;
    }
    answer(result);
  };

  const handlePage = (req: IncomingMessage, res: ServerResponse, match: RegExpExecArray) => {
    const invoice = invoices.byKey(match[2] ?? '');
    if (!invoice || invoice.account.country !== match[1]) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('No such invoice');
      return;
    }
    const action = match[3];
    const method = (req.method ?? 'GET').toUpperCase();
    const page = invoiceUrl(baseUrl, invoice);
    if (!action && method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(payPage(invoice, invoices.status(invoice), new URL(page).pathname));
      return;
    }
    if (action && method === 'POST') {
      let location = page;
      try {
        const result = action === 'pay' ? controls.invoices.pay(invoice.id) : controls.invoices.fail(invoice.id);
        const target = action === 'pay' ? invoice.callBackUrl : (invoice.errorUrl ?? invoice.callBackUrl);
        if (target) {
          const url = new URL(target);
          url.searchParams.set('paymentId', result.paymentId);
          url.searchParams.set('Id', result.paymentId);
          location = url.toString();
        }
      } catch (error) {
        if (!(error instanceof ControlError)) throw error;
      }
      res.writeHead(303, { Location: location });
      res.end();
      return;
    }
    res.writeHead(405);
    res.end();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const raw = await readBody(req);
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const page = /^\/([A-Z]{3})\/ie\/([0-9A-Za-z]+)(?:\/(pay|fail))?$/.exec(path);
      if (path.startsWith('/_test/')) await handleControlRequest(req, res, raw, controls);
      else if (page) handlePage(req, res, page);
      else await handleApi(req, res, path, raw);
    } catch (error) {
      process.stderr.write(`myfatoorah-server: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ IsSuccess: false, Message: 'Internal error in the MyFatoorah test server.', ValidationErrors: null, Data: null }));
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
  baseUrl = `http://${host}:${port}`;
  dispatcher.start();

  return {
    ...controls,
    url: baseUrl,
    host,
    port,
    close: async () => {
      for (const release of [...held]) release();
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      await dispatcher.close();
    },
  };
}
