import { migrateLatest } from '../../helpers/migrations';
import { forEachTestDatabase } from '../../helpers/databases';
import { usableCustomerEmail } from '../../../plugins/stripe/customer-email';
import { monetizedWorld, useStripeServer } from './harness';

/**
 * A subscriber's e-mail comes from their token, not from a request Meterline could refuse; Stripe
 * answers a malformed one with 400 email_invalid (https://docs.stripe.com/error-codes#email-invalid,
 * modelled by the local server). Meterline leaves a malformed address out of the customers it
 * creates, so the subscription does not fail for it.
 */
const stripeServer = useStripeServer();

describe('usableCustomerEmail', () => {
  it.each(['ada@example.com', 'first.last+tag@mail.example.co.uk'])('keeps %s', (email) => {
    expect(usableCustomerEmail(email)).toBe(email);
  });

  it.each(['not-an-email', 'a@b', 'two@@example.com', 'sp ace@example.com', '@example.com', 'tab\t@example.com', '', null])('leaves out %p', (email) => {
    expect(usableCustomerEmail(email)).toBeUndefined();
  });
});

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  it('a subscriber with a malformed e-mail is subscribed; the customers are created without it', async () => {
    const world = await monetizedWorld(stripeServer(), database().knex);
    const who = await world.seed.subscriber(undefined, 'ada@@example');
    const app = await world.seed.application(who);
    const subscription = await world.seed.subscription(world.api, app, who, world.gold);
    const outcome = await world.engine.createSubscription(subscription);
    expect(outcome).toMatchObject({ billed: true });
    const stripeSubscription = await world.stripe.subscriptions.retrieve(outcome.engineSubscriptionId!, {}, { stripeAccount: world.account });
    const shared = await world.stripe.customers.retrieve(String(stripeSubscription.customer), {}, { stripeAccount: world.account });
    expect(shared).toMatchObject({ email: null });
    const platform = await world.stripe.customers.list({ limit: 100 });
    const mine = platform.data.filter((c) => c.metadata.meterline_subscriber === who.userId);
    expect(mine).toEqual([expect.objectContaining({ email: null })]);
  });

  it('a well-formed e-mail is still given to Stripe', async () => {
    const world = await monetizedWorld(stripeServer(), database().knex);
    const who = await world.seed.subscriber(undefined, 'grace@example.com');
    const app = await world.seed.application(who);
    const subscription = await world.seed.subscription(world.api, app, who, world.gold);
    const outcome = await world.engine.createSubscription(subscription);
    const stripeSubscription = await world.stripe.subscriptions.retrieve(outcome.engineSubscriptionId!, {}, { stripeAccount: world.account });
    await expect(world.stripe.customers.retrieve(String(stripeSubscription.customer), {}, { stripeAccount: world.account })).resolves.toMatchObject({
      email: 'grace@example.com',
    });
  });
});
