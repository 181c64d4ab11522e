import { formatMinorUnits, InvalidAmountError, toMinorUnits } from '../domain/money';
import { capReason, reachedThresholds, setterWord } from './spend-rules';
import type { SpendSnapshot, SpendWatcher } from './spend-watcher';
import type { SpendLimitSetter, SpendRepository } from './spend.repository';

export interface SpendLimitInput {
  amount: string;
  thresholds: number[];
  hardCap: boolean;
}

/** Plain-data answers, the shapes the REST routes return (src/http/routes/extensions/spend-limits-port.ts). */
export type SpendLimitAnswer =
  | { outcome: 'done'; limit: ReturnType<typeof toDto> }
  | { outcome: 'notPriced' | 'invalidAmount'; message: string };

/**
 * Setting, removing and showing a subscription's spend limits. Every change re-evaluates the
 * subscription at once, so raising or removing a limit lifts a cap now, and a lower one caps now.
 * The caller's right to the subscription is the route's to check.
 */
export class SpendLimits {
  constructor(
    private readonly repository: SpendRepository,
    private readonly watcher: SpendWatcher,
    private readonly clock: () => Date,
  ) {}

  async show(subscriptionUuid: string): Promise<SpendLimitAnswer> {
    const snapshot = await this.watcher.evaluate(subscriptionUuid);
    return snapshot ? { outcome: 'done', limit: toDto(snapshot) } : notPriced(subscriptionUuid);
  }

  async set(subscriptionUuid: string, setBy: SpendLimitSetter, input: SpendLimitInput, updatedBy: string): Promise<SpendLimitAnswer> {
    const before = await this.watcher.evaluate(subscriptionUuid);
    if (!before) return notPriced(subscriptionUuid);
    let amount: bigint;
    try {
      amount = toMinorUnits(input.amount, before.currency);
    } catch (error) {
      if (error instanceof InvalidAmountError) return { outcome: 'invalidAmount', message: error.message };
      throw error;
    }
    if (amount <= 0n) return { outcome: 'invalidAmount', message: 'must be more than 0' };
    await this.repository.saveLimit({
      subscriptionUuid,
      setBy,
      tenantDomain: before.subscription.api.tenant.domain,
      amount,
      currency: before.currency,
      thresholds: input.thresholds,
      hardCap: input.hardCap,
      updatedBy,
      updatedAt: this.clock(),
    });
    return this.show(subscriptionUuid);
  }

  /** Idempotent: removing a limit that party never set answers the same as removing it. */
  async remove(subscriptionUuid: string, setBy: SpendLimitSetter): Promise<SpendLimitAnswer> {
    await this.repository.deleteLimit(subscriptionUuid, setBy);
    return this.show(subscriptionUuid);
  }
}

function notPriced(uuid: string): SpendLimitAnswer {
  return { outcome: 'notPriced', message: `Subscription ${uuid} has no rated spend: its plan is not COMMERCIAL or the billing engine does not bill it` };
}

function toDto(snapshot: SpendSnapshot) {
  const { currency, applied, state } = snapshot;
  const money = (minor: bigint) => formatMinorUnits(minor, currency);
  const cap = state?.cappedAt && state.capAmount !== null && state.capSetBy !== null ? { amount: state.capAmount, currency, setBy: state.capSetBy } : null;
  return {
    subscriptionId: snapshot.subscription.uuid,
    currency: currency.toUpperCase(),
    limits: snapshot.limits.map((limit) => ({
      setBy: setterWord(limit.setBy),
      amount: formatMinorUnits(limit.amount, limit.currency),
      thresholds: limit.thresholds,
      hardCap: limit.hardCap,
      updatedBy: limit.updatedBy,
      updatedTime: limit.updatedAt.toISOString(),
    })),
    applied: {
      alerts: applied.alerts ? { setBy: setterWord(applied.alerts.setBy), amount: money(applied.alerts.amount), thresholds: applied.alerts.thresholds } : null,
      hardCap: applied.cap ? { setBy: setterWord(applied.cap.setBy), amount: money(applied.cap.amount) } : null,
    },
    period: {
      start: snapshot.period.start.toISOString(),
      end: snapshot.period.end.toISOString(),
      calls: Number(snapshot.calls),
      spent: money(snapshot.spent),
      thresholdsReached: applied.alerts ? reachedThresholds(applied.alerts, snapshot.spent) : [],
      thresholdsNotified: state?.thresholdsNotified ?? [],
      capped: cap !== null,
      cappedTime: state?.cappedAt?.toISOString() ?? null,
      reason: cap ? capReason(cap) : null,
    },
  };
}

/** The access check's view of the caps (billing's `SpendCapCheck`): one indexed read, the reason as people read it. */
export function spendCapCheck(repository: SpendRepository): { capReasonOf(subscriptionUuid: string, now: Date): Promise<string | undefined> } {
  return {
    async capReasonOf(subscriptionUuid, now) {
      const cap = await repository.activeCap(subscriptionUuid, now);
      return cap ? capReason(cap) : undefined;
    },
  };
}
