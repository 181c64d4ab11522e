import { apiMeterEventName } from '../../../plugins/stripe/meters';
import { migrateLatest } from '../../helpers/migrations';
import { RecordStore } from '../../../src/usage/record-store';
import { startStripeServer, type StripeServer } from '../../../dev/stripe-server';
import { forEachTestDatabase } from '../../helpers/databases';
import { callEvent, minutesAfter, monetizedWorld, publishAndWait } from '../../usage/world';

/**
 * Stripe remembers a meter event's identifier for a rolling 24 h and refuses it again with
 * "An event already exists with identifier <id>." (400, no code):
 * https://docs.stripe.com/api/billing/meter-event/create. A window whose send reached Stripe but
 * whose answer was lost (a crash before it was marked SENT) is sent again with the same
 * identifier; under another idempotency key Stripe answers with that refusal, which the engine
 * reads as "already recorded".
 */
const START = Date.UTC(2030, 2, 4, 9, 0, 0) / 1000;
let server: StripeServer;
beforeAll(async () => {
  server = await startStripeServer({ port: 0, startAt: START });
});
afterAll(() => server.close());

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  it('a window resent after a crash is counted once, and the subscription\'s later windows are not held', async () => {
    server.clock.advanceTo(Math.ceil(server.clock.now() / 3600) * 3600);
    const t0 = new Date(server.clock.now() * 1000);
    const world = await monetizedWorld(server, database().knex, 1);
    const [s] = world.billed as [(typeof world.billed)[0]];
    server.clock.advance(3 * 3600);
    const events = [
      ...Array.from({ length: 3 }, (_, i) => callEvent(s, minutesAfter(t0, 5 + i))),
      ...Array.from({ length: 2 }, (_, i) => callEvent(s, minutesAfter(t0, 65 + i))),
    ];
    expect((await world.usage.ingestion.ingest(events)).accepted).toBe(5);
    expect(await world.usage.publisher.freezeOnly()).toEqual({ frozen: true });
    const records = await new RecordStore(database().knex).list({ subscriptionUuid: s.subscription.uuid });
    expect(records.map((r) => [r.state, r.quantity])).toEqual([['PENDING', 3], ['PENDING', 2]]);

    // The first window's earlier send: Stripe recorded it, the answer never arrived, and its
    // idempotency key is not the one the next job sends.
    const first = records[0]!;
    await world.stripe.billing.meterEvents.create(
      {
        event_name: apiMeterEventName(world.api.uuid),
        identifier: first.identifier,
        payload: { stripe_customer_id: s.customer, value: '3' },
        timestamp: first.windowStart / 1000,
      },
      { stripeAccount: world.account, idempotencyKey: `lost-${first.identifier}` },
    );

    const summary = await publishAndWait(world.usage);
    expect(summary).toMatchObject({ outcome: 'SUCCESSFULL', recordsSent: 2, failures: [] });
    const refused = server.requests
      .list()
      .filter((r) => r.path === '/v1/billing/meter_events' && r.status === 400 && (r.params as Record<string, string>).identifier === first.identifier);
    expect(refused).toHaveLength(1);
    expect(await world.billedInStripe(s)).toBe(5);
    const after = await new RecordStore(database().knex).list({ subscriptionUuid: s.subscription.uuid });
    expect(after.map((r) => r.state)).toEqual(['SENT', 'SENT']);
  });
});
