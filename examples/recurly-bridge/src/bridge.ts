import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RecurlyApiError, RecurlyClient, type RecurlyInvoice, type RecurlyPlanBody, type RecurlyUsageAddOn } from './recurly-client';
import { signedHeaders, verify } from './standard-webhooks';

/**
 * The example integration of docs/custom-billing.md: receives Meterline's signed operations on
 * `POST /meterline` and maps Axway's three flows onto Recurly (provision plan, provision subscription,
 * report traffic), and turns Recurly's invoice notifications (`POST /recurly/webhooks`) into signed
 * invoice events on Meterline's inbound endpoint. One bridge serves one Meterline tenant (the secrets
 * are the tenant's).
 */
export interface BridgeOptions {
  /** Meterline's base URL, e.g. http://127.0.0.1:9443 */
  meterlineUrl: string;
  tenant: string;
  /** The tenant's integration_signing_secret (verifies Meterline's requests). */
  signingSecret: string;
  /** The tenant's integration_inbound_secret (signs invoice events to Meterline). */
  inboundSecret: string;
  recurlyUrl: string;
  recurlyApiKey: string;
  port?: number;
  host?: string;
  /** Checks the freshness of Meterline's signatures (default: the wall clock). */
  clock?: () => Date;
  /** Timestamps the invoice events' signatures (default: `clock`); Meterline checks them against its wall clock. */
  inboundClock?: () => Date;
  log?: (line: string) => void;
}

export interface RunningBridge {
  url: string;
  port: number;
  /** The URL to configure as the tenant's integration_url. */
  integrationUrl: string;
  /** The URL to configure as Recurly's webhook endpoint. */
  recurlyWebhookUrl: string;
  close(): Promise<void>;
}

/** The usage add-on Meterline meters (`addOns[].code` of subscription.created, `addOn` of usage.reported). */
const RECURLY_CODE_MAX = 50;
const METERLINE_ID_FIELD = 'meterline_subscription_id';

/** An answer to send: status and JSON body. */
interface Answer {
  status: number;
  body: unknown;
}
const ok = (body: unknown = {}): Answer => ({ status: 200, body });
const refuse = (status: number, message: string, field?: string): Answer => ({ status, body: { error: message, ...(field ? { field } : {}) } });

/** Recurly codes allow letters, digits, @ - _ . and at most 50 characters. */
export function recurlyCode(prefix: string, id: string): string {
  return `${prefix}${id.toLowerCase().replace(/[^a-z0-9@\-_.]/g, '_')}`.slice(0, RECURLY_CODE_MAX);
}

/** Axway: "a plan code that contains the product plan id" — Meterline's policy id here. */
export const planCodeOf = (policyId: string) => recurlyCode('amplify-plan-', policyId);
/** Axway's account codes: amplify-user-{id}, amplify-team-{id}, amplify-org-{id}. */
export const accountCodeOf = (kind: string, id: string) => recurlyCode(`amplify-${kind}-`, id);

/** Decimal major units (Recurly) to minor units as a digit string (Meterline); currencies without minor unit kept whole. */
const ZERO_DECIMAL = new Set(['JPY', 'KRW', 'CLP', 'VND', 'ISK', 'UGX', 'XAF', 'XOF']);
export function minorUnits(amount: number, currency: string): string {
  return String(Math.round(ZERO_DECIMAL.has(currency.toUpperCase()) ? amount : amount * 100));
}

interface PolicyData {
  id: string;
  name: string;
  displayName?: string;
  currency: string;
  billingCycle: 'day' | 'week' | 'month' | 'year';
  plan: 'FIXEDRATE' | 'DYNAMICRATE';
  fixedPrice?: string;
  pricePerRequest?: string;
  usageModel?: string;
  tiers?: { upTo: number | null; unitPrice: string; flatPrice: string }[];
  packageSize?: number;
  packagePrice?: string;
  setupFee?: string;
}

/** Recurly's greatest `ending_quantity` (its "no upper bound", what it answers for the final tier). */
const RECURLY_MAX_QUANTITY = 999_999_999;
/** `unit_amount_decimal` allows up to 9 decimals. */
const RECURLY_DECIMAL = /^\d+(\.\d{1,9})?$/;
const isZero = (decimal: string) => /^0*(\.0*)?$/.test(decimal);

/**
 * Meterline's tiers as a Recurly usage add-on's (https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/create_plan_add_on,
 * `tier_type` and `tiers`; the models: https://docs.recurly.com/recurly-subscriptions/docs/-tiered-stairstep-and-volume-pricing):
 * `graduated` is Recurly's `tiered` (each tier's units at its price), `volume` its `volume` (every
 * unit at the price of the tier the total falls in). `upTo` becomes `ending_quantity`; the final
 * tier (upTo null) has none, as Recurly asks ("must be left empty if it is the final tier"; Recurly
 * answers it as 999999999). Recurly's tiers have a unit price only, so a tier with a flat fee cannot
 * be mapped.
 */
function tieredAddOn(policy: PolicyData, tierType: 'tiered' | 'volume'): RecurlyUsageAddOn | Answer {
  const currency = policy.currency.toUpperCase();
  const tiers = policy.tiers ?? [];
  if (tiers.length === 0) return refuse(422, `usage model ${policy.usageModel} needs tiers`, 'policy.tiers');
  const mapped: RecurlyUsageAddOn['tiers'] = [];
  for (const [i, tier] of tiers.entries()) {
    const last = i === tiers.length - 1;
    if (!isZero(tier.flatPrice ?? '0')) {
      return refuse(422, `tier ${i + 1} has a flat fee (${tier.flatPrice}): Recurly's tiers price each unit only, with no fee for reaching a tier`, `policy.tiers[${i}].flatPrice`);
    }
    if (!RECURLY_DECIMAL.test(tier.unitPrice)) return refuse(422, `Recurly takes unit prices of at most 9 decimals (${tier.unitPrice})`, `policy.tiers[${i}].unitPrice`);
    if (last !== (tier.upTo === null)) return refuse(422, 'only the last tier has no upper bound', `policy.tiers[${i}].upTo`);
    if (tier.upTo !== null && tier.upTo >= RECURLY_MAX_QUANTITY) return refuse(422, `Recurly's tier bounds stop below ${RECURLY_MAX_QUANTITY} (its "no limit")`, `policy.tiers[${i}].upTo`);
    mapped.push({ ...(tier.upTo === null ? {} : { ending_quantity: tier.upTo }), currencies: [{ currency, unit_amount_decimal: tier.unitPrice }] });
  }
  return { code: 'calls', name: 'API calls', add_on_type: 'usage', usage_type: 'price', tier_type: tierType, tiers: mapped };
}

const INTERVALS: Record<PolicyData['billingCycle'], { interval_unit: 'days' | 'months'; interval_length: number }> = {
  day: { interval_unit: 'days', interval_length: 1 },
  week: { interval_unit: 'days', interval_length: 7 },
  month: { interval_unit: 'months', interval_length: 1 },
  year: { interval_unit: 'months', interval_length: 12 },
};

export async function startBridge(options: BridgeOptions): Promise<RunningBridge> {
  const clock = options.clock ?? (() => new Date());
  const inboundClock = options.inboundClock ?? clock;
  const log = options.log ?? (() => undefined);
  const recurly = new RecurlyClient(options.recurlyUrl, options.recurlyApiKey);
  /**
   * First answers by webhook-id: a repeated id is answered as the first time (the protocol asks it).
   * In memory for the example; a production bridge keeps them (45 days) in its database. Usage is
   * also deduplicated against Recurly itself (merchant_tag), which survives a restart.
   */
  const answered = new Map<string, Answer>();

  function planBody(policy: PolicyData): Omit<RecurlyPlanBody, 'code'> | Answer {
    const currency = policy.currency.toUpperCase();
    const addOns: RecurlyPlanBody['add_ons'] = [];
    if (policy.plan === 'DYNAMICRATE') {
      const model = policy.usageModel ?? 'per_unit';
      if (model === 'per_unit') {
        if (policy.pricePerRequest === undefined) return refuse(422, 'a per_unit policy needs pricePerRequest', 'policy.pricePerRequest');
        // A usage add-on priced per unit; unit_amount_decimal keeps sub-cent prices (up to 9 decimals).
        addOns.push({ code: 'calls', name: 'API calls', add_on_type: 'usage', usage_type: 'price', currencies: [{ currency, unit_amount_decimal: policy.pricePerRequest }] });
      } else if (model === 'graduated' || model === 'volume') {
        const addOn = tieredAddOn(policy, model === 'graduated' ? 'tiered' : 'volume');
        if ('status' in addOn) return addOn;
        addOns.push(addOn);
      } else if (model === 'package') {
        // Recurly's stairstep charges one price for a whole quantity range and its tiers end at fixed
        // bounds, so "packagePrice for every started package of packageSize calls" (unbounded, repeating)
        // has no Recurly add-on equivalent.
        return refuse(422, 'usage model package has no Recurly equivalent: Recurly prices per unit, per tier or per step (stairstep, a fixed list of ranges), not per started package of packageSize calls', 'policy.usageModel');
      } else {
        return refuse(422, `usage model ${model} is not mapped`, 'policy.usageModel');
      }
    }
    const interval = INTERVALS[policy.billingCycle];
    if (!interval) return refuse(422, `billing cycle ${policy.billingCycle} is not mapped`, 'policy.billingCycle');
    // The setup fee is the plan's (currencies[].setup_fee, https://docs.recurly.com/recurly-subscriptions/v2021-02-25/reference/create_plan):
    // Recurly charges it once, when a subscription starts. Meterline's is exact in the currency (cents
    // for USD). Sent as 0 when the policy has none, so a plan.updated that drops the fee clears it.
    return { name: policy.displayName || policy.name, ...interval, currencies: [{ currency, unit_amount: Number(policy.fixedPrice ?? '0'), setup_fee: Number(policy.setupFee ?? '0') }], add_ons: addOns };
  }

  async function provisionPlan(policy: PolicyData): Promise<Answer> {
    const code = planCodeOf(policy.id);
    const body = planBody(policy);
    if ('status' in body) return body;
    if (await recurly.findPlan(code)) {
      await recurly.updatePlan(code, { name: body.name, currencies: body.currencies, add_ons: body.add_ons });
    } else {
      await recurly.createPlan({ code, ...body });
    }
    log(`plan ${code} provisioned`);
    return ok({ planCode: code });
  }

  async function provisionSubscription(data: {
    subscription: { id: string; planCode: string };
    account: { kind: string; id: string; name?: string; email: string | null };
    addOns: { code: string }[];
  }): Promise<Answer> {
    const accountCode = accountCodeOf(data.account.kind, data.account.id);
    if (!(await recurly.findAccount(accountCode))) {
      await recurly.createAccount({ code: accountCode, ...(data.account.email ? { email: data.account.email } : {}), ...(data.account.name ? { first_name: data.account.name } : {}) });
    }
    // Made already (Meterline re-sent after a lost answer or a restart of this bridge): answer it again.
    const existing = (await recurly.listAccountSubscriptions(accountCode)).data.find((s) => s.custom_fields.some((f) => f.name === METERLINE_ID_FIELD && f.value === data.subscription.id));
    if (existing) return ok({ accountCode, subscriptionId: existing.id });
    const plan = await recurly.findPlan(data.subscription.planCode);
    if (!plan) return refuse(422, `no Recurly plan ${data.subscription.planCode}`, 'subscription.planCode');
    const currency = ((plan as { currencies?: { currency: string }[] }).currencies ?? [])[0]?.currency ?? 'USD';
    const created = await recurly.createSubscription({
      plan_code: data.subscription.planCode,
      currency,
      account: { code: accountCode },
      add_ons: data.addOns.map((a) => ({ code: a.code })),
      // Names Meterline's subscription on Recurly's, so invoice events can name both after a restart.
      custom_fields: [{ name: METERLINE_ID_FIELD, value: data.subscription.id }],
    });
    log(`subscription ${created.id} for ${accountCode}`);
    return ok({ accountCode, subscriptionId: created.id });
  }

  async function reportUsage(data: { identifier: string; subscription: { externalSubscriptionId: string }; addOn: string; quantity: number; windowStart: string }): Promise<Answer> {
    const subscription = await recurly.getSubscription(data.subscription.externalSubscriptionId);
    const addOn = subscription.add_ons.find((a) => a.add_on.code === data.addOn);
    if (!addOn) return refuse(422, `subscription ${subscription.id} has no add-on ${data.addOn}`, 'addOn');
    // The identifier is the usage's deterministic id: recorded once, whatever Meterline re-sends.
    const existing = await recurly.listUsage(subscription.id, addOn.id);
    if (existing.data.some((u) => u.merchant_tag === data.identifier)) return ok({ duplicate: true });
    await recurly.createUsage(subscription.id, addOn.id, { amount: data.quantity, merchant_tag: data.identifier, usage_timestamp: data.windowStart });
    return ok({ recorded: true });
  }

  async function terminate(data: { subscription: { externalSubscriptionId: string } }): Promise<Answer> {
    try {
      await recurly.terminateSubscription(data.subscription.externalSubscriptionId);
    } catch (error) {
      // Already expired (a repeat) or gone: the outcome Meterline asked for.
      if (!(error instanceof RecurlyApiError && (error.status === 404 || error.type === 'invalid_transition'))) throw error;
    }
    return ok();
  }

  async function operation(type: string, data: Record<string, unknown>): Promise<Answer> {
    if (data.tenant !== options.tenant) return refuse(422, `this bridge serves tenant ${options.tenant}`, 'data.tenant');
    switch (type) {
      case 'plan.created':
      case 'plan.updated':
        return provisionPlan(data.policy as PolicyData);
      case 'subscription.created':
        return provisionSubscription(data as Parameters<typeof provisionSubscription>[0]);
      case 'usage.reported':
        return reportUsage(data as Parameters<typeof reportUsage>[0]);
      case 'subscription.deleted':
        return terminate(data as Parameters<typeof terminate>[0]);
      // Nothing to do in Recurly for these: a plan stays for its existing subscriptions, and
      // which APIs are monetized is Meterline's business.
      case 'plan.deleted':
      case 'monetization.enabled':
      case 'monetization.disabled':
        return ok();
      default:
        return ok({ ignored: type });
    }
  }

  async function fromMeterline(req: IncomingMessage, raw: string): Promise<Answer> {
    const verified = verify(options.signingSecret, req.headers, raw, clock());
    if (!verified.ok) return refuse(401, `bad signature: ${verified.reason}`);
    const first = answered.get(verified.id);
    if (first) return first;
    let message: { type?: unknown; data?: unknown };
    try {
      message = JSON.parse(raw) as typeof message;
    } catch {
      return refuse(400, 'the body is not JSON');
    }
    if (typeof message.type !== 'string' || typeof message.data !== 'object' || message.data === null) return refuse(400, 'type and data are required', 'type');
    const answer = await operation(message.type, message.data as Record<string, unknown>);
    if (answer.status < 300) answered.set(verified.id, answer);
    return answer;
  }

  const EVENT_TYPES: Record<string, string> = { created: 'invoice.finalized', paid: 'invoice.paid', failed: 'invoice.payment_failed', voided: 'invoice.voided' };
  const STATUSES: Record<string, string> = { pending: 'open', processing: 'open', past_due: 'open', failed: 'uncollectible', paid: 'paid', voided: 'void' };

  /** Recurly's notification names the invoice; the invoice itself is read from the API (so a forged notification reports only the truth). */
  async function fromRecurly(raw: string): Promise<Answer> {
    const notification = JSON.parse(raw) as { id?: string; object_type?: string; event_type?: string; uuid?: string };
    const type = notification.event_type ? EVENT_TYPES[notification.event_type] : undefined;
    if (notification.object_type !== 'charge_invoice' || !type || !notification.uuid || !notification.id) return ok({ ignored: true });
    const invoice: RecurlyInvoice = await recurly.getInvoice(notification.uuid);
    const subscriptionId = invoice.subscription_ids[0];
    if (!subscriptionId) return ok({ ignored: 'no subscription' });
    const subscription = await recurly.getSubscription(subscriptionId);
    const meterlineId = subscription.custom_fields.find((f) => f.name === METERLINE_ID_FIELD)?.value;
    if (!meterlineId) return ok({ ignored: 'not a Meterline subscription' });
    const eventId = `recurly-${notification.id}`;
    const body = JSON.stringify({
      type,
      timestamp: clock().toISOString(),
      data: {
        id: eventId,
        invoice: {
          id: invoice.id,
          subscriptionId,
          meterlineSubscriptionId: meterlineId,
          status: STATUSES[invoice.state] ?? 'open',
          currency: invoice.currency,
          total: minorUnits(invoice.total, invoice.currency),
          amountDue: minorUnits(invoice.total, invoice.currency),
          amountPaid: minorUnits(invoice.paid, invoice.currency),
          amountRemaining: minorUnits(invoice.balance, invoice.currency),
          periodStart: invoice.period?.started_at ?? invoice.created_at,
          periodEnd: invoice.period?.ends_at ?? invoice.created_at,
          hostedInvoiceUrl: null,
          invoicePdfUrl: null, // Recurly serves PDFs only to API callers (GET /invoices/{id}.pdf with the key); no public link
          billingReason: invoice.origin === 'purchase' ? 'subscription_create' : 'subscription_cycle',
          ...(type === 'invoice.payment_failed' ? { failureReason: 'the payment was declined' } : {}),
        },
      },
    });
    const url = `${options.meterlineUrl}/api/am/monetization/webhooks/http-integration/${encodeURIComponent(options.tenant)}`;
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...signedHeaders(options.inboundSecret, eventId, inboundClock(), body) }, body });
    const answer = await response.text();
    log(`${type} ${invoice.id} → Meterline ${response.status} ${answer}`);
    // Not 2xx: Recurly retries its notification (and the same webhook-id with it).
    return response.ok ? ok({ reported: type }) : { status: 502, body: { error: `Meterline answered ${response.status}: ${answer}` } };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let answer: Answer;
    try {
      if (req.method === 'POST' && req.url === '/meterline') answer = await fromMeterline(req, raw);
      else if (req.method === 'POST' && req.url === '/recurly/webhooks') answer = await fromRecurly(raw);
      else if (req.method === 'GET' && req.url === '/health') answer = ok({ status: 'ok' });
      else answer = refuse(404, 'not found');
    } catch (error) {
      // Recurly refusing is the request's problem (422 → Meterline does not retry a sync operation);
      // anything else (Recurly down, 5xx) is retryable.
      const refused = error instanceof RecurlyApiError && error.status >= 400 && error.status < 500 && error.status !== 429;
      log(`error: ${String(error)}`);
      answer = refuse(refused ? 422 : 502, error instanceof Error ? error.message : String(error));
    }
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
  }

  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  return {
    url,
    port,
    integrationUrl: `${url}/meterline`,
    recurlyWebhookUrl: `${url}/recurly/webhooks`,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
