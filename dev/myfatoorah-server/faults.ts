/**
 * Faults on the API (not on the invoice pages or the controls), for tests of a client's error
 * handling:
 * - `error`: answer HTTP 500 before handling the request (nothing is created);
 * - `lose_response`: handle the request (the invoice is created), then drop the connection: the
 *   client cannot tell whether it worked (SendPayment has no idempotency key, so a blind retry
 *   makes a second invoice);
 * - `timeout`: hold the request `delayMs` (default 30 s, or until the server closes) before handling
 *   it, so the client's own timeout fires first;
 * - `delayed`: hold the request `delayMs` (default 30 s), then handle it even when the client has
 *   gone (its own timeout fired): a SendPayment whose invoice appears at MyFatoorah only after the
 *   client gave up and after a lookup by CustomerReference found nothing (the race a client must
 *   close before sending again; MyFatoorah documents no time limit on its processing);
 * - `drop`: destroy the connection without handling the request;
 * - `rate_limit`: answer HTTP 429 without handling the request ("GetPaymentStatus endpoint has a
 *   rate limit": https://docs.myfatoorah.com/docs/get-payment-status; the status and body are ours).
 */
export type FaultKind = 'error' | 'lose_response' | 'timeout' | 'delayed' | 'drop' | 'rate_limit';

export interface FaultRule {
  kind: FaultKind;
  /** Only requests whose path matches, case-insensitively (e.g. "/v2/SendPayment"); default any API request. */
  path?: string;
  /** How many matching requests it hits; default 1 (the next one). */
  times?: number;
  /** For `timeout` and `delayed`. */
  delayMs?: number;
}

export class Faults {
  private rules: Array<Required<Pick<FaultRule, 'kind' | 'times'>> & FaultRule> = [];

  add(rule: FaultRule): void {
    if (!['error', 'lose_response', 'timeout', 'delayed', 'drop', 'rate_limit'].includes(rule.kind)) {
      throw new RangeError("kind must be 'error', 'lose_response', 'timeout', 'delayed', 'drop' or 'rate_limit'");
    }
    const times = rule.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new RangeError('times must be a whole number of at least 1');
    this.rules.push({ ...rule, times });
  }

  /** The fault that hits this request, if any (and counts it). */
  take(path: string): FaultRule | undefined {
    const index = this.rules.findIndex((rule) => rule.path === undefined || rule.path.toLowerCase() === path.toLowerCase());
    if (index < 0) return undefined;
    const rule = this.rules[index] as FaultRule & { times: number };
    rule.times -= 1;
    if (rule.times <= 0) this.rules.splice(index, 1);
    return rule;
  }

  clear(): void {
    this.rules = [];
  }
}
