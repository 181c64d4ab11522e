import type Stripe from 'stripe';
import { migrateLatest } from '../helpers/migrations';
import { createLogger } from '../../src/logger';
import { RecordStore } from '../../src/usage/record-store';
import { AFTER_PERIOD_END_MS, type Timer } from '../../src/usage/period-end-trigger';
import { scheduleUsagePublishing } from '../../src/usage/schedule';
import { periodBoundary } from '../../src/usage/windows';
import { forEachTestDatabase } from '../helpers/databases';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { callEvent, minutesAfter, monetizedWorld, publishAndWait } from './world';

/**
 * The last window of a billing period and the engine's draft hour: Stripe keeps a period's renewal
 * invoice a draft for an hour and puts usage reported meanwhile on it; later usage of the period is
 * never invoiced (https://docs.stripe.com/billing/subscriptions/usage-based/configure-grace-period).
 * The publisher sends that window right after the period end and reports one it could not send in time.
 */
const START = Date.UTC(2030, 2, 4, 9, 0, 0) / 1000;
const HOUR_MS = 3_600_000;
let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer({ port: 0, startAt: START });
});
afterAll(() => server.close());

function moveTo(ms: number): void {
  server.clock.advanceTo(Math.max(server.clock.now(), Math.ceil(ms / 1000)));
}

/** A timer the test fires by hand, on the Stripe server's clock. */
class ManualTimer implements Timer {
  armed: (() => void) | undefined;
  private onArmed: (() => void) | undefined;
  set(callback: () => void): unknown {
    this.armed = callback;
    this.onArmed?.();
    return callback;
  }
  clear(): void {
    this.armed = undefined;
  }
  /** Resolves once something is armed (the trigger plans after reading the database). */
  whenArmed(): Promise<void> {
    return this.armed ? Promise.resolve() : new Promise((resolve) => (this.onArmed = resolve));
  }
}

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));
  beforeEach(async () => {
    server.faults.clear();
    for (const table of ['ML_USAGE_EVENT', 'ML_USAGE_RECORD', 'ML_USAGE_PUBLISH_JOB', 'ML_USAGE_BILLING_CYCLE', 'AM_MONETIZATION_USAGE']) await database().knex(table).delete();
  });

  /**
   * One per-request subscription anchored on a whole hour, with 3 calls early in its first period
   * already published (so the publisher knows its billing cycle), and 2 calls in the period's last
   * window not yet published; the clock 5 minutes before the period ends.
   */
  async function lastWindowPending() {
    moveTo(Math.ceil(server.clock.now() / 3600) * HOUR_MS);
    const world = await monetizedWorld(server, database().knex, 1);
    const [a] = world.billed as [(typeof world.billed)[0]];
    const anchor = server.clock.now() * 1000;
    const periodEnd = periodBoundary({ anchorMs: anchor, interval: 'month', intervalCount: 1 }, 1);
    moveTo(anchor + HOUR_MS);
    await world.usage.ingestion.ingest(Array.from({ length: 3 }, (_, i) => callEvent(a, minutesAfter(new Date(anchor), 10 + i))));
    expect(await publishAndWait(world.usage)).toMatchObject({ recordsSent: 1, failures: [] });
    moveTo(periodEnd - 5 * 60_000);
    await world.usage.ingestion.ingest([callEvent(a, new Date(periodEnd - 20 * 60_000)), callEvent(a, new Date(periodEnd - 10 * 60_000))]);
    const stripeOptions = { stripeAccount: world.account };
    /** The closed period's invoice and its usage quantity. */
    const periodInvoice = async (): Promise<{ invoice: Stripe.Invoice; calls: number | null | undefined }> => {
      const invoices = await world.stripe.invoices.list({ subscription: a.stripeSubscriptionId }, stripeOptions);
      const invoice = invoices.data.find((i) => i.billing_reason === 'subscription_cycle' && i.period_end === periodEnd / 1000);
      if (!invoice) throw new Error('no invoice for the closed period');
      const subscription = await world.stripe.subscriptions.retrieve(a.stripeSubscriptionId, {}, stripeOptions);
      const metered = subscription.items.data.find((item) => item.price.recurring?.usage_type === 'metered')?.price.id;
      return { invoice, calls: invoice.lines.data.find((line) => line.pricing?.price_details?.price === metered)?.quantity };
    };
    const records = () => new RecordStore(database().knex).list({ subscriptionUuid: a.subscription.uuid });
    return { world, a, periodEnd, periodInvoice, records };
  }

  it('publishes right after the period end, so the last window lands on that period\'s invoice', async () => {
    const { world, periodEnd, periodInvoice, records } = await lastWindowPending();
    const timer = new ManualTimer();
    // The schedule as the service starts it, with no cron: only the period-end runs.
    const stop = scheduleUsagePublishing('', world.usage, createLogger('silent'), timer);
    await timer.whenArmed();
    moveTo(periodEnd + AFTER_PERIOD_END_MS); // Stripe closes the period: its invoice is a draft for an hour
    expect((await periodInvoice()).invoice.status).toBe('draft');
    timer.armed?.();
    await stop(); // waits for the run the timer started to be under way
    const summary = await world.usage.publisher.current();
    expect(summary).toMatchObject({ outcome: 'SUCCESSFULL', recordsSent: 1, eventsPublished: 2, failures: [] });
    expect((await records()).map((r) => r.state)).toEqual(['SENT', 'SENT']);

    moveTo(periodEnd + HOUR_MS); // the draft is finalized with the usage sent meanwhile
    const { invoice, calls } = await periodInvoice();
    expect(invoice.status).not.toBe('draft');
    expect(calls).toBe(5);
  });

  it('reports a last window it could send only after the period\'s invoice was finalized, and does not send it', async () => {
    const { world, a, periodEnd, periodInvoice, records } = await lastWindowPending();
    moveTo(periodEnd + 2 * HOUR_MS);
    const summary = await publishAndWait(world.usage);
    expect(summary).toMatchObject({ outcome: 'UNSUCCESSFULL', recordsSent: 0 });
    expect(summary.failures).toEqual([{ subscription: a.subscription.uuid, reason: expect.stringMatching(/missed its invoice and was not sent/) }]);
    expect((await world.usage.publishStatus()).progress.failures).toEqual(summary.failures);
    expect((await records()).map((r) => [r.quantity, r.state])).toEqual([
      [3, 'SENT'],
      [2, 'MISSED'],
    ]);
    expect((await periodInvoice()).calls).toBe(3);
    expect(await world.billedInStripe(a)).toBe(3);
  });

  it('sends a last window near the end of the draft hour, and reports that it may have missed the invoice', async () => {
    const { world, a, periodEnd, periodInvoice, records } = await lastWindowPending();
    moveTo(periodEnd + 55 * 60_000);
    const summary = await publishAndWait(world.usage);
    expect(summary).toMatchObject({ outcome: 'UNSUCCESSFULL', recordsSent: 1, eventsPublished: 2 });
    expect(summary.failures).toEqual([{ subscription: a.subscription.uuid, reason: expect.stringMatching(/may be missing from that invoice/) }]);
    expect((await records()).map((r) => r.state)).toEqual(['SENT', 'MISSED']);
    moveTo(periodEnd + HOUR_MS);
    expect((await periodInvoice()).calls).toBe(5); // this time it made it: the report asks a person to check
  });
});
