import type { SubscriptionRef } from '../domain/model';
import type { Logger } from '../logger';
import { decimalAmount, emit } from '../notifications/emit';
import type { NotificationEvent, Notifier } from '../notifications/events';
import { rate } from '../rating/rate';
import type { SpendPeriod, SpendUsage } from './period-usage';
import { appliedLimits, capReason, reachedThresholds, setterWord, type AppliedLimits } from './spend-rules';
import type { SpendRepository, SpendState, StoredSpendLimit } from './spend.repository';

export interface SpendWatcherDependencies {
  repository: SpendRepository;
  /** The subscriptions as the engine takes them, by UUID (`ApimCoreRecords.subscriptionRefs`); missing ones left out. */
  subscriptions(uuids: readonly string[]): Promise<Map<string, SubscriptionRef>>;
  usage: SpendUsage;
  notifier: Notifier;
  clock: () => Date;
  logger: Logger;
}

/** One subscription's spend in its current period, as evaluated. */
export interface SpendSnapshot {
  subscription: SubscriptionRef;
  period: SpendPeriod;
  /** ISO 4217, lower-case (the plan's). */
  currency: string;
  calls: bigint;
  /** The period's rated usage, minor units. */
  spent: bigint;
  limits: StoredSpendLimit[];
  applied: AppliedLimits;
  /** Null while no limit is set (nothing is stored then). */
  state: SpendState | null;
}

/**
 * Watches the spend of limited subscriptions: for each, the current billing period's usage
 * (records and not-yet-frozen events) rated by `rate()` with the plan, usage lines only. The
 * base and setup fees are left out: they are paid in advance whatever the calls, so a cap on
 * calls cannot change them (docs/spend-limits.md). A threshold reached notifies
 * `spend.threshold_reached` once per subscription, period and threshold; a hard cap reached
 * notifies `spend.cap_reached` and marks the period capped in ML_SPEND_STATE, which the access
 * check reads. Events are emitted before the state is saved: a crash in between emits them again
 * with the same ids, which the outbox records once.
 */
export class SpendWatcher {
  /** Subscriptions told by `touched` and not evaluated yet. */
  private readonly waiting = new Set<string>();
  private draining: Promise<void> | undefined;

  constructor(private readonly deps: SpendWatcherDependencies) {}

  /**
   * New usage of these subscriptions was frozen (the usage publisher tells it): the limited ones
   * among them are evaluated soon, in the background, so a cap lands without waiting for the next
   * scheduled run. Never throws; one evaluation runs at a time (what comes meanwhile waits for it).
   */
  touched(subscriptionUuids: readonly string[]): void {
    for (const uuid of subscriptionUuids) this.waiting.add(uuid);
    if (!this.draining && this.waiting.size > 0) {
      this.draining = this.drain().finally(() => {
        this.draining = undefined;
      });
    }
  }

  /** Resolves once what `touched` was told has been evaluated (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.waiting.size > 0) {
      const batch = [...this.waiting];
      this.waiting.clear();
      let limited: Set<string>;
      try {
        limited = new Set((await this.deps.repository.allLimits()).keys());
      } catch (error) {
        this.deps.logger.error({ err: error }, 'could not read the spend limits after a usage freeze; the scheduled run evaluates them');
        return;
      }
      for (const uuid of batch) {
        if (!limited.has(uuid)) continue;
        try {
          await this.evaluate(uuid);
        } catch (error) {
          this.deps.logger.error({ err: error, subscription: uuid }, 'could not evaluate the spend of a subscription after a usage freeze; the scheduled run tries again');
        }
      }
    }
  }

  /** Evaluates every subscription with a limit; one failing subscription is logged and the others go on. */
  async evaluateAll(): Promise<{ evaluated: number; failed: number }> {
    const limited = await this.deps.repository.allLimits();
    let evaluated = 0;
    let failed = 0;
    for (const uuid of limited.keys()) {
      try {
        await this.evaluate(uuid);
        evaluated += 1;
      } catch (error) {
        failed += 1;
        this.deps.logger.error({ err: error, subscription: uuid }, 'could not evaluate the spend of a subscription; the next run tries again');
      }
    }
    return { evaluated, failed };
  }

  /**
   * Evaluates one subscription now (also after its limits change, so raising or removing a limit
   * lifts its cap at once). Null when there is nothing to rate: the subscription is gone, its plan
   * is not COMMERCIAL, or the engine does not bill it.
   */
  async evaluate(subscriptionUuid: string): Promise<SpendSnapshot | null> {
    const { repository } = this.deps;
    const now = this.deps.clock();
    const subscription = (await this.deps.subscriptions([subscriptionUuid])).get(subscriptionUuid);
    const pricing = subscription?.policy.billingPlan === 'COMMERCIAL' ? subscription.policy.pricing : null;
    if (!subscription || !pricing) return null;
    const period = await this.deps.usage.periodOf(subscription, now);
    if (!period) return null;
    const calls = pricing.plan === 'DYNAMICRATE' ? await this.deps.usage.callsIn(subscriptionUuid, period) : 0n;
    const rating = rate({ pricing, apiName: subscription.api.name, calls, period, include: { setupFee: false, baseFee: false, usage: true } });
    const limits = await repository.limitsOf(subscriptionUuid);
    const applied = appliedLimits(limits, rating.currency);
    const snapshot = { subscription, period, currency: rating.currency, calls, spent: rating.total, limits, applied };
    if (limits.length === 0) {
      await repository.liftCaps(subscriptionUuid);
      return { ...snapshot, state: null };
    }

    const before = await repository.stateOf(subscriptionUuid, period.start);
    const notified = before?.thresholdsNotified ?? [];
    const reached = applied.alerts ? reachedThresholds(applied.alerts, rating.total).filter((t) => !notified.includes(t)) : [];
    const cap = applied.cap !== null && rating.total >= applied.cap.amount ? applied.cap : null;
    for (const threshold of reached) await this.tell(thresholdEvent(snapshot, applied.alerts!, threshold, now));
    if (cap && !before?.cappedAt) await this.tell(capEvent(snapshot, cap, now));
    const state: SpendState = {
      subscriptionUuid,
      periodStart: period.start,
      periodEnd: period.end,
      tenantDomain: subscription.api.tenant.domain,
      currency: rating.currency,
      calls,
      spent: rating.total,
      thresholdsNotified: [...new Set([...notified, ...reached])].sort((a, b) => a - b),
      cappedAt: cap ? (before?.cappedAt ?? now) : null,
      capAmount: cap?.amount ?? null,
      capSetBy: cap?.setBy ?? null,
      evaluatedAt: now,
    };
    await repository.saveState(state);
    return { ...snapshot, state };
  }

  private tell(event: NotificationEvent): Promise<void> {
    return emit(this.deps.notifier, event, this.deps.logger);
  }
}

type Snapshot = Omit<SpendSnapshot, 'state'>;

function facts(snapshot: Snapshot, limit: StoredSpendLimit): Record<string, string | number | boolean | null> {
  const { subscription, period, currency } = snapshot;
  return {
    subscriptionId: subscription.uuid,
    apiId: subscription.api.uuid,
    apiName: subscription.api.name,
    apiVersion: subscription.api.version,
    applicationId: subscription.application.uuid,
    applicationName: subscription.application.name,
    policyName: subscription.policy.name,
    currency: currency.toUpperCase(),
    spent: decimalAmount(snapshot.spent, currency),
    calls: Number(snapshot.calls),
    limitAmount: decimalAmount(limit.amount, currency),
    setBy: setterWord(limit.setBy),
    hardCap: limit.hardCap,
    periodStart: period.start.toISOString(),
    periodEnd: period.end.toISOString(),
  };
}

function thresholdEvent(snapshot: Snapshot, limit: StoredSpendLimit, threshold: number, now: Date): NotificationEvent {
  const { subscription, period, currency } = snapshot;
  const tenant = subscription.api.tenant.domain;
  return {
    id: `spend.threshold_reached:${tenant}:${subscription.uuid}:${period.start.toISOString()}:${threshold}`,
    type: 'spend.threshold_reached',
    tenantDomain: tenant,
    occurredAt: now,
    summary: `Subscription of ${subscription.application.name} to ${subscription.api.name} (${subscription.policy.name}) reached ${threshold}% of its ${decimalAmount(limit.amount, currency)} ${currency.toUpperCase()} spend limit this period (spent ${decimalAmount(snapshot.spent, currency)}).`,
    data: { ...facts(snapshot, limit), threshold },
    subscriberEmail: subscription.subscriber.email,
  };
}

function capEvent(snapshot: Snapshot, cap: StoredSpendLimit, now: Date): NotificationEvent {
  const { subscription, period } = snapshot;
  const tenant = subscription.api.tenant.domain;
  const reason = capReason(cap);
  return {
    id: `spend.cap_reached:${tenant}:${subscription.uuid}:${period.start.toISOString()}`,
    type: 'spend.cap_reached',
    tenantDomain: tenant,
    occurredAt: now,
    summary: `Subscription of ${subscription.application.name} to ${subscription.api.name} (${subscription.policy.name}) is blocked until ${period.end.toISOString()}: ${reason}.`,
    data: { ...facts(snapshot, cap), reason },
    subscriberEmail: subscription.subscriber.email,
  };
}
