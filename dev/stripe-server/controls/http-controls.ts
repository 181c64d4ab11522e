import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultRule } from '../faults/faults';
import type { RequestMatcher } from '../faults/match';
import type { RateLimitConfig } from '../faults/rate-limit';
import type { StripeServerControls } from '../controls';
import { hostedInvoicePage } from './hosted-invoice';
import { invoicePdf } from './invoice-pdf';
import { StripeApiError } from '../http/errors';

/**
 * Test-only HTTP controls under `/_test/`, mirroring the in-process handle so
 * demo scripts and manual runs can drive time, faults and webhooks. Bodies are
 * JSON. They need no API key: this server is never exposed beyond 127.0.0.1.
 */
type Json = Record<string, unknown>;

class ControlError extends Error {}

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

function matcher(value: unknown): RequestMatcher | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) throw new ControlError('match must be an object');
  const m = value as Json;
  const result: RequestMatcher = {};
  const method = text(m, 'method');
  const path = text(m, 'path');
  const account = text(m, 'account');
  if (method !== undefined) result.method = method;
  if (path !== undefined) result.path = path;
  if (account !== undefined) result.account = account;
  return result;
}

function faultRule(body: Json): FaultRule {
  const kind = text(body, 'kind');
  if (kind !== 'error' && kind !== 'drop' && kind !== 'delay' && kind !== 'lose_response') {
    throw new ControlError("kind must be 'error', 'drop', 'delay' or 'lose_response'");
  }
  const rule: FaultRule = { kind };
  const match = matcher(body.match);
  if (match) rule.match = match;
  const nth = num(body, 'nth');
  const rate = num(body, 'rate');
  const times = num(body, 'times');
  const delayMs = num(body, 'delay_ms');
  if (nth !== undefined) rule.nth = nth;
  if (rate !== undefined) rule.rate = rate;
  if (times !== undefined) rule.times = times;
  if (delayMs !== undefined) rule.delayMs = delayMs;
  if (body.stored !== undefined) {
    if (typeof body.stored !== 'boolean') throw new ControlError('stored must be a boolean');
    rule.stored = body.stored;
  }
  return rule;
}

function rateLimitConfig(body: Json): RateLimitConfig {
  const config: RateLimitConfig = {};
  const global = num(body, 'global');
  const perEndpoint = num(body, 'per_endpoint');
  if (global !== undefined) config.global = global;
  if (perEndpoint !== undefined) config.perEndpoint = perEndpoint;
  if (body.endpoints !== undefined) {
    if (!Array.isArray(body.endpoints)) throw new ControlError('endpoints must be an array');
    config.endpoints = body.endpoints.map((e: Json) => ({
      match: matcher(e.match) ?? {},
      requestsPerSecond: num(e, 'requests_per_second') ?? 0,
    }));
  }
  return config;
}

function parseBody(raw: string): Json {
  if (raw.trim() === '') return {};
  const parsed: unknown = JSON.parse(raw);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ControlError('body must be a JSON object');
  return parsed as Json;
}

async function route(method: string, path: string, body: Json, controls: StripeServerControls): Promise<unknown> {
  const hosted = /^\/_test\/hosted_invoices\/([^/]+)\/([^/]+?)(\/pdf)?$/.exec(path);
  if (method === 'GET' && hosted) {
    const invoice = controls.invoice(hosted[1] ?? '', hosted[2] ?? '');
    if (!invoice) throw new ControlError('no such invoice');
    // `invoice_pdf` is the hosted page's URL + /pdf (billing/invoice-lifecycle.ts).
    return hosted[3] ? { pdf: invoicePdf(invoice) } : { html: hostedInvoicePage(invoice) };
  }
  const key = `${method} ${path}`;
  switch (key) {
    case 'GET /_test/clock':
      return { now: controls.clock.now() };
    case 'POST /_test/clock/advance': {
      const seconds = num(body, 'seconds');
      const to = num(body, 'to');
      if ((seconds === undefined) === (to === undefined)) throw new ControlError('give exactly one of seconds or to');
      return { now: to !== undefined ? controls.clock.advanceTo(to) : controls.clock.advance(seconds ?? 0) };
    }
    case 'POST /_test/payments/fail_next': {
      const input: Parameters<StripeServerControls['payments']['failNext']>[0] = {};
      const customer = text(body, 'customer');
      const paymentMethod = text(body, 'payment_method');
      const count = num(body, 'count');
      const declineCode = text(body, 'decline_code');
      if (customer !== undefined) input.customer = customer;
      if (paymentMethod !== undefined) input.paymentMethod = paymentMethod;
      if (count !== undefined) input.count = count;
      if (declineCode !== undefined) input.declineCode = declineCode;
      controls.payments.failNext(input);
      return { ok: true };
    }
    case 'GET /_test/billing/aggregation_delay':
      return { seconds: controls.billing.aggregationDelaySeconds() };
    case 'POST /_test/billing/aggregation_delay':
      controls.billing.setAggregationDelay(num(body, 'seconds') ?? Number.NaN);
      return { seconds: controls.billing.aggregationDelaySeconds() };
    case 'POST /_test/payments/complete_authentication': {
      const account = text(body, 'account');
      const invoice = text(body, 'invoice');
      if (!account || !invoice) throw new ControlError('account and invoice are required');
      controls.payments.completeAuthentication(account, invoice);
      return { ok: true };
    }
    case 'POST /_test/billing/exhaust_retries': {
      const account = text(body, 'account');
      const invoice = text(body, 'invoice');
      if (!account || !invoice) throw new ControlError('account and invoice are required');
      const subscription = text(body, 'subscription');
      const invoiceOutcome = text(body, 'invoice_outcome');
      if (subscription !== undefined && !['cancel', 'unpaid', 'past_due'].includes(subscription)) throw new ControlError('subscription must be cancel, unpaid or past_due');
      if (invoiceOutcome !== undefined && !['uncollectible', 'past_due'].includes(invoiceOutcome)) throw new ControlError('invoice_outcome must be uncollectible or past_due');
      controls.billing.exhaustRetries(account, invoice, {
        ...(subscription ? { subscription: subscription as 'cancel' | 'unpaid' | 'past_due' } : {}),
        ...(invoiceOutcome ? { invoice: invoiceOutcome as 'uncollectible' | 'past_due' } : {}),
      });
      return { ok: true };
    }
    case 'POST /_test/faults':
      return { id: controls.faults.add(faultRule(body)) };
    case 'DELETE /_test/faults':
      controls.faults.clear(num(body, 'seed'));
      return { ok: true };
    case 'POST /_test/rate_limit':
      controls.faults.rateLimit(rateLimitConfig(body));
      return { ok: true };
    case 'GET /_test/requests':
      return { data: controls.requests.list() };
    case 'DELETE /_test/requests':
      controls.requests.reset();
      return { ok: true };
    case 'GET /_test/webhooks/deliveries':
      return { data: controls.webhooks.deliveries() };
    case 'GET /_test/webhooks/pending':
      return { data: controls.webhooks.pending().map((d) => ({ event_id: d.event.id, type: d.event.type, endpoint_id: d.endpointId })) };
    case 'POST /_test/webhooks/flush':
      await controls.webhooks.flush();
      return { ok: true };
    case 'POST /_test/webhooks/pause':
      controls.webhooks.pause();
      return { ok: true };
    case 'POST /_test/webhooks/resume':
      controls.webhooks.resume();
      return { ok: true };
    case 'POST /_test/webhooks/reorder': {
      const order = body.event_ids;
      if (!Array.isArray(order) || !order.every((id) => typeof id === 'string')) throw new ControlError('event_ids must be an array of strings');
      controls.webhooks.reorder(order);
      return { ok: true };
    }
    case 'POST /_test/webhooks/replay': {
      const eventId = text(body, 'event_id');
      if (!eventId) throw new ControlError('event_id is required');
      return { replayed: controls.webhooks.replay(eventId, text(body, 'endpoint_id')) };
    }
    case 'POST /_test/reset':
      controls.reset();
      return { ok: true };
    default:
      return undefined;
  }
}

export async function handleControlRequest(req: IncomingMessage, res: ServerResponse, rawBody: string, controls: StripeServerControls): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = (req.method ?? 'GET').toUpperCase();
  try {
    const result = await route(method, url.pathname, parseBody(rawBody), controls);
    if (result === undefined) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Unknown test control: ${method} ${url.pathname}` } }));
      return;
    }
    if (typeof result === 'object' && result !== null && 'pdf' in result) {
      res.writeHead(200, { 'Content-Type': 'application/pdf' });
      res.end((result as { pdf: Buffer }).pdf);
      return;
    }
    if (typeof result === 'object' && result !== null && 'html' in result) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(String((result as { html: string }).html));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(result, null, 2));
  } catch (error) {
    // A control refused in Stripe's terms (e.g. an invoice in the wrong state) is the caller's error too.
    const refused = error instanceof StripeApiError && error.status < 500;
    const status = refused || error instanceof ControlError || error instanceof SyntaxError || error instanceof RangeError ? 400 : 500;
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: { message: error instanceof Error ? error.message : String(error) } }));
  }
}
