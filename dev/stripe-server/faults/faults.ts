import { SeededRandom } from '../core/prng';
import { compileMatcher, type RequestFacts, type RequestMatcher } from './match';

/**
 * A fault to inject:
 * - `error`: answer 500 with Stripe's `api_error` (the SDK throws StripeAPIError). By default it
 *   models the endpoint having begun and failed, so, as Stripe does, the 500 is saved under the
 *   request's idempotency key and replayed to every repeat of that key (a repeat is not counted
 *   by the rule); `stored: false` models a 5xx before the endpoint began (nothing is saved, a
 *   repeat with the same key runs); see pipeline.ts;
 * - `drop`: destroy the socket without a response (StripeConnectionError — note the
 *   SDK retries a reset connection once even with maxNetworkRetries 0, so use
 *   `times: 2` or more, or `rate`, to make the caller see it);
 * - `delay`: hold the response `delayMs` before handling the request normally;
 * - `lose_response`: handle the request (objects are created, idempotency keys recorded),
 *   then destroy the socket instead of answering: the client cannot tell whether it worked;
 * - `hold` (added by `hold()`, not by a rule): keep matching requests waiting, unhandled, until
 *   the test releases them, so that "while a call is in flight" is a state, not a race.
 */
export type FaultKind = 'error' | 'drop' | 'delay' | 'lose_response' | 'hold';

/** What `hold()` returns: how many requests are waiting, and the release of all of them. */
export interface HeldRequests {
  waiting(): number;
  /** Lets every held request (and every later match) through; idempotent. */
  release(): void;
}

export interface FaultRule {
  kind: FaultKind;
  match?: RequestMatcher;
  /** Fire starting at the n-th matching request (1-based). */
  nth?: number;
  /** Fire with this probability per matching request (seeded, deterministic). */
  rate?: number;
  /** Stop after firing this many times (default: once with `nth`, unlimited otherwise). */
  times?: number;
  /** For `delay`. */
  delayMs?: number;
  /** For `error`: false when the 500 is not saved under the idempotency key (default true). */
  stored?: boolean;
}

export interface FaultDecision {
  kind: FaultKind;
  delayMs: number;
  ruleId: number;
  /** For `error`: whether the 500 is saved under the idempotency key. */
  stored: boolean;
  /** For `hold`: resolves when the test releases the request. */
  released?: Promise<void>;
}

interface ActiveRule {
  id: number;
  rule: FaultRule;
  matches: (facts: RequestFacts) => boolean;
  seen: number;
  fired: number;
}

/**
 * Per-test fault injection. Without `nth` or `rate` a rule fires on every
 * matching request (up to `times`). Rules are checked in the order added; the
 * first that fires decides.
 */
export class FaultInjector {
  private rules: ActiveRule[] = [];
  private nextId = 1;
  private random: SeededRandom;
  private readonly gates = new Map<number, { released: Promise<void>; arrived(): void }>();

  constructor(private seed = 42) {
    this.random = new SeededRandom(seed);
  }

  add(rule: FaultRule): number {
    if (rule.rate !== undefined && (rule.rate < 0 || rule.rate > 1)) throw new RangeError('rate must be within [0, 1]');
    if (rule.nth !== undefined && (!Number.isInteger(rule.nth) || rule.nth < 1)) throw new RangeError('nth must be a positive integer');
    const id = this.nextId++;
    this.rules.push({ id, rule, matches: compileMatcher(rule.match), seen: 0, fired: 0 });
    return id;
  }

  /** Holds every request matching `match` until `release()`. */
  hold(match?: RequestMatcher): HeldRequests {
    let waiting = 0;
    let open!: () => void;
    const released = new Promise<void>((resolve) => {
      open = resolve;
    });
    const id = this.add({ kind: 'hold', ...(match ? { match } : {}) });
    this.gates.set(id, { released, arrived: () => (waiting += 1) });
    return {
      waiting: () => waiting,
      release: () => {
        this.remove(id);
        open();
      },
    };
  }

  remove(id: number): void {
    this.gates.delete(id);
    this.rules = this.rules.filter((r) => r.id !== id);
  }

  /** Removes every rule and restarts the PRNG from the seed (optionally a new one). */
  clear(seed = this.seed): void {
    this.rules = [];
    this.gates.clear();
    this.seed = seed;
    this.random = new SeededRandom(seed);
  }

  /**
   * The fault for this request, if any. `replay` says the request repeats an idempotency key
   * whose result is saved: rules modelling a failure inside the endpoint (stored errors) neither
   * count nor fire for it, since Stripe answers a replay without running the endpoint.
   */
  decide(facts: RequestFacts, replay = false): FaultDecision | undefined {
    let decision: FaultDecision | undefined;
    for (const active of this.rules) {
      if (!active.matches(facts)) continue;
      if (replay && isStoredError(active.rule)) continue;
      active.seen += 1;
      if (decision) continue;
      const { rule } = active;
      const limit = rule.times ?? (rule.nth !== undefined ? 1 : Number.POSITIVE_INFINITY);
      if (active.fired >= limit) continue;
      if (rule.nth !== undefined && active.seen < rule.nth) continue;
      if (rule.rate !== undefined && this.random.next() >= rule.rate) continue;
      active.fired += 1;
      decision = { kind: rule.kind, delayMs: rule.delayMs ?? 0, ruleId: active.id, stored: isStoredError(rule) };
      const gate = this.gates.get(active.id);
      if (gate) {
        gate.arrived();
        decision.released = gate.released;
      }
    }
    return decision;
  }
}

function isStoredError(rule: FaultRule): boolean {
  return rule.kind === 'error' && rule.stored !== false;
}
