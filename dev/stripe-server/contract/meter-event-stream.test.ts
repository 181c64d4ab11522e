import Stripe from 'stripe';
import { failureOf, START, startHarness, type Harness } from './harness';

/**
 * Stripe's high-throughput meter event stream, API v2:
 * https://docs.stripe.com/api/v2/billing-meter-stream (a session's token is "only valid for 15
 * minutes"), https://docs.stripe.com/api/v2/billing/meter-event-stream/create ("Events are
 * processed asynchronously, including validation", "up to 100 events per request", 401
 * `billing_meter_event_session_expired`), a connected account named by `Stripe-Context`
 * (https://docs.stripe.com/context), and "In test mode and sandbox mode, calls to the meter event
 * and meter event stream endpoint count toward the basic limit"
 * (https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage-api#rate-limits).
 */
let harness: Harness;
let stripe: Stripe;
let account: string;
let customers: [string, string];
let meterId: string;
const EVENT_NAME = 'api_calls_stream';

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client('sk_test_meter_stream');
  account = (await stripe.accounts.create({ type: 'custom', country: 'US', capabilities: { card_payments: { requested: true }, transfers: { requested: true } } })).id;
  const meter = await stripe.billing.meters.create({ display_name: 'calls', event_name: EVENT_NAME, default_aggregation: { formula: 'sum' } }, { stripeContext: account });
  meterId = meter.id;
  const [a, b] = await Promise.all([stripe.customers.create({ email: 'a@example.com' }, { stripeContext: account }), stripe.customers.create({ email: 'b@example.com' }, { stripeContext: account })]);
  customers = [a.id, b.id];
});
afterAll(() => harness.server.close());
afterEach(() => harness.server.faults.clear());

const event = (customer: string, identifier: string, value = '1') => ({
  event_name: EVENT_NAME,
  identifier,
  payload: { stripe_customer_id: customer, value },
  timestamp: new Date(harness.server.clock.now() * 1000).toISOString(),
});

async function totalOf(customer: string): Promise<number> {
  harness.server.clock.advance(harness.server.billing.aggregationDelaySeconds());
  const end = (Math.floor(harness.server.clock.now() / 60) + 10) * 60;
  const summaries = await stripe.billing.meters.listEventSummaries(meterId, { customer, start_time: end - 86_400, end_time: end }, { stripeContext: account });
  return summaries.data.reduce((sum, s) => sum + s.aggregated_value, 0);
}

it('a session made in a connected account (Stripe-Context) takes 100 events in one request into that account; a repeated identifier is dropped', async () => {
  const session = await stripe.v2.billing.meterEventSession.create({}, { stripeContext: account });
  expect(session).toMatchObject({ object: 'v2.billing.meter_event_session', authentication_token: expect.any(String) });
  expect(Date.parse(session.expires_at) - Date.parse(session.created)).toBe(15 * 60_000);

  const events = Array.from({ length: 100 }, (_, i) => event(customers[i % 2]!, `stream-${i}`, String(i + 1)));
  await expect(stripe.v2.billing.meterEventStream.create({ events }, { apiKey: session.authentication_token })).resolves.toEqual({});
  // Sent again (an answer lost on the way): the identifiers are remembered, nothing counts twice.
  await stripe.v2.billing.meterEventStream.create({ events: events.slice(0, 10) }, { apiKey: session.authentication_token });

  const odd = events.filter((_, i) => i % 2 === 1).reduce((sum, e) => sum + Number(e.payload.value), 0);
  expect(await totalOf(customers[0])).toBe(5050 - odd);
  expect(await totalOf(customers[1])).toBe(odd);
  const stream = harness.server.requests.list().filter((r) => r.path === '/v2/billing/meter_event_stream');
  expect(stream.map((r) => r.account)).toEqual([account, account]);
});

it('refuses more than 100 events in a request, and a session token after its 15 minutes', async () => {
  const session = await stripe.v2.billing.meterEventSession.create({}, { stripeContext: account });
  const tooMany = Array.from({ length: 101 }, (_, i) => event(customers[0], `too-many-${i}`));
  const refused = await failureOf(stripe.v2.billing.meterEventStream.create({ events: tooMany }, { apiKey: session.authentication_token }));
  expect(refused.statusCode).toBe(400);

  harness.server.clock.advance(15 * 60);
  const expired = await failureOf(stripe.v2.billing.meterEventStream.create({ events: [event(customers[0], 'late')] }, { apiKey: session.authentication_token }));
  expect(expired).toBeInstanceOf(Stripe.errors.TemporarySessionExpiredError);
  expect(expired).toMatchObject({ statusCode: 401, code: 'billing_meter_event_session_expired' });
});

it('a stream request counts as one request of the account toward the sandbox limit, whatever its number of events', async () => {
  const session = await stripe.v2.billing.meterEventSession.create({}, { stripeContext: account });
  harness.server.faults.rateLimit({ global: 2 });
  const batch = (n: number) => Array.from({ length: 100 }, (_, i) => event(customers[1], `limit-${n}-${i}`));
  await stripe.v2.billing.meterEventStream.create({ events: batch(1) }, { apiKey: session.authentication_token });
  await stripe.v2.billing.meterEventStream.create({ events: batch(2) }, { apiKey: session.authentication_token });
  const third = await failureOf(stripe.v2.billing.meterEventStream.create({ events: batch(3) }, { apiKey: session.authentication_token }));
  expect(third.statusCode).toBe(429);
});
