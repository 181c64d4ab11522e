import Stripe from 'stripe';
import { LIVE_RATE_LIMIT, RateLimiter, SANDBOX_RATE_LIMIT } from '../faults/rate-limit';
import { failureOf, startHarness, type Harness } from './harness';

/**
 * "The meter event endpoint allows 1000 calls per second in live mode, and one concurrent call per
 * customer per meter" ("Monitor for 429 status codes"):
 * https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage-api#rate-limits.
 * A second call for the same customer and meter while the first is in flight is refused with 429;
 * calls for another customer, and later calls, go through.
 */
let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness();
  stripe = harness.client('sk_test_meter_concurrency');
});
afterAll(() => harness.server.close());

const event = (customer: string, identifier: string) => ({
  event_name: 'api_calls_concurrency',
  identifier,
  payload: { stripe_customer_id: customer, value: '1' },
});

it('refuses a concurrent meter event for the same customer and meter with 429 rate_limit', async () => {
  await stripe.billing.meters.create({ display_name: 'calls', event_name: 'api_calls_concurrency', default_aggregation: { formula: 'sum' } });
  const [a, b] = await Promise.all([stripe.customers.create({ email: 'a@example.com' }), stripe.customers.create({ email: 'b@example.com' })]);
  const held = harness.server.faults.hold({ method: 'POST', path: '/v1/billing/meter_events' });
  const first = stripe.billing.meterEvents.create(event(a.id, 'first'));
  while (held.waiting() === 0) await new Promise((resolve) => setTimeout(resolve, 5)); // until it arrives (jest's timeout bounds it)

  const refused = await failureOf(stripe.billing.meterEvents.create(event(a.id, 'second')));
  expect(refused).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
  expect(refused).toMatchObject({ statusCode: 429, code: 'rate_limit' });

  const otherCustomer = stripe.billing.meterEvents.create(event(b.id, 'other-customer'));
  while (held.waiting() < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  held.release();
  await expect(first).resolves.toMatchObject({ identifier: 'first' });
  await expect(otherCustomer).resolves.toMatchObject({ identifier: 'other-customer' });
  // Once the first is answered, the customer's next call goes through.
  await expect(stripe.billing.meterEvents.create(event(a.id, 'second'))).resolves.toMatchObject({ identifier: 'second' });
});

/** The sandbox's 25 requests a second per account (https://docs.stripe.com/rate-limits), on a clock the test moves. */
it('the sandbox preset admits 25 requests of an account in a second, refuses the 26th, and admits again a second later', () => {
  let now = 0;
  const limiter = new RateLimiter(() => now);
  limiter.configure(SANDBOX_RATE_LIMIT);
  const request = (account: string) => limiter.admit({ method: 'GET', path: '/v1/customers', account }, 'GET /v1/customers');
  expect(Array.from({ length: 25 }, () => request('acct_a')).every(Boolean)).toBe(true);
  expect(request('acct_a')).toBe(false);
  expect(request('acct_b')).toBe(true); // counted per account
  now = 999;
  expect(request('acct_a')).toBe(false);
  now = 1_000;
  expect(request('acct_a')).toBe(true);
  expect(LIVE_RATE_LIMIT).toEqual({ global: 100 });
});
