import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';

/**
 * A local stand-in for the parts of Recurly's v3 API (API version v2021-02-25,
 * https://recurly.com/developers/api/v2021-02-25/index.html) the bridge uses, in memory:
 * plans (with setup fees) with usage add-ons (per unit, or tiered / volume / stairstep), accounts,
 * subscriptions, usage records, and charge invoices, plus test
 * controls (under /_control, not Recurly's) that close a subscription's period into an invoice and pay
 * or fail it. Every invoice change is notified to `webhookUrl` as Recurly's JSON webhooks do
 * (https://recurly.com/developers/reference/webhooks: a small notification naming the object; the
 * receiver fetches it through the API).
 */
export interface FakeRecurlyOptions {
  apiKey: string;
  port?: number;
  /** Where invoice notifications go (the bridge's Recurly webhook URL); none: not sent. */
  webhookUrl?: string;
  clock?: () => Date;
}

export interface FakeRecurly {
  url: string;
  port: number;
  state: RecurlyState;
  /** Points invoice notifications somewhere else (e.g. a bridge started after this server). */
  setWebhookUrl(url: string | undefined): void;
  close(): Promise<void>;
}

interface Money {
  currency: string;
  unit_amount?: number;
  unit_amount_decimal?: string;
  /** Plans only: the one-time fee charged when a subscription starts. */
  setup_fee?: number;
}
/**
 * A usage add-on's price tiers (https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/create_plan_add_on,
 * `tier_type` and `tiers`; models: https://docs.recurly.com/recurly-subscriptions/docs/-tiered-stairstep-and-volume-pricing).
 * `flat` prices every unit at the add-on's `currencies`; the others price by `tiers`.
 */
export type TierType = 'flat' | 'tiered' | 'volume' | 'stairstep';
/** Recurly's "no upper bound": the final tier's `ending_quantity` as Recurly answers it. */
export const LAST_TIER_ENDING_QUANTITY = 999_999_999;
export interface Tier {
  ending_quantity: number;
  currencies: { currency: string; unit_amount_decimal: string }[];
}
export interface AddOn {
  id: string;
  object: 'add_on';
  code: string;
  name: string;
  add_on_type: 'fixed' | 'usage';
  usage_type: 'price' | null;
  tier_type: TierType;
  currencies: Money[];
  tiers: Tier[];
}
export interface Plan {
  id: string;
  object: 'plan';
  code: string;
  name: string;
  state: 'active' | 'inactive';
  interval_unit: 'days' | 'months';
  interval_length: number;
  currencies: Money[];
  add_ons: AddOn[];
  created_at: string;
  updated_at: string;
}
export interface Account {
  id: string;
  object: 'account';
  code: string;
  email: string | null;
  first_name: string | null;
  created_at: string;
}
export interface Subscription {
  id: string;
  uuid: string;
  object: 'subscription';
  account: { id: string; code: string };
  plan: { id: string; code: string };
  state: 'active' | 'expired';
  currency: string;
  unit_amount: number;
  add_ons: { id: string; object: 'subscription_add_on'; add_on: { id: string; code: string }; unit_amount_decimal: string | null; usage_type: 'price'; tier_type: TierType; tiers: Tier[] }[];
  custom_fields: { name: string; value: string }[];
  current_period_started_at: string;
  current_period_ends_at: string;
  created_at: string;
  expires_at: string | null;
}
export interface Usage {
  id: string;
  object: 'usage';
  subscription_id: string;
  add_on_id: string;
  amount: number;
  merchant_tag: string | null;
  usage_timestamp: string;
  recording_timestamp: string;
  /** null for a tiered add-on: the price depends on the period's total. */
  unit_amount_decimal: string | null;
  invoice_id: string | null;
}
export interface LineItem {
  id: string;
  object: 'line_item';
  type: 'charge';
  description: string;
  quantity: number;
  /** Per unit; for a setup fee or the plan's price, the amount. */
  unit_amount: number;
  amount: number;
  add_on_code: string | null;
  start_date: string;
  end_date: string;
}
export interface Invoice {
  id: string;
  object: 'invoice';
  type: 'charge';
  number: string;
  state: 'pending' | 'processing' | 'past_due' | 'paid' | 'failed' | 'voided';
  origin: 'purchase' | 'renewal';
  account: { id: string; code: string };
  subscription_ids: string[];
  currency: string;
  subtotal: number;
  total: number;
  paid: number;
  balance: number;
  line_items: LineItem[];
  created_at: string;
  closed_at: string | null;
  /** Not Recurly's: the period the fake closed, so the bridge need not guess it. */
  period: { started_at: string; ends_at: string };
}

export interface RecurlyState {
  plans: Map<string, Plan>;
  accounts: Map<string, Account>;
  subscriptions: Map<string, Subscription>;
  usage: Usage[];
  invoices: Map<string, Invoice>;
  /** Notifications the webhook URL answered non-2xx or could not be reached for. */
  failedNotifications: { id: string; error: string }[];
}

/** Recurly's error body: `{ error: { type, message, params } }` (https://recurly.com/developers/api/v2021-02-25/index.html#section/Getting-Started/Errors). */
class RecurlyError extends Error {
  constructor(readonly status: number, readonly type: string, message: string, readonly params: { param: string; message: string }[] = []) {
    super(message);
  }
}
const notFound = (what: string) => new RecurlyError(404, 'not_found', `Couldn't find ${what}`);
const invalid = (param: string, message: string) => new RecurlyError(422, 'validation', `${param} ${message}`, [{ param, message }]);

const CODE = /^[a-z0-9@\-_.]{1,50}$/i; // Recurly codes: letters, numbers, @ - _ . ; at most 50
const id = () => randomUUID().replace(/-/g, '').slice(0, 13);

/** Recurly amounts are decimals in the major unit; round to cents as its invoices do. */
const cents = (value: number) => Math.round(value * 100) / 100;

/**
 * `quantity × price` in the major unit, rounded half up to cents, computed exactly (the price is a
 * decimal string of at most 9 decimals, as `unit_amount_decimal` allows). One rounding per invoice
 * line. Recurly's own rounding of sub-cent usage is not documented in the pages we could find; half
 * up per line is this fake's choice (and Meterline's, docs/pricing.md), not a documented fact.
 */
export function lineAmount(quantity: number, price: string): number {
  const [whole = '0', fraction = ''] = price.split('.');
  const nanos = BigInt(whole) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9) || '0');
  const total = BigInt(quantity) * nanos; // in 1e-9 of the major unit
  const centsHalfUp = (total + 5_000_000n) / 10_000_000n;
  return Number(centsHalfUp) / 100;
}

/** The lines a tiered usage add-on bills for `quantity` units (https://docs.recurly.com/recurly-subscriptions/docs/-tiered-stairstep-and-volume-pricing). */
export function tieredLines(tierType: Exclude<TierType, 'flat'>, tiers: Tier[], currency: string, quantity: number): { quantity: number; price: string; amount: number; label: string }[] {
  const priceIn = (tier: Tier) => tier.currencies.find((c) => c.currency === currency)?.unit_amount_decimal ?? '0';
  const reached = tiers.findIndex((t) => quantity <= t.ending_quantity);
  const index = reached === -1 ? tiers.length - 1 : reached;
  const tier = tiers[index]!;
  const bounds = (i: number) => `${i === 0 ? 1 : tiers[i - 1]!.ending_quantity + 1}–${tiers[i]!.ending_quantity === LAST_TIER_ENDING_QUANTITY ? '∞' : tiers[i]!.ending_quantity}`;
  // volume: every unit at the price of the tier the total falls in.
  if (tierType === 'volume') return [{ quantity, price: priceIn(tier), amount: lineAmount(quantity, priceIn(tier)), label: `tier ${bounds(index)}` }];
  // stairstep: the tier's price once, whatever the quantity within it.
  if (tierType === 'stairstep') return [{ quantity, price: priceIn(tier), amount: lineAmount(1, priceIn(tier)), label: `step ${bounds(index)}` }];
  // tiered: each tier's units at that tier's price; one line per tier reached.
  const lines = [];
  let start = 0;
  for (let i = 0; i <= index; i += 1) {
    const inTier = Math.min(quantity, tiers[i]!.ending_quantity) - start;
    lines.push({ quantity: inTier, price: priceIn(tiers[i]!), amount: lineAmount(inTier, priceIn(tiers[i]!)), label: `tier ${bounds(i)}` });
    start = tiers[i]!.ending_quantity;
  }
  return lines;
}

function addInterval(from: Date, plan: Plan): Date {
  const to = new Date(from);
  if (plan.interval_unit === 'days') to.setUTCDate(to.getUTCDate() + plan.interval_length);
  else to.setUTCMonth(to.getUTCMonth() + plan.interval_length);
  return to;
}

function moneyList(value: unknown, param: string, usage: boolean): Money[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid(param, "can't be blank");
  return value.map((entry: Record<string, unknown>, i) => {
    if (typeof entry?.currency !== 'string' || !/^[A-Z]{3}$/.test(entry.currency)) throw invalid(`${param}[${i}].currency`, 'is invalid');
    if (usage && typeof entry.unit_amount_decimal === 'string') {
      if (!/^\d+(\.\d{1,9})?$/.test(entry.unit_amount_decimal)) throw invalid(`${param}[${i}].unit_amount_decimal`, 'is invalid');
      return { currency: entry.currency, unit_amount_decimal: entry.unit_amount_decimal };
    }
    if (typeof entry.unit_amount !== 'number' || entry.unit_amount < 0) throw invalid(`${param}[${i}].unit_amount`, 'must be a number of at least 0');
    if (usage) return { currency: entry.currency, unit_amount: entry.unit_amount };
    // Plan pricing's setup_fee: 0 to 1,000,000 (https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/create_plan, currencies[].setup_fee).
    if (entry.setup_fee !== undefined && (typeof entry.setup_fee !== 'number' || entry.setup_fee < 0 || entry.setup_fee > 1_000_000)) throw invalid(`${param}[${i}].setup_fee`, 'must be a number from 0 to 1000000');
    return { currency: entry.currency, unit_amount: entry.unit_amount, ...(typeof entry.setup_fee === 'number' ? { setup_fee: entry.setup_fee } : {}) };
  });
}

function priceOf(money: Money[], currency: string): number {
  const entry = money.find((m) => m.currency === currency);
  return entry ? Number(entry.unit_amount_decimal ?? entry.unit_amount ?? 0) : 0;
}

export async function startFakeRecurly(options: FakeRecurlyOptions): Promise<FakeRecurly> {
  const clock = options.clock ?? (() => new Date());
  const state: RecurlyState = { plans: new Map(), accounts: new Map(), subscriptions: new Map(), usage: [], invoices: new Map(), failedNotifications: [] };
  const now = () => clock().toISOString();
  let invoiceNumber = 1000;
  let webhookUrl = options.webhookUrl;

  /** `{id}` or `code-{code}` (Recurly accepts both in a path). */
  const byRef = <T extends { id: string; code: string }>(map: Map<string, T>, ref: string, what: string): T => {
    const found = ref.startsWith('code-') ? [...map.values()].find((v) => v.code === ref.slice(5)) : map.get(ref);
    if (!found) throw notFound(what);
    return found;
  };
  const subscriptionOf = (ref: string): Subscription => {
    const found = ref.startsWith('uuid-') ? [...state.subscriptions.values()].find((s) => s.uuid === ref.slice(5)) : state.subscriptions.get(ref);
    if (!found) throw notFound('Subscription');
    return found;
  };

  const notify = async (invoice: Invoice, eventType: 'created' | 'paid' | 'failed' | 'voided') => {
    if (!webhookUrl) return;
    // https://recurly.com/developers/reference/webhooks (JSON format): object_type, event_type, the object's uuid.
    const notification = { id: id(), object_type: 'charge_invoice', site_id: 'fake-site', event_type: eventType, event_time: now(), uuid: invoice.id };
    try {
      const response = await fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(notification) });
      if (!response.ok) state.failedNotifications.push({ id: notification.id, error: `HTTP ${response.status}: ${await response.text()}` });
    } catch (error) {
      state.failedNotifications.push({ id: notification.id, error: String(error) });
    }
  };

  const app = express();
  app.use(express.json());
  // Basic auth, the API key as the user name and no password
  // (https://recurly.com/developers/api/v2021-02-25/index.html#section/Getting-Started/Authentication).
  app.use((req, _res, next) => {
    if (req.path.startsWith('/_control')) return next();
    const [scheme, encoded] = (req.headers.authorization ?? '').split(' ');
    const user = scheme === 'Basic' && encoded ? Buffer.from(encoded, 'base64').toString('utf8').split(':')[0] : undefined;
    next(user === options.apiKey ? undefined : new RecurlyError(401, 'unauthorized', 'Invalid API key'));
  });

  // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/create_plan
  app.post('/plans', (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body.code !== 'string' || !CODE.test(body.code)) throw invalid('code', 'is invalid');
    if ([...state.plans.values()].some((p) => p.code === body.code)) throw invalid('code', 'has already been taken');
    if (typeof body.name !== 'string' || body.name === '') throw invalid('name', "can't be blank");
    const plan: Plan = {
      id: id(),
      object: 'plan',
      code: body.code,
      name: body.name,
      state: 'active',
      interval_unit: body.interval_unit === 'days' ? 'days' : 'months',
      interval_length: typeof body.interval_length === 'number' ? body.interval_length : 1,
      currencies: moneyList(body.currencies, 'currencies', false),
      add_ons: parseAddOns(body.add_ons),
      created_at: now(),
      updated_at: now(),
    };
    state.plans.set(plan.id, plan);
    res.status(201).json(plan);
  });
  // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/get_plan
  app.get('/plans/:planId', (req, res) => {
    res.json(byRef(state.plans, req.params.planId, 'Plan'));
  });
  // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/update_plan
  app.put('/plans/:planId', (req, res) => {
    const plan = byRef(state.plans, req.params.planId, 'Plan');
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body.name === 'string') plan.name = body.name;
    if (body.currencies !== undefined) plan.currencies = moneyList(body.currencies, 'currencies', false);
    if (body.add_ons !== undefined) plan.add_ons = parseAddOns(body.add_ons);
    plan.updated_at = now();
    res.json(plan);
  });

  // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/create_account
  app.post('/accounts', (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body.code !== 'string' || !CODE.test(body.code)) throw invalid('code', 'is invalid');
    if ([...state.accounts.values()].some((a) => a.code === body.code)) throw invalid('code', 'has already been taken');
    const account: Account = { id: id(), object: 'account', code: body.code, email: typeof body.email === 'string' ? body.email : null, first_name: typeof body.first_name === 'string' ? body.first_name : null, created_at: now() };
    state.accounts.set(account.id, account);
    res.status(201).json(account);
  });
  // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/get_account
  app.get('/accounts/:accountId', (req, res) => {
    res.json(byRef(state.accounts, req.params.accountId, 'Account'));
  });

  // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/list_account_subscriptions (one page; `state` filter)
  app.get('/accounts/:accountId/subscriptions', (req, res) => {
    const account = byRef(state.accounts, req.params.accountId, 'Account');
    const wanted = typeof req.query.state === 'string' && req.query.state !== 'all' ? req.query.state : undefined;
    const data = [...state.subscriptions.values()].filter((s) => s.account.id === account.id && (wanted === undefined || s.state === wanted));
    res.json({ object: 'list', has_more: false, next: null, data });
  });

  // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/create_subscription
  app.post('/subscriptions', (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body.plan_code !== 'string') throw invalid('plan_code', "can't be blank");
    const plan = [...state.plans.values()].find((p) => p.code === body.plan_code);
    if (!plan) throw invalid('plan_code', 'is invalid');
    const accountCode = (body.account as Record<string, unknown> | undefined)?.code;
    if (typeof accountCode !== 'string') throw invalid('account.code', "can't be blank");
    const account = [...state.accounts.values()].find((a) => a.code === accountCode);
    if (!account) throw invalid('account.code', 'is invalid');
    const currency = typeof body.currency === 'string' ? body.currency : plan.currencies[0]!.currency;
    if (!plan.currencies.some((m) => m.currency === currency)) throw invalid('currency', 'is not offered by the plan');
    const requested = Array.isArray(body.add_ons) ? (body.add_ons as Record<string, unknown>[]) : [];
    const addOns = requested.map((entry, i) => {
      const addOn = plan.add_ons.find((a) => a.code === entry?.code);
      if (!addOn) throw invalid(`add_ons[${i}].code`, 'is invalid');
      if (addOn.tier_type !== 'flat' && addOn.tiers.some((t) => !t.currencies.some((c) => c.currency === currency))) throw invalid(`add_ons[${i}].code`, `has tiers without a ${currency} price`);
      const flat = addOn.tier_type === 'flat';
      return { id: id(), object: 'subscription_add_on' as const, add_on: { id: addOn.id, code: addOn.code }, unit_amount_decimal: flat ? String(priceOf(addOn.currencies, currency)) : null, usage_type: 'price' as const, tier_type: addOn.tier_type, tiers: addOn.tiers };
    });
    const customFields = Array.isArray(body.custom_fields) ? (body.custom_fields as { name: string; value: string }[]).map((f) => ({ name: String(f.name), value: String(f.value) })) : [];
    const started = clock();
    const uuid = randomUUID().replace(/-/g, '');
    const subscription: Subscription = {
      id: id(),
      uuid,
      object: 'subscription',
      account: { id: account.id, code: account.code },
      plan: { id: plan.id, code: plan.code },
      state: 'active',
      currency,
      unit_amount: priceOf(plan.currencies, currency),
      add_ons: addOns,
      custom_fields: customFields,
      current_period_started_at: started.toISOString(),
      current_period_ends_at: addInterval(started, plan).toISOString(),
      created_at: started.toISOString(),
      expires_at: null,
    };
    state.subscriptions.set(subscription.id, subscription);
    res.status(201).json(subscription);
  });
  app.get('/subscriptions/:subscriptionId', (req, res) => {
    res.json(subscriptionOf(req.params.subscriptionId));
  });
  // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/terminate_subscription
  app.delete('/subscriptions/:subscriptionId', (req, res) => {
    const subscription = subscriptionOf(req.params.subscriptionId);
    if (subscription.state === 'expired') throw new RecurlyError(400, 'invalid_transition', 'Subscription is already expired');
    subscription.state = 'expired';
    subscription.expires_at = now();
    res.json(subscription);
  });

  const usageAddOn = (subscription: Subscription, ref: string) => {
    const addOn = subscription.add_ons.find((a) => a.id === ref || a.add_on.id === ref || `code-${a.add_on.code}` === ref);
    if (!addOn) throw notFound('Add-on');
    return addOn;
  };
  // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/create_usage
  app.post('/subscriptions/:subscriptionId/add_ons/:addOnId/usage', (req, res) => {
    const subscription = subscriptionOf(req.params.subscriptionId);
    const addOn = usageAddOn(subscription, req.params.addOnId);
    if (subscription.state !== 'active') throw new RecurlyError(400, 'invalid_transition', 'Usage can only be recorded on an active subscription');
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body.amount !== 'number' || !Number.isFinite(body.amount) || body.amount < 0) throw invalid('amount', 'must be a number of at least 0');
    const usageTimestamp = typeof body.usage_timestamp === 'string' ? new Date(body.usage_timestamp) : clock();
    if (Number.isNaN(usageTimestamp.getTime())) throw invalid('usage_timestamp', 'is invalid');
    // "Cannot create usage record with a usage timestamp in the future" (https://docs.recurly.com/recurly-subscriptions/v2.29/reference/logusage).
    if (usageTimestamp.getTime() > clock().getTime()) throw invalid('usage_timestamp', 'cannot be in the future');
    const usage: Usage = {
      id: id(),
      object: 'usage',
      subscription_id: subscription.id,
      add_on_id: addOn.id,
      amount: body.amount,
      merchant_tag: typeof body.merchant_tag === 'string' ? body.merchant_tag : null,
      usage_timestamp: usageTimestamp.toISOString(),
      recording_timestamp: now(),
      unit_amount_decimal: addOn.unit_amount_decimal,
      invoice_id: null,
    };
    state.usage.push(usage);
    res.status(201).json(usage);
  });
  // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/list_usage (a page of every record; no cursor here)
  app.get('/subscriptions/:subscriptionId/add_ons/:addOnId/usage', (req, res) => {
    const subscription = subscriptionOf(req.params.subscriptionId);
    const addOn = usageAddOn(subscription, req.params.addOnId);
    const data = state.usage.filter((u) => u.subscription_id === subscription.id && u.add_on_id === addOn.id);
    res.json({ object: 'list', has_more: false, next: null, data });
  });

  // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/get_invoice
  app.get('/invoices/:invoiceId', (req, res) => {
    const invoice = state.invoices.get(req.params.invoiceId);
    if (!invoice) throw notFound('Invoice');
    res.json(invoice);
  });

  // Test controls (not Recurly's API): close the current period of a subscription into a charge
  // invoice (the plan's price plus its uninvoiced usage, as Recurly's renewal invoice bills it, and on
  // the subscription's first invoice the plan's setup fee as a line of its own), then pay or fail it.
  // Recurly charges the setup fee when the subscription starts (PlanPricing.setup_fee: "charged at the
  // beginning of a subscription billing cycle"); this fake has no purchase invoice, so its first
  // invoice carries it. Each notifies the webhook URL before answering, so a caller sees its effect.
  app.post('/_control/subscriptions/:subscriptionId/close-period', async (req, res) => {
    const subscription = subscriptionOf(req.params.subscriptionId);
    const plan = state.plans.get(subscription.plan.id)!;
    const start = subscription.current_period_started_at;
    const end = subscription.current_period_ends_at;
    const lines: LineItem[] = [];
    const firstInvoice = ![...state.invoices.values()].some((i) => i.subscription_ids.includes(subscription.id));
    const setupFee = plan.currencies.find((m) => m.currency === subscription.currency)?.setup_fee ?? 0;
    if (firstInvoice && setupFee > 0) {
      lines.push({ id: id(), object: 'line_item', type: 'charge', description: `${plan.name} setup fee`, quantity: 1, unit_amount: setupFee, amount: setupFee, add_on_code: null, start_date: start, end_date: end });
    }
    if (subscription.unit_amount > 0) {
      lines.push({ id: id(), object: 'line_item', type: 'charge', description: plan.name, quantity: 1, unit_amount: subscription.unit_amount, amount: subscription.unit_amount, add_on_code: null, start_date: start, end_date: end });
    }
    const invoiceId = id();
    for (const addOn of subscription.add_ons) {
      const records = state.usage.filter((u) => u.subscription_id === subscription.id && u.add_on_id === addOn.id && u.invoice_id === null && u.usage_timestamp < end);
      if (records.length === 0) continue;
      const quantity = records.reduce((sum, u) => sum + u.amount, 0);
      records.forEach((u) => (u.invoice_id = invoiceId));
      if (addOn.tier_type === 'flat') {
        const price = addOn.unit_amount_decimal ?? '0';
        lines.push({ id: id(), object: 'line_item', type: 'charge', description: `${addOn.add_on.code} usage`, quantity, unit_amount: Number(price), amount: lineAmount(quantity, price), add_on_code: addOn.add_on.code, start_date: start, end_date: end });
        continue;
      }
      for (const line of tieredLines(addOn.tier_type, addOn.tiers, subscription.currency, quantity)) {
        lines.push({ id: id(), object: 'line_item', type: 'charge', description: `${addOn.add_on.code} usage, ${line.label}`, quantity: line.quantity, unit_amount: Number(line.price), amount: line.amount, add_on_code: addOn.add_on.code, start_date: start, end_date: end });
      }
    }
    const total = cents(lines.reduce((sum, l) => sum + l.amount, 0));
    invoiceNumber += 1;
    const invoice: Invoice = {
      id: invoiceId,
      object: 'invoice',
      type: 'charge',
      number: String(invoiceNumber),
      state: 'pending',
      origin: 'renewal',
      account: subscription.account,
      subscription_ids: [subscription.id],
      currency: subscription.currency,
      subtotal: total,
      total,
      paid: 0,
      balance: total,
      line_items: lines,
      created_at: now(),
      closed_at: null,
      period: { started_at: start, ends_at: end },
    };
    state.invoices.set(invoice.id, invoice);
    subscription.current_period_started_at = end;
    subscription.current_period_ends_at = addInterval(new Date(end), plan).toISOString();
    await notify(invoice, 'created');
    res.status(201).json(invoice);
  });
  const settle = (outcome: 'paid' | 'failed') => async (req: Request<{ invoiceId: string }>, res: Response) => {
    const invoice = state.invoices.get(req.params.invoiceId);
    if (!invoice) throw notFound('Invoice');
    if (invoice.state === 'paid' || invoice.state === 'voided') throw new RecurlyError(400, 'invalid_transition', `Invoice is already ${invoice.state}`);
    if (outcome === 'paid') {
      invoice.state = 'paid';
      invoice.paid = invoice.total;
      invoice.balance = 0;
      invoice.closed_at = now();
    } else {
      invoice.state = 'past_due';
    }
    await notify(invoice, outcome);
    res.json(invoice);
  };
  app.post('/_control/invoices/:invoiceId/pay', settle('paid'));
  app.post('/_control/invoices/:invoiceId/fail', settle('failed'));

  app.use((_req, _res, next) => next(new RecurlyError(404, 'not_found', 'The requested resource was not found')));
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof RecurlyError) {
      res.status(error.status).json({ error: { type: error.type, message: error.message, params: error.params } });
      return;
    }
    const bad = (error as { type?: string }).type === 'entity.parse.failed';
    res.status(bad ? 400 : 500).json({ error: { type: bad ? 'bad_request' : 'internal_server_error', message: bad ? 'The request body is not valid JSON' : String(error), params: [] } });
  });

  const server: Server = await new Promise((resolve) => {
    const s = app.listen(options.port ?? 0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    state,
    setWebhookUrl: (url) => {
      webhookUrl = url;
    },
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

function parseAddOns(value: unknown): AddOn[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid('add_ons', 'must be a list');
  return value.map((entry: Record<string, unknown>, i) => {
    if (typeof entry?.code !== 'string' || !CODE.test(entry.code)) throw invalid(`add_ons[${i}].code`, 'is invalid');
    if (typeof entry.name !== 'string' || entry.name === '') throw invalid(`add_ons[${i}].name`, "can't be blank");
    // https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/create_plan_add_on: usage add-ons of usage_type 'price' bill unit_amount per unit.
    const usage = entry.add_on_type === 'usage';
    if (usage && entry.usage_type !== 'price') throw invalid(`add_ons[${i}].usage_type`, "must be 'price' here (percentage is not modelled)");
    const tierType = entry.tier_type ?? 'flat';
    if (!TIER_TYPES.includes(tierType as TierType)) throw invalid(`add_ons[${i}].tier_type`, `is not included in the list (${TIER_TYPES.join(', ')})`);
    const flat = tierType === 'flat';
    // tier_type flat: priced by currencies, no tiers; otherwise: priced by tiers (currencies not needed).
    if (flat && entry.tiers !== undefined) throw invalid(`add_ons[${i}].tiers`, "must be blank when tier_type is 'flat'");
    return {
      id: id(),
      object: 'add_on' as const,
      code: entry.code,
      name: entry.name,
      add_on_type: usage ? ('usage' as const) : ('fixed' as const),
      usage_type: usage ? ('price' as const) : null,
      tier_type: tierType as TierType,
      currencies: flat || entry.currencies !== undefined ? moneyList(entry.currencies, `add_ons[${i}].currencies`, usage) : [],
      tiers: flat ? [] : parseTiers(entry.tiers, `add_ons[${i}].tiers`, usage),
    };
  });
}

const TIER_TYPES: readonly TierType[] = ['flat', 'tiered', 'volume', 'stairstep'];

/**
 * Tiers as Recurly's Tier schema has them (create_plan_add_on, `tiers[]`): at least one; each
 * `ending_quantity` a whole number from 1 to 999,999,999, ascending; the final tier's left empty
 * (Recurly then answers 999999999) or 999999999; each tier priced in `currencies` (`unit_amount_decimal`
 * up to 9 decimals for usage add-ons, else `unit_amount`).
 */
function parseTiers(value: unknown, param: string, usage: boolean): Tier[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid(param, "can't be blank");
  let previous = 0;
  return value.map((entry: Record<string, unknown>, i) => {
    const last = i === value.length - 1;
    const given = entry?.ending_quantity;
    if (given !== undefined && given !== null && (typeof given !== 'number' || !Number.isInteger(given) || given < 1 || given > LAST_TIER_ENDING_QUANTITY)) {
      throw invalid(`${param}[${i}].ending_quantity`, `must be a whole number from 1 to ${LAST_TIER_ENDING_QUANTITY}`);
    }
    const ending = given === undefined || given === null ? (last ? LAST_TIER_ENDING_QUANTITY : undefined) : given;
    if (ending === undefined) throw invalid(`${param}[${i}].ending_quantity`, "can't be blank (only the final tier's may be)");
    if (ending <= previous) throw invalid(`${param}[${i}].ending_quantity`, `must be greater than the tier before's (${previous})`);
    if (last && ending !== LAST_TIER_ENDING_QUANTITY) throw invalid(`${param}[${i}].ending_quantity`, `must be blank or ${LAST_TIER_ENDING_QUANTITY} for the final tier`);
    previous = ending;
    const currencies = moneyList(entry.currencies, `${param}[${i}].currencies`, usage).map((m) => ({ currency: m.currency, unit_amount_decimal: m.unit_amount_decimal ?? String(m.unit_amount ?? 0) }));
    return { ending_quantity: ending, currencies };
  });
}
