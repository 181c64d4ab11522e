/**
 * The few Recurly v3 calls the bridge makes (https://recurly.com/developers/api/v2021-02-25/index.html),
 * over fetch with Basic auth (the API key as user name) and the versioned Accept header Recurly asks for.
 * A non-2xx answer becomes a RecurlyApiError carrying Recurly's `{ error: { type, message, params } }`.
 */
export class RecurlyApiError extends Error {
  constructor(readonly status: number, readonly type: string, message: string, readonly params: unknown[] = []) {
    super(`Recurly ${status} ${type}: ${message}`);
  }
}

export interface RecurlyMoney {
  currency: string;
  unit_amount?: number;
  unit_amount_decimal?: string;
  /** Plan pricing only: the one-time fee when a subscription starts. */
  setup_fee?: number;
}
/** A usage add-on's tier: `ending_quantity` left out on the final one (no upper bound). */
export interface RecurlyTier {
  ending_quantity?: number;
  currencies: { currency: string; unit_amount_decimal: string }[];
}
export interface RecurlyUsageAddOn {
  code: string;
  name: string;
  add_on_type: 'usage';
  usage_type: 'price';
  tier_type?: 'flat' | 'tiered' | 'volume' | 'stairstep';
  /** tier_type flat (the default): the price per unit. */
  currencies?: RecurlyMoney[];
  /** Other tier types: the tiers. */
  tiers?: RecurlyTier[];
}
export interface RecurlyPlanBody {
  code: string;
  name: string;
  interval_unit: 'days' | 'months';
  interval_length: number;
  currencies: RecurlyMoney[];
  add_ons: RecurlyUsageAddOn[];
}
export interface RecurlySubscription {
  id: string;
  uuid: string;
  state: string;
  add_ons: { id: string; add_on: { id: string; code: string } }[];
  custom_fields: { name: string; value: string }[];
}
export interface RecurlyUsage {
  id: string;
  merchant_tag: string | null;
  amount: number;
}
export interface RecurlyInvoice {
  id: string;
  number: string;
  state: string;
  origin: string;
  currency: string;
  total: number;
  paid: number;
  balance: number;
  subscription_ids: string[];
  period?: { started_at: string; ends_at: string };
  created_at: string;
}

export class RecurlyClient {
  constructor(private readonly baseUrl: string, private readonly apiKey: string) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(`${this.apiKey}:`).toString('base64')}`,
        accept: 'application/vnd.recurly.v2021-02-25+json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) {
      const error = (parsed as { error?: { type?: string; message?: string; params?: unknown[] } } | undefined)?.error;
      throw new RecurlyApiError(response.status, error?.type ?? 'unknown', error?.message ?? text, error?.params ?? []);
    }
    return parsed as T;
  }

  /** The plan, or undefined when Recurly has none with that code. */
  async findPlan(code: string): Promise<{ id: string; code: string } | undefined> {
    return this.call<{ id: string; code: string }>('GET', `/plans/code-${encodeURIComponent(code)}`).catch(notFoundAsUndefined);
  }
  createPlan(body: RecurlyPlanBody) {
    return this.call<{ id: string; code: string }>('POST', '/plans', body);
  }
  updatePlan(code: string, body: Omit<RecurlyPlanBody, 'code' | 'interval_unit' | 'interval_length'>) {
    return this.call<{ id: string; code: string }>('PUT', `/plans/code-${encodeURIComponent(code)}`, body);
  }
  findAccount(code: string) {
    return this.call<{ id: string; code: string }>('GET', `/accounts/code-${encodeURIComponent(code)}`).catch(notFoundAsUndefined);
  }
  createAccount(body: { code: string; email?: string; first_name?: string }) {
    return this.call<{ id: string; code: string }>('POST', '/accounts', body);
  }
  createSubscription(body: { plan_code: string; currency: string; account: { code: string }; add_ons: { code: string }[]; custom_fields: { name: string; value: string }[] }) {
    return this.call<RecurlySubscription>('POST', '/subscriptions', body);
  }
  listAccountSubscriptions(accountCode: string) {
    return this.call<{ data: RecurlySubscription[] }>('GET', `/accounts/code-${encodeURIComponent(accountCode)}/subscriptions?state=active`);
  }
  getSubscription(id: string) {
    return this.call<RecurlySubscription>('GET', `/subscriptions/${encodeURIComponent(id)}`);
  }
  terminateSubscription(id: string) {
    return this.call<RecurlySubscription>('DELETE', `/subscriptions/${encodeURIComponent(id)}`);
  }
  listUsage(subscriptionId: string, addOnId: string) {
    return this.call<{ data: RecurlyUsage[] }>('GET', `/subscriptions/${encodeURIComponent(subscriptionId)}/add_ons/${encodeURIComponent(addOnId)}/usage`);
  }
  createUsage(subscriptionId: string, addOnId: string, body: { amount: number; merchant_tag: string; usage_timestamp: string }) {
    return this.call<RecurlyUsage>('POST', `/subscriptions/${encodeURIComponent(subscriptionId)}/add_ons/${encodeURIComponent(addOnId)}/usage`, body);
  }
  getInvoice(id: string) {
    return this.call<RecurlyInvoice>('GET', `/invoices/${encodeURIComponent(id)}`);
  }
}

function notFoundAsUndefined(error: unknown): undefined {
  if (error instanceof RecurlyApiError && error.status === 404) return undefined;
  throw error;
}
