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

export class RateLimiter {
  private config: RateLimitConfig = {};
  private specific: Array<{ matches: (f: RequestFacts) => boolean; limit: number; key: string }> = [];
  private readonly hits = new Map<string, number[]>();

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
