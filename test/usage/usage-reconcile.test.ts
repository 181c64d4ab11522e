import { parsePeriod, PeriodFormatError, selectPeriods } from '../../src/usage/usage-reconcile-period';
import type { CycleSpec } from '../../src/usage/windows';
import type { SubscriptionRef } from '../../src/domain/model';
import type { EndedSubscriptionRef, Monetization, UsageAsBilled } from '../../src/monetization/monetization';
import type { PeriodSelector } from '../../src/usage/usage-reconcile-period';
import type { UsageRecord } from '../../src/usage/record-store';
import { reconcileUsage, UsageReconcileUnsupportedError } from '../../src/usage/usage-reconcile';

/** Which billing periods `meterline reconcile usage --period` names, for cycles anchored at odd times (no database, no clock). */
const iso = (ms: number) => new Date(ms).toISOString();
const monthly: CycleSpec = { anchorMs: Date.UTC(2026, 0, 31, 10, 0, 37), interval: 'month', intervalCount: 1 };

describe('parsePeriod', () => {
  it('reads a month, a date and a UTC time, and nothing else', () => {
    expect(parsePeriod(undefined)).toEqual({ kind: 'last-closed' });
    expect(parsePeriod('2026-11')).toEqual({ kind: 'month', start: Date.UTC(2026, 10, 1), end: Date.UTC(2026, 11, 1), label: '2026-11' });
    expect(parsePeriod('2026-12')).toMatchObject({ end: Date.UTC(2027, 0, 1) });
    expect(parsePeriod('2026-11-15')).toEqual({ kind: 'at', at: Date.UTC(2026, 10, 15), label: '2026-11-15' });
    expect(parsePeriod('2026-11-15T10:30Z')).toMatchObject({ at: Date.UTC(2026, 10, 15, 10, 30) });
    expect(parsePeriod('2026-11-15T10:30:05Z')).toMatchObject({ at: Date.UTC(2026, 10, 15, 10, 30, 5) });
    for (const bad of ['2026-13', '2026-00', '2026-02-30', '2026-11-15T24:00Z', '2026-11-15T10:30', '2026-11-15T10:30+01:00', 'last', '', '26-11']) {
      expect(() => parsePeriod(bad)).toThrow(PeriodFormatError);
    }
    expect(() => parsePeriod('2026-02-30')).toThrow('"2026-02-30" is not a valid date or time; expected YYYY-MM (periods ending that month)');
  });
});

describe('selectPeriods', () => {
  it('last-closed: the latest period closed by now (ended, and past the grace time), none before the first one closes', () => {
    expect(selectPeriods(monthly, { kind: 'last-closed' }, Date.UTC(2026, 2, 31, 10, 0, 36)).map((p) => [iso(p.start), iso(p.end)])).toEqual([
      ['2026-01-31T10:00:37.000Z', '2026-02-28T10:00:37.000Z'],
    ]);
    expect(selectPeriods(monthly, { kind: 'last-closed' }, Date.UTC(2026, 2, 31, 10, 0, 37)).map((p) => iso(p.end))).toEqual(['2026-03-31T10:00:37.000Z']);
    expect(selectPeriods(monthly, { kind: 'last-closed' }, Date.UTC(2026, 1, 1))).toEqual([]);
    const hour = 3_600_000;
    const marchEnd = Date.UTC(2026, 2, 31, 10, 0, 37);
    expect(selectPeriods(monthly, { kind: 'last-closed' }, marchEnd + hour - 1, hour).map((p) => iso(p.end))).toEqual(['2026-02-28T10:00:37.000Z']); // in the draft hour
    expect(selectPeriods(monthly, { kind: 'last-closed' }, marchEnd + hour, hour).map((p) => iso(p.end))).toEqual(['2026-03-31T10:00:37.000Z']);
    expect(selectPeriods(monthly, { kind: 'last-closed' }, marchEnd, Number.POSITIVE_INFINITY).map((p) => iso(p.end))).toEqual(['2026-03-31T10:00:37.000Z']);
  });

  it('a month: the periods ending in it; an instant: the period containing it', () => {
    expect(selectPeriods(monthly, parsePeriod('2026-02'), 0).map((p) => [iso(p.start), iso(p.end)])).toEqual([['2026-01-31T10:00:37.000Z', '2026-02-28T10:00:37.000Z']]);
    expect(selectPeriods(monthly, parsePeriod('2026-01'), 0)).toEqual([]); // the anchor month: no period ends in it
    const weekly: CycleSpec = { anchorMs: Date.UTC(2026, 10, 2, 8), interval: 'week', intervalCount: 1 };
    expect(selectPeriods(weekly, parsePeriod('2026-11'), 0).map((p) => iso(p.end))).toEqual(['2026-11-09T08:00:00.000Z', '2026-11-16T08:00:00.000Z', '2026-11-23T08:00:00.000Z', '2026-11-30T08:00:00.000Z']);
    expect(selectPeriods(monthly, parsePeriod('2026-03-31'), 0).map((p) => [iso(p.start), iso(p.end)])).toEqual([['2026-02-28T10:00:37.000Z', '2026-03-31T10:00:37.000Z']]);
    expect(selectPeriods(monthly, parsePeriod('2026-03-31T10:00:37Z'), 0).map((p) => iso(p.start))).toEqual(['2026-03-31T10:00:37.000Z']);
    expect(selectPeriods(monthly, parsePeriod('2026-01-01'), 0)).toEqual([]); // before the subscription began
  });
});

/**
 * The comparison itself, on usage records as the publisher leaves them and an engine's answer as
 * the port defines it (the Stripe engine's answers are tested over HTTP in test/cli/reconcile-usage.test.ts).
 */
describe('reconcileUsage', () => {
  const HOUR = 3_600_000;
  const anchor = Date.UTC(2026, 9, 5, 10, 0, 30);
  const end = Date.UTC(2026, 10, 5, 10, 0, 30);
  const now = end + 3 * HOUR;
  const ref = (uuid: string) => ({ uuid, api: { uuid: 'api-1', tenant: { domain: 'carbon.super', id: -1234 } } }) as unknown as SubscriptionRef;
  let seq = 0;
  const record = (subscriptionUuid: string, windowStart: number, quantity: number, state: UsageRecord['state'], extra: Partial<UsageRecord> = {}): UsageRecord => ({
    id: ++seq,
    subscriptionUuid,
    apiUuid: 'api-1',
    windowStart,
    windowEnd: windowStart + HOUR,
    firstEventSeq: seq,
    freezeBatch: 1,
    source: 'test',
    positionAfter: 0,
    positionUpTo: 0,
    quantity,
    identifier: `id-${seq}`,
    state,
    attempts: 1,
    createdAt: windowStart + HOUR,
    firstAttemptAt: windowStart + HOUR,
    sentAt: state === 'PENDING' ? null : windowStart + HOUR,
    lastError: null,
    ...extra,
  });

  /** The record ranges the reconciliation asked for. */
  let asked: Array<{ uuid: string; from: number; to: number }> = [];
  /** What the engine was asked about, by subscription: an ended one is asked with an EndedSubscriptionRef. */
  let engineAsked: Array<SubscriptionRef | EndedSubscriptionRef> = [];
  /** `unsubscribed`: subscriptions the gateway no longer has ('gone' always is). */
  function run(
    records: UsageRecord[],
    answers: Record<string, UsageAsBilled | null>,
    engine: Partial<Pick<Monetization, 'usageAsBilled'>> | null = null,
    options: { unsubscribed?: string[]; selector?: PeriodSelector } = {},
  ) {
    asked = [];
    engineAsked = [];
    const uuids = Object.keys(answers);
    const gone = new Set(['gone', ...(options.unsubscribed ?? [])]);
    const asBilled = async (s: SubscriptionRef | EndedSubscriptionRef) => {
      engineAsked.push(s);
      return answers[s.uuid] ?? null;
    };
    const sentSubscriptions = async () => {
      const last = new Map<string, { subscriptionUuid: string; apiUuid: string; lastWindowStart: number }>();
      for (const r of records.filter((r) => r.sentAt !== null)) {
        const known = last.get(r.subscriptionUuid);
        if (!known || known.lastWindowStart < r.windowStart) last.set(r.subscriptionUuid, { subscriptionUuid: r.subscriptionUuid, apiUuid: r.apiUuid, lastWindowStart: r.windowStart });
      }
      return [...last.values()];
    };
    return reconcileUsage(
      {
        engine: { name: 'test', ...(engine ?? { usageAsBilled: asBilled }) },
        cycles: async () => new Map([...uuids, 'gone'].map((uuid) => [uuid, { anchorMs: anchor, interval: 'month', intervalCount: 1 }] as const)),
        records: async (uuid, windows) => {
          asked.push({ uuid, ...windows });
          return records.filter((r) => r.subscriptionUuid === uuid && r.windowStart >= windows.from && r.windowStart < windows.to);
        },
        sentSubscriptions,
        subscriptions: { subscriptionRefs: async (wanted) => new Map(wanted.filter((uuid) => !gone.has(uuid)).map((uuid) => [uuid, ref(uuid)])) },
        apiOf: async (apiUuid) => (apiUuid === 'api-1' ? ref('any').api : undefined),
        tenantIdOf: () => -1234,
        clock: () => new Date(now),
        periodGraceMs: HOUR,
      },
      options.selector ?? { kind: 'last-closed' },
    );
  }
  const counted = (quantity: number) => ({ from: new Date(anchor - 30_000), to: new Date(end - 30_000), quantity });
  const finalInvoice = (quantity: number) => ({ id: 'in_1', quantity, final: true, finalizedAt: new Date(end + HOUR) });

  it('names the engine error behind usage sent but not counted, and the units sent after the invoice was finalized', async () => {
    const result = await run(
      [
        record('errored', anchor + HOUR, 5, 'SENT'),
        record('errored', anchor + 2 * HOUR, 2, 'ENGINE_ERROR', { lastError: 'meter_event_customer_not_found: no such customer' }),
        record('late', anchor + HOUR, 4, 'SENT'),
        record('late', end - HOUR, 3, 'SENT', { sentAt: end + 2 * HOUR }),
        record('late', end - HOUR, 1, 'PENDING'),
      ],
      { errored: { meter: 'm', counted: counted(5), invoice: finalInvoice(5) }, late: { meter: 'm', counted: counted(7), invoice: finalInvoice(4) } },
    );
    expect(result.rows.find((r) => r.subscriptionId === 'errored')?.differences).toEqual([
      { kind: 'NOT_COUNTED', quantity: 2, detail: 'Meterline sent 7, the engine counted 5; the engine reported 2 of it as not billed (ENGINE_ERROR: meter_event_customer_not_found: no such customer)' },
      { kind: 'NOT_INVOICED', quantity: 2, detail: 'Meterline sent 7 for the period, invoice in_1 bills 5' },
    ]);
    const late = result.rows.find((r) => r.subscriptionId === 'late');
    expect(late).toMatchObject({ sent: 7, counted: 7, sentForPeriod: 7, unsent: { PENDING: 1 } });
    expect(late?.differences).toEqual([
      { kind: 'NOT_INVOICED', quantity: 3, detail: `Meterline sent 7 for the period, invoice in_1 bills 4; 3 of it sent after the invoice was finalized (${new Date(end + HOUR).toISOString()})` },
    ]);
    expect(result).toMatchObject({ matches: false, differences: 3, skipped: [{ subscriptionId: 'gone', reason: 'the subscription no longer exists in Meterline' }] });
  });

  it('compares no draft invoice, flags an ended period no invoice bills, and leaves unmetered subscriptions out of the verdict', async () => {
    const result = await run(
      [record('draft', anchor + HOUR, 3, 'SENT'), record('uninvoiced', anchor + HOUR, 3, 'SENT'), record('fixed', anchor + HOUR, 3, 'SENT')],
      {
        draft: { meter: 'm', counted: counted(3), invoice: { id: 'in_2', quantity: 0, final: false, finalizedAt: null } },
        uninvoiced: { meter: 'm', counted: counted(3), invoice: null },
        fixed: null,
      },
    );
    expect(result.rows.map((r) => [r.subscriptionId, r.status, r.differences.map((d) => d.kind)])).toEqual([
      ['draft', 'MATCH', []],
      ['fixed', 'NOT_METERED', []],
      ['uninvoiced', 'DIFFERENT', ['NOT_INVOICED']],
    ]);
  });

  it("reads each period's records by range (the period and the range the engine counted), not the whole history", async () => {
    const result = await run(
      [record('long', anchor - 2 * HOUR, 50, 'SENT'), record('long', anchor + HOUR, 4, 'SENT'), record('long', end + HOUR, 60, 'PENDING'), record('fixed', anchor + HOUR, 1, 'SENT')],
      { long: { meter: 'm', counted: counted(4), invoice: finalInvoice(4) }, fixed: null },
    );
    expect(result.rows.find((r) => r.subscriptionId === 'long')).toMatchObject({ status: 'MATCH', sent: 4, sentForPeriod: 4, unsent: {} });
    expect(asked.sort((a, b) => a.uuid.localeCompare(b.uuid))).toEqual([
      { uuid: 'fixed', from: anchor, to: end },
      { uuid: 'long', from: anchor - 30_000, to: end },
    ]);
  });

  it('reconciles an unsubscribed subscription with usage sent on what the engine kept: its periods up to its last usage, last-closed the period of its last usage once closed', async () => {
    const secondEnd = Date.UTC(2026, 11, 5, 10, 0, 30);
    const records = [
      record('cancelled', anchor + HOUR, 4, 'SENT'),
      record('cancelled', end - HOUR, 2, 'SENT'),
      record('recent', anchor + HOUR, 1, 'SENT'),
      record('recent', end + HOUR, 3, 'SENT'), // its last usage, in the period still open
      record('api-gone', anchor + HOUR, 1, 'SENT', { apiUuid: 'api-deleted' }),
    ];
    const answers = { cancelled: { meter: 'm', counted: counted(4), invoice: finalInvoice(4) }, recent: { meter: 'm', counted: counted(1), invoice: finalInvoice(1) } };
    const unsubscribed = ['cancelled', 'recent', 'api-gone'];
    const closed = await run(records, answers, null, { unsubscribed });
    expect(closed.rows.map((r) => [r.subscriptionId, r.ended, r.periodEnd, r.status])).toEqual([['cancelled', true, iso(end), 'DIFFERENT']]);
    expect(closed.rows[0]!.differences).toEqual([
      { kind: 'NOT_COUNTED', quantity: 2, detail: 'Meterline sent 6, the engine counted 4' },
      { kind: 'NOT_INVOICED', quantity: 2, detail: 'Meterline sent 6 for the period, invoice in_1 bills 4' },
    ]);
    expect(engineAsked).toEqual([{ ended: true, uuid: 'cancelled', api: ref('any').api }]);
    expect(closed.skipped).toEqual([
      { subscriptionId: 'api-gone', reason: 'the subscription and its API api-deleted no longer exist in Meterline' },
      { subscriptionId: 'gone', reason: 'the subscription no longer exists in Meterline' },
    ]);

    // A month: the periods ending in it, none after the last usage sent.
    const december = await run(records, answers, null, { unsubscribed, selector: { kind: 'month', start: Date.UTC(2026, 11, 1), end: Date.UTC(2027, 0, 1), label: '2026-12' } });
    expect(december.rows.map((r) => [r.subscriptionId, r.ended, r.periodEnd])).toEqual([['recent', true, iso(secondEnd)]]);
  });

  it('refuses an engine that cannot say what it counted', async () => {
    await expect(run([], { a: null }, {})).rejects.toThrow(new UsageReconcileUnsupportedError('the billing engine "test" cannot reconcile usage (it cannot say what it counted and invoiced)'));
  });
});
