import { compileMatcher, type RequestFacts, type RequestMatcher } from './match';

/**
 * Stripe-like rate limits, counted per account over a sliding one-second
 * window of real time:
 * - `global`: all requests of an account;
 * - `perEndpoint`: each endpoint (method + route pattern) of an account separately;
 * - `endpoints`: a specific limit for the requests a matcher selects.
 * Rejected requests do not count. Off by default.
 */
export interface RateLimitConfig {
  global?: number;
  perEndpoint?: number;
  endpoints?: Array<{ match: RequestMatcher; requestsPerSecond: number }>;
}

const WINDOW_MS = 1_000;

/**
 * Stripe's per-account limits: 25 requests per second in a sandbox (test mode), 100 in live mode
 * (https://docs.stripe.com/rate-limits; "Stripe has a rate limit of 100 parallel requests per second
 * for live mode transactions, and 25 ... for test mode transactions",
 * https://support.stripe.com/questions/rate-limit-error-when-creating-bulk-api-requests). Not applied
 * by default: the test suites set up fixtures far faster than 25 requests a second; a test (or
 * `startStripeServer({ rateLimit: SANDBOX_RATE_LIMIT })`) turns it on.
 */
export const SANDBOX_RATE_LIMIT: RateLimitConfig = { global: 25 };
export const LIVE_RATE_LIMIT: RateLimitConfig = { global: 100 };

export class RateLimiter {
  private config: RateLimitConfig = {};
  private specific: Array<{ matches: (f: RequestFacts) => boolean; limit: number; key: string }> = [];
  private readonly hits = new Map<string, number[]>();
  /** Always on, whatever the configured limits (Stripe's own rule). */
  readonly meterEvents = new MeterEventConcurrency();

  constructor(private readonly nowMs: () => number = () => performance.now()) {}

  configure(config: RateLimitConfig): void {
    this.config = config;
    this.specific = (config.endpoints ?? []).map((e, i) => ({
      matches: compileMatcher(e.match),
      limit: e.requestsPerSecond,
      key: `specific:${i}`,
    }));
    this.hits.clear();
  }

  /** True when the request may proceed (and is then counted). `endpoint` is method + route pattern. */
  admit(facts: RequestFacts, endpoint: string): boolean {
    const now = this.nowMs();
    const account = facts.account ?? 'anonymous';
    const buckets: Array<[string, number]> = [];
    if (this.config.global !== undefined) buckets.push([`${account}|global`, this.config.global]);
    if (this.config.perEndpoint !== undefined) buckets.push([`${account}|${endpoint}`, this.config.perEndpoint]);
    for (const s of this.specific) if (s.matches(facts)) buckets.push([`${account}|${s.key}`, s.limit]);
    const windows = buckets.map(([key, limit]) => {
      const recent = (this.hits.get(key) ?? []).filter((t) => now - t < WINDOW_MS);
      this.hits.set(key, recent);
      return { recent, limit };
    });
    if (windows.some(({ recent, limit }) => recent.length >= limit)) return false;
    for (const { recent } of windows) recent.push(now);
    return true;
  }
}

/**
 * "The meter event endpoint allows ... one concurrent call per customer per meter"
 * (https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage-api#rate-limits;
 * "Monitor for 429 status codes"). A `POST /v1/billing/meter_events` for an account, customer and
 * event name while another for the same three is still in flight (arrived and not answered yet,
 * e.g. held by a delay or hold fault) is refused with 429 `rate_limit`. On by default, as in Stripe.
 */
export class MeterEventConcurrency {
  private readonly inFlight = new Set<string>();

  /**
   * For a meter event call: a function that ends it (call it once it is answered), or null when
   * another call for the same customer and meter is in flight. Undefined for any other request.
   */
  enter(route: string, account: string, params: Record<string, unknown>): (() => void) | null | undefined {
    if (route !== 'POST /v1/billing/meter_events') return undefined;
    const payload = params.payload;
    const customer = typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>).stripe_customer_id : undefined;
    if (typeof customer !== 'string' || typeof params.event_name !== 'string') return undefined;
    const key = `${account}\u0000${customer}\u0000${params.event_name}`;
    if (this.inFlight.has(key)) return null;
    this.inFlight.add(key);
    let open = true;
    return () => {
      if (open) this.inFlight.delete(key);
      open = false;
    };
  }
}
