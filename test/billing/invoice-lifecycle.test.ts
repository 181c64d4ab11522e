import { decideAccess } from '../../src/billing/access-policy';
import { advanceInvoiceStatus } from '../../src/billing/invoice-lifecycle';
import type { InvoiceStatus } from '../../src/monetization/billing-events';

describe('invoice status only moves forward', () => {
  it.each<[InvoiceStatus | undefined, InvoiceStatus, InvoiceStatus]>([
    [undefined, 'OPEN', 'OPEN'],
    ['DRAFT', 'OPEN', 'OPEN'],
    ['OPEN', 'PAID', 'PAID'],
    ['PAID', 'OPEN', 'PAID'], // a late `finalized` after `paid`
    ['OPEN', 'DRAFT', 'OPEN'],
    ['OPEN', 'UNCOLLECTIBLE', 'UNCOLLECTIBLE'],
    ['UNCOLLECTIBLE', 'PAID', 'PAID'], // paid after being written off
    ['UNCOLLECTIBLE', 'VOID', 'VOID'],
    ['UNCOLLECTIBLE', 'OPEN', 'UNCOLLECTIBLE'],
    ['VOID', 'PAID', 'VOID'],
    ['PAID', 'VOID', 'PAID'],
  ])('%s + %s → %s', (current, incoming, expected) => {
    expect(advanceInvoiceStatus(current, incoming)).toBe(expected);
  });
});

describe('access decided from local payment standing', () => {
  const day = 86_400_000;
  const now = new Date('2026-11-21T12:00:00Z');
  const rules = { holdUntilPaid: true, gracePeriodMs: 3 * day };

  it('a paid-plan subscription waits ON_HOLD for its first payment when the tenant asks for it', () => {
    expect(decideAccess({ awaitingFirstPayment: true, failingSince: null, cancelledAt: null }, rules, now)).toEqual({
      status: 'ON_HOLD',
      allowed: false,
      reason: 'the first invoice of this subscription is not paid yet',
    });
  });

  it('without that rule it may call at once', () => {
    expect(decideAccess({ awaitingFirstPayment: true, failingSince: null, cancelledAt: null }, { ...rules, holdUntilPaid: false }, now).allowed).toBe(true);
  });

  it('a failed payment keeps access during the grace period', () => {
    const failingSince = new Date(now.getTime() - 3 * day + 1);
    expect(decideAccess({ awaitingFirstPayment: false, failingSince, cancelledAt: null }, rules, now)).toMatchObject({ status: 'UNBLOCKED', allowed: true });
  });

  it('a subscription the billing engine cancelled is blocked', () => {
    expect(decideAccess({ awaitingFirstPayment: false, failingSince: null, cancelledAt: now }, rules, now)).toMatchObject({
      status: 'BLOCKED',
      reason: 'the billing engine cancelled this subscription',
    });
  });

  it('and blocks once the grace period is over, saying since when', () => {
    const failingSince = new Date(now.getTime() - 3 * day);
    expect(decideAccess({ awaitingFirstPayment: false, failingSince, cancelledAt: null }, rules, now)).toEqual({
      status: 'BLOCKED',
      allowed: false,
      reason: `an invoice is unpaid since ${failingSince.toISOString()}`,
    });
  });
});
