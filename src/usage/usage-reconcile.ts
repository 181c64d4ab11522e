import type { Knex } from 'knex';
import type { ApiRef, SubscriptionRef } from '../domain/model';
import type { CoreRecords, EndedSubscriptionRef, Monetization, UsageAsBilled } from '../monetization/monetization';
import { BillingCycles } from './billing-cycles';
import type { CycleSpec } from './windows';
import { RecordStore, type UsageRecord } from './record-store';
import type { GatewaySubscriptions } from './subscription-lookup';
import { selectPeriods, type BillingPeriod, type PeriodSelector } from './usage-reconcile-period';

/**
 * `meterline reconcile usage`: per subscription and billing period, what Meterline sent (its
 * usage records) against what the engine counted on the subscription's meter and what the
 * period's invoice bills. Read-only: it changes nothing, it reports.
 *
 * The two comparisons, and the differences they find:
 * - sent vs counted, over the range the engine counted (`UsageAsBilled.counted`):
 *   NOT_COUNTED (Meterline sent more than the engine counted: the engine reported an error for
 *   it, e.g. a meter error report, or the meter was deactivated) and NOT_SENT_BY_METERLINE (the
 *   engine counted more: someone else wrote to the meter, or a send Meterline holds as
 *   unconfirmed did arrive);
 * - sent for the period's windows vs the invoice's quantity, once the invoice is final:
 *   NOT_INVOICED (usage sent after the invoice was finalized, or no invoice bills the ended
 *   period) and INVOICE_DIFFERS (the invoice bills more than Meterline sent).
 * "Sent" is every record the engine accepted (it has a sent time), whatever happened to it later.
 *
 * The subscriptions looked at: those with a known billing cycle and those with usage sent. One the
 * gateway no longer has (unsubscribed: `ended`) is compared like a live one, on what the engine
 * kept of it (its final invoice bills its last period), for its periods up to its last usage sent;
 * `last-closed` is then the period of its last usage sent, once closed.
 */
export type DifferenceKind = 'NOT_COUNTED' | 'NOT_SENT_BY_METERLINE' | 'NOT_INVOICED' | 'INVOICE_DIFFERS';

export interface UsageDifference {
  kind: DifferenceKind;
  /** How many units the two sides differ by (always positive). */
  quantity: number;
  /** In words for people, with what Meterline knows of the cause. */
  detail: string;
}

export interface UsageReconcileRow {
  subscriptionId: string;
  apiId: string;
  tenant: string;
  /** True when the gateway no longer has the subscription (unsubscribed): compared on what the engine kept of it. */
  ended: boolean;
  /** The billing period, ISO 8601. */
  periodStart: string;
  periodEnd: string;
  /** MATCH, DIFFERENT (see `differences`), or NOT_METERED (the engine meters none of its usage). */
  status: 'MATCH' | 'DIFFERENT' | 'NOT_METERED';
  meter: string | null;
  /** The range the engine counted over, ISO 8601 (may be a little wider than the period). */
  countedFrom: string | null;
  countedTo: string | null;
  /** Units Meterline sent stamped in the counted range. */
  sent: number;
  /** Units the engine counted in that range. */
  counted: number | null;
  /** Units Meterline sent for the period's own windows. */
  sentForPeriod: number;
  invoiceId: string | null;
  /** Whether the invoice is final; a draft's quantity may still change and is not compared. */
  invoiceFinal: boolean | null;
  invoiced: number | null;
  /** Units of the period Meterline holds but has not sent (pending, uncertain, expired…), by state. */
  unsent: Record<string, number>;
  differences: UsageDifference[];
}

export interface UsageReconciliation {
  /** The `period` asked for (`last-closed` when none). */
  period: string;
  /** When it ran, ISO 8601 (the clock's). */
  checkedAt: string;
  /** True when every metered row matches. */
  matches: boolean;
  differences: number;
  rows: UsageReconcileRow[];
  /** Subscriptions with usage records that could not be looked at, with why. */
  skipped: Array<{ subscriptionId: string; reason: string }>;
}

/** The engine cannot tell what it counted and invoiced (no `usageAsBilled`). */
export class UsageReconcileUnsupportedError extends Error {
  override readonly name = 'UsageReconcileUnsupportedError';
}

export interface UsageReconcileDependencies {
  engine: Pick<Monetization, 'name' | 'usageAsBilled'>;
  /** Every subscription's billing cycle the publisher knows (the subscriptions it billed usage of). */
  cycles: () => Promise<Map<string, CycleSpec>>;
  /**
   * One subscription's usage records whose window starts in [from, to) (epoch ms), in window
   * order: each period reads its own from the database, never the subscription's whole history.
   */
  records: (subscriptionUuid: string, windows: { from: number; to: number }) => Promise<UsageRecord[]>;
  /** Every subscription with usage the engine accepted, its API and its latest such window (epoch ms). */
  sentSubscriptions: () => Promise<Array<{ subscriptionUuid: string; apiUuid: string; lastWindowStart: number }>>;
  subscriptions: Pick<GatewaySubscriptions, 'subscriptionRefs'>;
  /** An API by UUID, for a subscription the gateway no longer has. */
  apiOf: (apiUuid: string) => Promise<ApiRef | undefined>;
  tenantIdOf: (domain: string) => number | undefined;
  clock: () => Date;
  /** The engine's `periodUsageGraceMs`: a period is closed (its invoice final) this long after it ends. */
  periodGraceMs: number;
}

/** What the REST route and the CLI call: the reconciliation of the selected period. */
export type UsageReconciler = (selector: PeriodSelector) => Promise<UsageReconciliation>;

/** The reconciler on usage's own tables (ML_USAGE_BILLING_CYCLE, ML_USAGE_RECORD); the composition root builds it. */
export function usageReconciler(
  db: Knex,
  parts: Omit<UsageReconcileDependencies, 'cycles' | 'records' | 'sentSubscriptions' | 'apiOf' | 'engine' | 'periodGraceMs' | 'subscriptions'> & {
    engine: Monetization;
    subscriptions: Pick<GatewaySubscriptions, 'subscriptionRefs'> & Pick<CoreRecords, 'apiByUuid'>;
  },
): UsageReconciler {
  const cycles = new BillingCycles(db, parts.engine);
  const records = new RecordStore(db);
  const deps: UsageReconcileDependencies = {
    ...parts,
    cycles: () => cycles.all(),
    records: (uuid, windows) => records.list({ subscriptionUuid: uuid, windowsFrom: windows.from, windowsTo: windows.to }),
    sentSubscriptions: () => records.sentSubscriptions(),
    apiOf: async (apiUuid) => {
      const api = await parts.subscriptions.apiByUuid(apiUuid);
      return api && { uuid: api.uuid, name: api.name, version: api.version, provider: api.provider, tenant: { domain: api.tenantDomain, id: parts.tenantIdOf(api.tenantDomain) ?? 0 } };
    },
    periodGraceMs: parts.engine.capabilities.usage.periodUsageGraceMs,
  };
  return (selector) => reconcileUsage(deps, selector);
}

export async function reconcileUsage(deps: UsageReconcileDependencies, selector: PeriodSelector): Promise<UsageReconciliation> {
  const { engine } = deps;
  const asBilled = engine.usageAsBilled?.bind(engine);
  if (!asBilled) throw new UsageReconcileUnsupportedError(`the billing engine "${engine.name}" cannot reconcile usage (it cannot say what it counted and invoiced)`);
  const now = deps.clock().getTime();
  const cycles = await deps.cycles();
  const sent = new Map((await deps.sentSubscriptions()).map((s) => [s.subscriptionUuid, s]));
  const uuids = [...new Set([...cycles.keys(), ...sent.keys()])].sort();
  const refs = await deps.subscriptions.subscriptionRefs(uuids, deps.tenantIdOf);
  const rows: UsageReconcileRow[] = [];
  const skipped: UsageReconciliation['skipped'] = [];
  for (const uuid of uuids) {
    const usage = sent.get(uuid);
    let ref: SubscriptionRef | EndedSubscriptionRef | undefined = refs.get(uuid);
    if (!ref) {
      // Unsubscribed: reconciled on what the engine kept, if usage was sent for it.
      const api = usage && (await deps.apiOf(usage.apiUuid));
      if (!usage || !api) {
        skipped.push({ subscriptionId: uuid, reason: usage ? `the subscription and its API ${usage.apiUuid} no longer exist in Meterline` : 'the subscription no longer exists in Meterline' });
        continue;
      }
      ref = { ended: true, uuid, api };
    }
    const cycle = cycles.get(uuid);
    if (!cycle) {
      skipped.push({ subscriptionId: uuid, reason: 'its billing cycle is not known (the publisher has not asked the engine for it)' });
      continue;
    }
    const ended = 'ended' in ref;
    const periods = ended ? periodsOfEnded(cycle, selector, now, deps.periodGraceMs, usage!.lastWindowStart) : selectPeriods(cycle, selector, now, deps.periodGraceMs);
    for (const period of periods) {
      const billed = await asBilled(ref, { start: new Date(period.start), end: new Date(period.end) });
      // The period's records and those in the range the engine counted over (a little wider).
      const windows = billed
        ? { from: Math.min(period.start, billed.counted.from.getTime()), to: Math.max(period.end, billed.counted.to.getTime()) }
        : { from: period.start, to: period.end };
      rows.push(compare(ref, period, await deps.records(uuid, windows), billed, now));
    }
  }
  const differences = rows.reduce((n, row) => n + row.differences.length, 0);
  return {
    period: selector.kind === 'last-closed' ? 'last-closed' : selector.label,
    checkedAt: new Date(now).toISOString(),
    matches: differences === 0,
    differences,
    rows,
    skipped,
  };
}

/**
 * The selected periods of an ended subscription: none after its last usage sent (the engine
 * bills nothing after its cancel); `last-closed` is the period of its last usage sent, once that
 * period is closed.
 */
function periodsOfEnded(cycle: CycleSpec, selector: PeriodSelector, now: number, graceMs: number, lastWindowStart: number): BillingPeriod[] {
  if (selector.kind === 'last-closed') {
    const closedBy = Number.isFinite(graceMs) ? now - graceMs : now;
    return selectPeriods(cycle, { kind: 'at', at: lastWindowStart, label: '' }, now).filter((period) => period.end <= closedBy);
  }
  return selectPeriods(cycle, selector, now, graceMs).filter((period) => period.start <= lastWindowStart);
}

function compare(ref: SubscriptionRef | EndedSubscriptionRef, period: BillingPeriod, records: readonly UsageRecord[], billed: UsageAsBilled | null, now: number): UsageReconcileRow {
  const ofPeriod = records.filter((r) => r.windowStart >= period.start && r.windowStart < period.end);
  const sentForPeriod = sum(ofPeriod.filter(isSent));
  const unsent: Record<string, number> = {};
  for (const r of ofPeriod.filter((r) => !isSent(r))) unsent[r.state] = (unsent[r.state] ?? 0) + r.quantity;
  const base = {
    subscriptionId: ref.uuid,
    apiId: ref.api.uuid,
    tenant: ref.api.tenant.domain,
    ended: 'ended' in ref,
    periodStart: new Date(period.start).toISOString(),
    periodEnd: new Date(period.end).toISOString(),
    sentForPeriod,
    unsent,
  };
  if (!billed) {
    return { ...base, status: 'NOT_METERED', meter: null, countedFrom: null, countedTo: null, sent: sentForPeriod, counted: null, invoiceId: null, invoiceFinal: null, invoiced: null, differences: [] };
  }
  const from = billed.counted.from.getTime();
  const to = billed.counted.to.getTime();
  const inRange = records.filter((r) => r.windowStart >= from && r.windowStart < to && isSent(r));
  const sent = sum(inRange);
  const counted = billed.counted.quantity;
  const differences: UsageDifference[] = [];
  const unsentNote = Object.keys(unsent).length === 0 ? '' : `; Meterline holds unsent usage of the period (${describeStates(unsent)})`;

  if (sent > counted) {
    const reported = inRange.filter((r) => r.state !== 'SENT');
    const why = reported.length === 0 ? '' : `; the engine reported ${sum(reported)} of it as not billed (${reported.map((r) => `${r.state}: ${r.lastError ?? 'no reason'}`).filter(unique).join('; ')})`;
    differences.push({ kind: 'NOT_COUNTED', quantity: sent - counted, detail: `Meterline sent ${sent}, the engine counted ${counted}${why}` });
  } else if (counted > sent) {
    differences.push({
      kind: 'NOT_SENT_BY_METERLINE',
      quantity: counted - sent,
      detail: `the engine counted ${counted}, Meterline sent ${sent}: usage written to the meter by someone else${unsentNote}`,
    });
  }

  const invoice = billed.invoice;
  if (invoice?.final) {
    if (invoice.quantity < sentForPeriod) {
      const finalizedAt = invoice.finalizedAt?.getTime();
      const late = finalizedAt === undefined ? [] : ofPeriod.filter((r) => isSent(r) && r.sentAt! > finalizedAt);
      const why = late.length === 0 ? '' : `; ${sum(late)} of it sent after the invoice was finalized (${new Date(finalizedAt!).toISOString()})`;
      differences.push({ kind: 'NOT_INVOICED', quantity: sentForPeriod - invoice.quantity, detail: `Meterline sent ${sentForPeriod} for the period, invoice ${invoice.id} bills ${invoice.quantity}${why}` });
    } else if (invoice.quantity > sentForPeriod) {
      differences.push({
        kind: 'INVOICE_DIFFERS',
        quantity: invoice.quantity - sentForPeriod,
        detail: `invoice ${invoice.id} bills ${invoice.quantity}, Meterline sent ${sentForPeriod} for the period${unsentNote}`,
      });
    }
  } else if (!invoice && period.end <= now && sentForPeriod > 0) {
    differences.push({ kind: 'NOT_INVOICED', quantity: sentForPeriod, detail: `Meterline sent ${sentForPeriod} for the ended period and no invoice bills it` });
  }

  return {
    ...base,
    status: differences.length === 0 ? 'MATCH' : 'DIFFERENT',
    meter: billed.meter,
    countedFrom: billed.counted.from.toISOString(),
    countedTo: billed.counted.to.toISOString(),
    sent,
    counted,
    invoiceId: invoice?.id ?? null,
    invoiceFinal: invoice ? invoice.final : null,
    invoiced: invoice ? invoice.quantity : null,
    differences,
  };
}

/** Accepted by the engine (it has a sent time), whatever its state became later. */
function isSent(record: UsageRecord): boolean {
  return record.sentAt !== null;
}

function sum(records: readonly UsageRecord[]): number {
  return records.reduce((n, r) => n + r.quantity, 0);
}

function unique<T>(value: T, index: number, all: readonly T[]): boolean {
  return all.indexOf(value) === index;
}

function describeStates(byState: Record<string, number>): string {
  return Object.entries(byState)
    .map(([state, quantity]) => `${quantity} ${state}`)
    .join(', ');
}
