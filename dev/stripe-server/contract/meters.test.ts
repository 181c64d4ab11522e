import Stripe from 'stripe';
import { DEFAULT_AGGREGATION_DELAY_SECONDS } from '../billing/usage';
import { DAY, START, failureOf, startHarness, type Harness } from './harness';

let harness: Harness;
let stripe: Stripe;
let customer: Stripe.Customer;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client();
  customer = await stripe.customers.create({ email: 'dev@example.com' });
});
afterAll(() => harness.server.close());

async function meter(eventName: string, formula: 'sum' | 'count' | 'last'): Promise<Stripe.Billing.Meter> {
  return stripe.billing.meters.create({ display_name: eventName, event_name: eventName, default_aggregation: { formula } });
}

async function record(eventName: string, value: number, timestamp = START, identifier?: string) {
  const params: Stripe.Billing.MeterEventCreateParams = {
    event_name: eventName,
    payload: { stripe_customer_id: customer.id, value: String(value) },
    timestamp,
  };
  if (identifier) params.identifier = identifier;
  return stripe.billing.meterEvents.create(params);
}

/** Lets the server aggregate the meter events sent so far (Stripe aggregates asynchronously). */
function aggregated(server = harness.server): void {
  server.clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS);
}

/** The meter's summary over the range once what was sent so far is aggregated. */
async function total(m: Stripe.Billing.Meter, start = START - 60 * 60, end = START + 60 * 60): Promise<number | undefined> {
  aggregated();
  return counted(m, start, end);
}

/** The meter's summary over the range as it stands now. */
async function counted(m: Stripe.Billing.Meter, start = START - 60 * 60, end = START + 60 * 60): Promise<number | undefined> {
  const summaries = await stripe.billing.meters.listEventSummaries(m.id, { customer: customer.id, start_time: start, end_time: end });
  return summaries.data[0]?.aggregated_value;
}

describe('billing meters', () => {
  it('creates a meter with Stripe defaults for customer mapping and value key', async () => {
    const created = await meter('meters_defaults', 'sum');
    expect(created).toMatchObject({
      object: 'billing.meter',
      status: 'active',
      customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' },
      value_settings: { event_payload_key: 'value' },
      default_aggregation: { formula: 'sum' },
    });
    expect(created.id).toMatch(/^mtr_/);
  });

  it('deactivates a meter', async () => {
    const created = await meter('meters_deactivate', 'sum');
    const deactivated = await stripe.billing.meters.deactivate(created.id);
    expect(deactivated.status).toBe('inactive');
    expect(deactivated.status_transitions.deactivated_at).toBe(harness.server.clock.now());
  });

  it('lists and retrieves meters', async () => {
    const created = await meter('meters_list', 'count');
    await expect(stripe.billing.meters.retrieve(created.id)).resolves.toMatchObject({ event_name: 'meters_list' });
    const list = await stripe.billing.meters.list({ status: 'active', limit: 100 });
    expect(list.data.map((m) => m.id)).toContain(created.id);
  });
});

describe('meter events and summaries', () => {
  it('sums event values for a sum meter', async () => {
    const m = await meter('usage_sum', 'sum');
    await record('usage_sum', 3);
    await record('usage_sum', 4);
    await expect(total(m)).resolves.toBe(7);
  });

  it('counts events for a count meter', async () => {
    const m = await meter('usage_count', 'count');
    await record('usage_count', 10);
    await record('usage_count', 10);
    await expect(total(m)).resolves.toBe(2);
  });

  it('keeps the latest value for a last meter', async () => {
    const m = await meter('usage_last', 'last');
    await record('usage_last', 9, START - 10);
    await record('usage_last', 5, START - 5);
    await expect(total(m)).resolves.toBe(5);
  });

  it('only counts events inside the requested window', async () => {
    const m = await meter('usage_window', 'sum');
    await record('usage_window', 1, START - 2 * 60 * 60);
    await record('usage_window', 2, START);
    await expect(total(m, START - 60 * 60, START + 60 * 60)).resolves.toBe(2);
  });

  it('groups summaries per day with value_grouping_window', async () => {
    const m = await meter('usage_daily', 'sum');
    await record('usage_daily', 1, START - DAY);
    await record('usage_daily', 2, START);
    aggregated();
    const summaries = await stripe.billing.meters.listEventSummaries(m.id, {
      customer: customer.id,
      start_time: START - DAY,
      end_time: START + DAY,
      value_grouping_window: 'day',
    });
    expect(summaries.data.map((s) => s.aggregated_value)).toEqual([2, 1]);
  });

  // https://docs.stripe.com/api/billing/meter-event/create (`identifier`: unique within a rolling
  // 24 h); the answer's wording as integrators report it from production:
  // https://github.com/langfuse/langfuse/pull/16292
  it('refuses an identifier it saw in the last 24 h as Stripe does: 400 invalid_request_error, no code, counted once', async () => {
    const m = await meter('usage_dupe', 'sum');
    await record('usage_dupe', 1, START, 'evt-identifier-1');
    const error = await failureOf(record('usage_dupe', 1, START, 'evt-identifier-1'));
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 400, type: 'StripeInvalidRequestError', message: 'An event already exists with identifier evt-identifier-1.' });
    expect(error.code).toBeUndefined();
    expect(error.param).toBeUndefined();
    await expect(total(m)).resolves.toBe(1);
  });

  // "Stripe processes meter events asynchronously, so aggregated usage in meter event summaries
  // and on upcoming invoices might not immediately reflect recently received meter events":
  // https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage
  it('counts an event in summaries only once it is aggregated, whatever its timestamp', async () => {
    const m = await meter('usage_lag', 'sum');
    await record('usage_lag', 5, START - 10 * 60);
    await expect(total(m)).resolves.toBe(5);
    await record('usage_lag', 7, START - 10 * 60); // stamped in the past, received now
    await expect(counted(m)).resolves.toBe(5);
    harness.server.clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS - 1);
    await expect(counted(m)).resolves.toBe(5);
    harness.server.clock.advance(1);
    await expect(counted(m)).resolves.toBe(12);
  });

  it('rejects a timestamp older than 35 days', async () => {
    await meter('usage_old', 'sum');
    const error = await failureOf(record('usage_old', 1, START - 36 * DAY));
    expect(error).toMatchObject({ statusCode: 400, param: 'timestamp' });
  });

  it('rejects a timestamp more than 5 minutes ahead', async () => {
    await meter('usage_future', 'sum');
    const error = await failureOf(record('usage_future', 1, harness.server.clock.now() + 6 * 60));
    expect(error).toMatchObject({ statusCode: 400, param: 'timestamp' });
  });

  it('rejects a value that is not a whole number', async () => {
    await meter('usage_fraction', 'sum');
    const error = await failureOf(
      stripe.billing.meterEvents.create({ event_name: 'usage_fraction', payload: { stripe_customer_id: customer.id, value: '1.5' } }),
    );
    expect(error).toMatchObject({ statusCode: 400, param: 'payload[value]' });
  });

  it('requires summary bounds on minute boundaries', async () => {
    const m = await meter('usage_align', 'sum');
    const error = await failureOf(
      stripe.billing.meters.listEventSummaries(m.id, { customer: customer.id, start_time: START + 1, end_time: START + 60 }),
    );
    expect(error).toMatchObject({ statusCode: 400, param: 'start_time' });
  });
});

describe('meter event identifiers are forgotten after 24 h', () => {
  // Its own server: moving the clock a day would shift the other tests' time windows.
  let own: Harness;
  let client: Stripe;
  beforeAll(async () => {
    own = await startHarness({ startAt: START });
    client = own.client();
  });
  afterAll(() => own.server.close());

  it('refuses the identifier until 24 h after it was first seen, and takes it again after', async () => {
    const c = await client.customers.create({ email: 'day@example.com' });
    const m = await client.billing.meters.create({ display_name: 'day', event_name: 'usage_day', default_aggregation: { formula: 'sum' } });
    const send = () =>
      client.billing.meterEvents.create({ event_name: 'usage_day', identifier: 'day-1', payload: { stripe_customer_id: c.id, value: '2' } });
    await send();
    own.server.clock.advance(DAY - 1);
    await expect(failureOf(send())).resolves.toMatchObject({ statusCode: 400, message: 'An event already exists with identifier day-1.' });
    own.server.clock.advance(1);
    await expect(send()).resolves.toMatchObject({ identifier: 'day-1' });
    aggregated(own.server);
    const summaries = await client.billing.meters.listEventSummaries(m.id, { customer: c.id, start_time: START - 3600, end_time: START + 2 * DAY });
    expect(summaries.data.reduce((sum, s) => sum + s.aggregated_value, 0)).toBe(4);
  });
});

describe('meter error reports', () => {
  // "v1.billing.meter.error_report_triggered: Occurs when a Meter has invalid async usage events"
  // (https://docs.stripe.com/api/v2/core/events/event-types), a thin event: the delivery is the
  // notification, its data is fetched from GET /v2/core/events/:id
  // (https://docs.stripe.com/event-destinations#thin-payload). Error codes: stripe-node's
  // V1BillingMeterErrorReportTriggeredEvent.
  // Thin events reach event destinations only (event-destinations.test.ts).
  const TYPE = 'v1.billing.meter.error_report_triggered';
  const NOWHERE = 'http://127.0.0.1:9/hook';

  async function reportsTo() {
    const destination = await stripe.v2.core.eventDestinations.create({
      name: 'meter error reports',
      type: 'webhook_endpoint',
      event_payload: 'thin',
      enabled_events: [TYPE],
      webhook_endpoint: { url: `${NOWHERE}/thin` },
      include: ['webhook_endpoint.signing_secret'],
    });
    const thin = { id: destination.id, secret: destination.webhook_endpoint?.signing_secret };
    const everything = await stripe.webhookEndpoints.create({ url: `${NOWHERE}/all`, enabled_events: ['*'] });
    return { thin, everything };
  }

  /** The one report delivered to the endpoint (the notification, signed), and the event fetched for it. */
  async function reportFor(endpointId: string, secret: string) {
    await harness.server.webhooks.flush();
    const deliveries = harness.server.webhooks.deliveries().filter((d) => d.endpointId === endpointId);
    expect(deliveries.map((d) => d.eventType)).toEqual([TYPE]);
    const delivery = deliveries[0];
    expect(delivery).toBeDefined();
    const notification = stripe.parseEventNotification(delivery!.payload, delivery!.signature, secret) as Stripe.Events.V1BillingMeterErrorReportTriggeredEventNotification;
    expect(notification).toMatchObject({ object: 'v2.core.event', type: TYPE, related_object: { type: 'billing.meter' } });
    const event = (await stripe.v2.core.events.retrieve(notification.id)) as unknown as { data: any }; // eslint-disable-line @typescript-eslint/no-explicit-any
    return { notification, event };
  }

  it('an accepted event for a customer the account does not have is not counted, and is reported with its identifier', async () => {
    const { thin, everything } = await reportsTo();
    const m = await meter('usage_unknown_customer', 'sum');
    await expect(
      stripe.billing.meterEvents.create({ event_name: 'usage_unknown_customer', identifier: 'unknown-cus-1', payload: { stripe_customer_id: 'cus_nobody', value: '5' }, timestamp: START }),
    ).resolves.toMatchObject({ identifier: 'unknown-cus-1' });
    await expect(total(m)).resolves.toBe(0);
    const { notification, event } = await reportFor(thin.id, thin.secret!);
    expect(notification.related_object).toMatchObject({ id: m.id });
    expect(event.data.reason).toEqual({
      error_count: 1,
      error_types: [
        { code: 'meter_event_customer_not_found', error_count: 1, sample_errors: [{ error_message: expect.stringContaining('cus_nobody'), request: { identifier: 'unknown-cus-1' } }] },
      ],
    });
    // A v1 endpoint on `*` gets no thin event.
    expect(harness.server.webhooks.deliveries().filter((d) => d.endpointId === everything.id && d.eventType === TYPE)).toEqual([]);
  });

  it('an event for a deactivated meter is reported as archived_meter', async () => {
    const { thin } = await reportsTo();
    const m = await meter('usage_archived', 'sum');
    await stripe.billing.meters.deactivate(m.id);
    await record('usage_archived', 2, START, 'archived-1');
    const { event } = await reportFor(thin.id, thin.secret!);
    expect(event.data.reason.error_types[0]).toMatchObject({ code: 'archived_meter', sample_errors: [{ request: { identifier: 'archived-1' } }] });
  });
});
