import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultRule } from './faults';
import type { MyFatoorahServerControls } from './controls';
import type { AccountConfig, WebhookSettings } from './accounts';

/**
 * Test-only HTTP controls under `/_test/`, mirroring the in-process handle (controls.ts) so the
 * demo and manual runs can pay invoices, move time and inject faults. Bodies are JSON. They need
 * no token: this server is never exposed beyond the machine.
 */
type Json = Record<string, unknown>;

export class ControlError extends Error {}

function num(body: Json, key: string): number | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ControlError(`${key} must be a number`);
  return value;
}

function text(body: Json, key: string): string | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ControlError(`${key} must be a string`);
  return value;
}

function webhookSettings(body: Json): Partial<WebhookSettings> {
  const settings: Partial<WebhookSettings> = {};
  if (body.url !== undefined) {
    if (body.url !== null && typeof body.url !== 'string') throw new ControlError('url must be a string or null');
    settings.url = body.url as string | null;
  }
  const secret = text(body, 'secret');
  const retries = num(body, 'retries');
  const delay = num(body, 'retry_delay_seconds');
  if (secret !== undefined) settings.secret = secret;
  if (retries !== undefined) settings.retries = retries;
  if (delay !== undefined) settings.retryDelaySeconds = delay;
  return settings;
}

function invoiceId(raw: string | undefined): number {
  const id = Number(raw);
  if (!Number.isInteger(id)) throw new ControlError('the invoice id is a number');
  return id;
}

async function route(method: string, path: string, body: Json, controls: MyFatoorahServerControls): Promise<unknown> {
  const invoice = /^\/_test\/invoices\/([^/]+)(?:\/(pay|fail|expire))?$/.exec(path);
  if (invoice) {
    const id = invoiceId(invoice[1]);
    const action = invoice[2];
    if (method === 'GET' && !action) {
      const data = controls.invoices.get(id);
      if (!data) throw new ControlError(`no invoice ${id}`);
      return data;
    }
    if (method === 'POST' && action === 'pay') {
      const gateway = text(body, 'gateway');
      const result = controls.invoices.pay(id, gateway ? { gateway } : {});
      if (body.flush === true) await controls.webhooks.flush();
      return result;
    }
    if (method === 'POST' && action === 'fail') {
      const gateway = text(body, 'gateway');
      const error = text(body, 'error');
      const result = controls.invoices.fail(id, { ...(gateway ? { gateway } : {}), ...(error ? { error } : {}) });
      if (body.flush === true) await controls.webhooks.flush();
      return result;
    }
    if (method === 'POST' && action === 'expire') {
      controls.invoices.expire(id);
      return { ok: true };
    }
    return undefined;
  }
  switch (`${method} ${path}`) {
    case 'GET /_test/clock':
      return { now: controls.clock.now().toISOString() };
    case 'POST /_test/clock/advance': {
      const seconds = num(body, 'seconds');
      const to = text(body, 'to');
      if ((seconds === undefined) === (to === undefined)) throw new ControlError('give exactly one of seconds or to');
      const now = to !== undefined ? controls.clock.advanceTo(new Date(to)) : controls.clock.advance(seconds ?? 0);
      return { now: now.toISOString() };
    }
    case 'POST /_test/accounts': {
      const account = controls.accounts.add(body as unknown as AccountConfig);
      return { token: account.token, country: account.country, currencies: account.currencies, webhook: account.webhook };
    }
    case 'POST /_test/webhooks/config': {
      const token = text(body, 'token');
      if (!token) throw new ControlError('token is required');
      return controls.accounts.configureWebhook(token, webhookSettings(body));
    }
    case 'GET /_test/webhooks/deliveries':
      return { data: controls.webhooks.deliveries() };
    case 'POST /_test/webhooks/flush':
      await controls.webhooks.flush();
      return { ok: true };
    case 'POST /_test/webhooks/pause':
      controls.webhooks.pause();
      return { ok: true };
    case 'POST /_test/webhooks/resume':
      controls.webhooks.resume();
      return { ok: true };
    case 'POST /_test/webhooks/replay': {
      const reference = text(body, 'reference');
      if (!reference) throw new ControlError('reference is required');
      return { replayed: controls.webhooks.replay(reference) };
    }
    case 'POST /_test/faults': {
      const rule: FaultRule = { kind: text(body, 'kind') as FaultRule['kind'] };
      const faultPath = text(body, 'path');
      const times = num(body, 'times');
      const delayMs = num(body, 'delay_ms');
      if (faultPath !== undefined) rule.path = faultPath;
      if (times !== undefined) rule.times = times;
      if (delayMs !== undefined) rule.delayMs = delayMs;
      try {
        controls.faults.add(rule);
      } catch (error) {
        throw new ControlError(error instanceof Error ? error.message : String(error));
      }
      return { ok: true };
    }
    case 'POST /_test/faults/release':
      return { released: await controls.faults.release() };
    case 'DELETE /_test/faults':
      controls.faults.clear();
      return { ok: true };
    case 'GET /_test/requests':
      return { data: controls.requests.list() };
    case 'DELETE /_test/requests':
      controls.requests.reset();
      return { ok: true };
    case 'POST /_test/reset':
      controls.reset();
      return { ok: true };
    default:
      return undefined;
  }
}

export async function handleControlRequest(req: IncomingMessage, res: ServerResponse, rawBody: string, controls: MyFatoorahServerControls): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = (req.method ?? 'GET').toUpperCase();
  const send = (status: number, payload: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(payload, null, 2));
  };
  try {
    const parsed: unknown = rawBody.trim() === '' ? {} : JSON.parse(rawBody);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ControlError('the body must be a JSON object');
    const result = await route(method, url.pathname, parsed as Json, controls);
    if (result === undefined) send(404, { error: { message: `Unknown test control: ${method} ${url.pathname}` } });
    else send(200, result);
  } catch (error) {
    const status = error instanceof ControlError || error instanceof SyntaxError || error instanceof RangeError ? 400 : 500;
    send(status, { error: { message: error instanceof Error ? error.message : String(error) } });
  }
}
