import type { Knex } from 'knex';
import { isUniqueViolation } from '../db/errors';

type Db = Knex | Knex.Transaction;

export const LIMIT_TABLE = 'ML_SPEND_LIMIT';
export const STATE_TABLE = 'ML_SPEND_STATE';

/** Who set a limit: the subscriber (developer portal) or the API's publisher. */
export type SpendLimitSetter = 'SUBSCRIBER' | 'PUBLISHER';

/** One party's limit on one subscription. Amounts are minor units of `currency` (the plan's). */
export interface StoredSpendLimit {
  subscriptionUuid: string;
  setBy: SpendLimitSetter;
  tenantDomain: string;
  amount: bigint;
  currency: string;
  /** Percentages 1..100, unique, ascending. */
  thresholds: number[];
  hardCap: boolean;
  updatedBy: string;
  updatedAt: Date;
}

/** What the watcher found for one subscription in one billing period ([periodStart, periodEnd)). */
export interface SpendState {
  subscriptionUuid: string;
  periodStart: Date;
  periodEnd: Date;
  tenantDomain: string;
  currency: string;
  calls: bigint;
  /** The period's rated usage so far, minor units. */
  spent: bigint;
  thresholdsNotified: number[];
  cappedAt: Date | null;
  capAmount: bigint | null;
  capSetBy: SpendLimitSetter | null;
  evaluatedAt: Date;
}

/** The cap a subscription is held at now, as the access check reads it. */
export interface ActiveCap {
  amount: bigint;
  currency: string;
  setBy: SpendLimitSetter;
  periodEnd: Date;
}

/** The owner of ML_SPEND_LIMIT and ML_SPEND_STATE. */
export class SpendRepository {
  constructor(private readonly db: Knex) {}

  async limitsOf(subscriptionUuid: string): Promise<StoredSpendLimit[]> {
    const rows = (await this.db(LIMIT_TABLE).where({ SUBSCRIPTION_UUID: subscriptionUuid }).orderBy('SET_BY')) as Row[];
    return rows.map(toLimit);
  }

  /** Every limit (the watcher's work list), by subscription. */
  async allLimits(): Promise<Map<string, StoredSpendLimit[]>> {
    const rows = (await this.db(LIMIT_TABLE).orderBy(['SUBSCRIPTION_UUID', 'SET_BY'])) as Row[];
    const found = new Map<string, StoredSpendLimit[]>();
    for (const limit of rows.map(toLimit)) found.set(limit.subscriptionUuid, [...(found.get(limit.subscriptionUuid) ?? []), limit]);
    return found;
  }

  /** Inserts or replaces one party's limit. */
  async saveLimit(limit: StoredSpendLimit): Promise<void> {
    const row = {
      TENANT_DOMAIN: limit.tenantDomain,
      AMOUNT: limit.amount.toString(),
      CURRENCY: limit.currency,
      THRESHOLDS: limit.thresholds.join(','),
      HARD_CAP: limit.hardCap,
      UPDATED_BY: limit.updatedBy,
      UPDATED_AT: limit.updatedAt.getTime(),
    };
    const key = { SUBSCRIPTION_UUID: limit.subscriptionUuid, SET_BY: limit.setBy };
    if ((await this.db(LIMIT_TABLE).where(key).update(row)) === 1) return;
    try {
      await this.db(LIMIT_TABLE).insert({ ...key, ...row });
    } catch (error) {
      // A concurrent first save of the same party's limit: the later write wins, as with the update.
      if (!isUniqueViolation(error)) throw error;
      await this.db(LIMIT_TABLE).where(key).update(row);
    }
  }

  /** True when there was such a limit. */
  async deleteLimit(subscriptionUuid: string, setBy: SpendLimitSetter): Promise<boolean> {
    return (await this.db(LIMIT_TABLE).where({ SUBSCRIPTION_UUID: subscriptionUuid, SET_BY: setBy }).delete()) > 0;
  }

  async stateOf(subscriptionUuid: string, periodStart: Date, db: Db = this.db): Promise<SpendState | undefined> {
    const row = (await db(STATE_TABLE).where({ SUBSCRIPTION_UUID: subscriptionUuid, PERIOD_START: periodStart.getTime() }).first()) as Row | undefined;
    return row ? toState(row) : undefined;
  }

  /** Inserts or replaces the state of one subscription and period. */
  async saveState(state: SpendState): Promise<void> {
    const row = {
      PERIOD_END: state.periodEnd.getTime(),
      TENANT_DOMAIN: state.tenantDomain,
      CURRENCY: state.currency,
      CALLS: state.calls.toString(),
      SPENT: state.spent.toString(),
      THRESHOLDS_NOTIFIED: state.thresholdsNotified.join(','),
      CAPPED_AT: state.cappedAt?.getTime() ?? null,
      CAP_AMOUNT: state.capAmount?.toString() ?? null,
      CAP_SET_BY: state.capSetBy,
      EVALUATED_AT: state.evaluatedAt.getTime(),
    };
    const key = { SUBSCRIPTION_UUID: state.subscriptionUuid, PERIOD_START: state.periodStart.getTime() };
    if ((await this.db(STATE_TABLE).where(key).update(row)) === 1) return;
    try {
      await this.db(STATE_TABLE).insert({ ...key, ...row });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      await this.db(STATE_TABLE).where(key).update(row);
    }
  }

  /** Lifts every cap of the subscription (its limits were removed). */
  async liftCaps(subscriptionUuid: string): Promise<void> {
    await this.db(STATE_TABLE).where({ SUBSCRIPTION_UUID: subscriptionUuid }).whereNotNull('CAPPED_AT').update({ CAPPED_AT: null, CAP_AMOUNT: null, CAP_SET_BY: null });
  }

  /**
   * The cap holding a subscription at `now`: its state row of the period containing `now` with a
   * cap reached. One read on the primary key's prefix (SUBSCRIPTION_UUID, PERIOD_START); a state
   * of an earlier period never matches, so a new period lifts the cap without any write.
   */
  async activeCap(subscriptionUuid: string, now: Date): Promise<ActiveCap | undefined> {
    const at = now.getTime();
    const row = (await this.db(STATE_TABLE)
      .where({ SUBSCRIPTION_UUID: subscriptionUuid })
      .andWhere('PERIOD_START', '<=', at)
      .andWhere('PERIOD_END', '>', at)
      .whereNotNull('CAPPED_AT')
      .first('CAP_AMOUNT', 'CURRENCY', 'CAP_SET_BY', 'PERIOD_END')) as Row | undefined;
    if (!row) return undefined;
    return { amount: BigInt(String(row.CAP_AMOUNT ?? 0)), currency: String(row.CURRENCY), setBy: setterOf(row.CAP_SET_BY), periodEnd: new Date(Number(row.PERIOD_END)) };
  }
}

type Row = Record<string, unknown>;

function setterOf(value: unknown): SpendLimitSetter {
  return value === 'PUBLISHER' ? 'PUBLISHER' : 'SUBSCRIBER';
}

function numbers(text: unknown): number[] {
  const value = String(text ?? '');
  return value === '' ? [] : value.split(',').map(Number);
}

function toLimit(row: Row): StoredSpendLimit {
  return {
    subscriptionUuid: String(row.SUBSCRIPTION_UUID),
    setBy: setterOf(row.SET_BY),
    tenantDomain: String(row.TENANT_DOMAIN),
    amount: BigInt(String(row.AMOUNT)),
    currency: String(row.CURRENCY),
    thresholds: numbers(row.THRESHOLDS),
    // SQLite and MariaDB answer 0/1, PostgreSQL a boolean.
    hardCap: row.HARD_CAP === true || Number(row.HARD_CAP) === 1,
    updatedBy: String(row.UPDATED_BY),
    updatedAt: new Date(Number(row.UPDATED_AT)),
  };
}

function toState(row: Row): SpendState {
  return {
    subscriptionUuid: String(row.SUBSCRIPTION_UUID),
    periodStart: new Date(Number(row.PERIOD_START)),
    periodEnd: new Date(Number(row.PERIOD_END)),
    tenantDomain: String(row.TENANT_DOMAIN),
    currency: String(row.CURRENCY),
    calls: BigInt(String(row.CALLS)),
    spent: BigInt(String(row.SPENT)),
    thresholdsNotified: numbers(row.THRESHOLDS_NOTIFIED),
    cappedAt: row.CAPPED_AT === null || row.CAPPED_AT === undefined ? null : new Date(Number(row.CAPPED_AT)),
    capAmount: row.CAP_AMOUNT === null || row.CAP_AMOUNT === undefined ? null : BigInt(String(row.CAP_AMOUNT)),
    capSetBy: row.CAP_SET_BY === null || row.CAP_SET_BY === undefined ? null : setterOf(row.CAP_SET_BY),
    evaluatedAt: new Date(Number(row.EVALUATED_AT)),
  };
}
