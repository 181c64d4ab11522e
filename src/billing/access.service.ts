import { decideAccess, type AccessDecision, type TenantBillingRules } from './access-policy';
import type { BillingRepository } from './billing.repository';

/** The gateway statuses that deny calls whatever the payment standing (set by an admin). */
const DENYING_GATEWAY_STATUSES = new Set(['BLOCKED', 'PROD_ONLY_BLOCKED', 'ON_HOLD', 'REJECTED']);
/**
 * The API publisher's blocks (WSO2's blockSubscription). They deny billed subscriptions too: the
 * billing record says whether the subscriber paid, the block that the publisher stopped them.
 * PROD_ONLY_BLOCKED leaves WSO2's sandbox keys working; the calls Meterline checks and bills are
 * production calls, so it denies here.
 */
const PUBLISHER_BLOCKS = new Set(['BLOCKED', 'PROD_ONLY_BLOCKED']);

export type AccessAnswer = AccessDecision & { subscriptionId: string };

/**
 * Whether a spend cap holds a subscription now (src/spend, docs/spend-limits.md): the reason to
 * refuse, or undefined. One indexed read of what the spend watcher stored, never a rating.
 */
export interface SpendCapCheck {
  capReasonOf(subscriptionUuid: string, now: Date): Promise<string | undefined>;
}

/**
 * Answers "may this subscription call now?" from local state: the gateway's subscription row
 * and, for billed subscriptions, the payment standing the webhooks keep. Grace periods are
 * judged against `now`, so a subscription is blocked the moment its grace runs out, without
 * waiting for another event.
 */
export class AccessService {
  constructor(
    private readonly repository: BillingRepository,
    private readonly rulesOf: (tenantDomain: string) => TenantBillingRules,
    private readonly spendCaps?: SpendCapCheck,
  ) {}

  /** Undefined when there is no such subscription (in `tenantDomain`, when given). */
  async check(subscriptionUuid: string, now: Date, tenantDomain?: string): Promise<AccessAnswer | undefined> {
    const gateway = await this.repository.gatewayStatus(subscriptionUuid);
    if (!gateway || (tenantDomain !== undefined && gateway.tenantDomain !== tenantDomain)) return undefined;
    const billing = await this.repository.subscriptionByUuid(subscriptionUuid);
    if (!billing) {
      const allowed = !DENYING_GATEWAY_STATUSES.has(gateway.status);
      const status = allowed ? 'UNBLOCKED' : gateway.status === 'ON_HOLD' ? 'ON_HOLD' : 'BLOCKED';
      return { subscriptionId: subscriptionUuid, status, allowed, reason: allowed ? null : `the subscription is ${gateway.status}` };
    }
    const decision = decideAccess(billing, this.rulesOf(gateway.tenantDomain), now);
    if (decision.allowed && PUBLISHER_BLOCKS.has(gateway.status)) {
      return { subscriptionId: subscriptionUuid, status: 'BLOCKED', allowed: false, reason: `the subscription is ${gateway.status}` };
    }
    // Asked last, and only of a billed subscription that may call otherwise (spend is rated usage).
    const capped = decision.allowed && this.spendCaps ? await this.spendCaps.capReasonOf(subscriptionUuid, now) : undefined;
    if (capped !== undefined) return { subscriptionId: subscriptionUuid, status: 'BLOCKED', allowed: false, reason: capped };
    return { subscriptionId: subscriptionUuid, ...decision };
  }
}
