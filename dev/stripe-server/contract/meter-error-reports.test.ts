import Stripe from 'stripe';
import { METER_ERROR_WINDOW_SECONDS } from '../resources/meter-events';
import { SAMPLE_ERRORS_PER_CODE } from '../webhooks/thin-events';
import { START, startHarness, type Harness } from './harness';

/**
 * Meter error reports as Stripe sends them: "v1.billing.meter.error_report_triggered: Occurs when
 * a Meter has invalid async usage events" (https://docs.stripe.com/api/v2/core/events/event-types),
 * one event per meter and validation window, whose data counts the window's errors in all and by
 * code and lists sample errors per code (stripe-node's V1BillingMeterErrorReportTriggeredEvent.Data;
 * the example event at https://docs.stripe.com/api/v2/core/events/object: "There is 1 invalid
 * event", a ten-second window, `reason` null). Stripe documents no number of samples; this server
 * lists SAMPLE_ERRORS_PER_CODE.
 */
const TYPE = 'v1.billing.meter.error_report_triggered';
const NOWHERE = 'http://127.0.0.1:9/hook';

let harness: Harness;
let stripe: Stripe;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
  stripe = harness.client();
});
afterAll(() => harness.server.close());

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ReportData = any;

/** A thin event destination for meter error reports, and the clock at the start of a window. */
async function setUp() {
  const destination = await stripe.v2.core.eventDestinations.create({
    name: 'meter error reports',
    type: 'webhook_endpoint',
    event_payload: 'thin',
    enabled_events: [TYPE],
    webhook_endpoint: { url: NOWHERE },
  });
  const now = harness.server.clock.now();
  harness.server.clock.advanceTo(Math.ceil((now + 1) / METER_ERROR_WINDOW_SECONDS) * METER_ERROR_WINDOW_SECONDS);
  return destination.id;
}

/** The reports delivered to the destination (after Stripe's asynchronous work), with their data, in order. */
async function reportsTo(destinationId: string): Promise<Array<{ meter: string; reason: unknown; data: ReportData }>> {
  await harness.server.webhooks.flush();
  const deliveries = harness.server.webhooks.deliveries().filter((d) => d.endpointId === destinationId);
  expect(deliveries.map((d) => d.eventType)).toEqual(deliveries.map(() => TYPE));
  return Promise.all(
    deliveries.map(async (d) => {
      const notification = JSON.parse(d.payload) as { id: string; related_object: { id: string } };
      const event = (await stripe.v2.core.events.retrieve(notification.id)) as unknown as { data: ReportData; reason: unknown };
      return { meter: notification.related_object.id, reason: event.reason, data: event.data };
    }),
  );
}

async function meter(eventName: string) {
  return stripe.billing.meters.create({ display_name: eventName, event_name: eventName, default_aggregation: { formula: 'sum' } });
}

function send(eventName: string, identifier: string, customer = 'cus_nobody') {
  return stripe.billing.meterEvents.create({ event_name: eventName, identifier, payload: { stripe_customer_id: customer, value: '1' } });
}

describe('meter error reports', () => {
  it('groups a meter\'s errors in one window into one report: counted by code, with a few samples', async () => {
    const destination = await setUp();
    const m = await meter('grouped_errors');
    const other = await meter('grouped_errors_other');
    const ids = Array.from({ length: SAMPLE_ERRORS_PER_CODE + 2 }, (_, i) => `grouped-${i}`);
    for (const id of ids) await send('grouped_errors', id);
    await send('grouped_errors_other', 'other-0');
    const reports = await reportsTo(destination);
    expect(reports.map((r) => r.meter)).toEqual([m.id, other.id]);
    const start = harness.server.clock.now();
    expect(reports[0]!.reason).toBeNull();
    expect(reports[0]!.data).toEqual({
      developer_message_summary: `There are ${ids.length} invalid events`,
      reason: {
        error_count: ids.length,
        error_types: [
          {
            code: 'meter_event_customer_not_found',
            error_count: ids.length,
            sample_errors: ids.slice(0, SAMPLE_ERRORS_PER_CODE).map((identifier) => ({ error_message: expect.stringContaining('cus_nobody'), request: { identifier } })),
          },
        ],
      },
      validation_start: new Date(start * 1000).toISOString(),
      validation_end: new Date((start + METER_ERROR_WINDOW_SECONDS) * 1000).toISOString(),
    });
    expect(reports[1]!.data).toMatchObject({ developer_message_summary: 'There is 1 invalid event', reason: { error_count: 1 } });
  });

  it('counts each code of a window apart', async () => {
    const destination = await setUp();
    const m = await meter('two_codes');
    await send('two_codes', 'two-codes-1');
    await send('two_codes', 'two-codes-2');
    await stripe.billing.meters.deactivate(m.id);
    const customer = await stripe.customers.create({ email: 'codes@example.com' });
    await send('two_codes', 'two-codes-3', customer.id);
    const [report, ...more] = await reportsTo(destination);
    expect(more).toEqual([]);
    expect(report!.data.reason).toEqual({
      error_count: 3,
      error_types: [
        { code: 'meter_event_customer_not_found', error_count: 2, sample_errors: [expect.objectContaining({ request: { identifier: 'two-codes-1' } }), expect.objectContaining({ request: { identifier: 'two-codes-2' } })] },
        { code: 'archived_meter', error_count: 1, sample_errors: [expect.objectContaining({ request: { identifier: 'two-codes-3' } })] },
      ],
    });
  });

  it('reports a window once the clock has passed it; errors after it go into the next window', async () => {
    const destination = await setUp();
    await meter('windows');
    const start = harness.server.clock.now();
    harness.server.webhooks.pause();
    await send('windows', 'window-1');
    harness.server.clock.advance(METER_ERROR_WINDOW_SECONDS - 1);
    await send('windows', 'window-2');
    harness.server.clock.advance(1);
    await send('windows', 'window-3');
    // The first window ended before window-3 was sent: it is reported without a flush.
    const held = harness.server.webhooks.pending().filter((d) => d.endpointId === destination);
    harness.server.webhooks.resume();
    expect(held).toHaveLength(1);
    const reports = await reportsTo(destination);
    expect(reports.map((r) => [r.data.validation_start, r.data.reason.error_types[0].sample_errors.map((s: ReportData) => s.request.identifier)])).toEqual([
      [new Date(start * 1000).toISOString(), ['window-1', 'window-2']],
      [new Date((start + METER_ERROR_WINDOW_SECONDS) * 1000).toISOString(), ['window-3']],
    ]);
  });

  it('leaves valid events out of the report and counts them', async () => {
    const destination = await setUp();
    const m = await meter('mixed_validity');
    const customer = await stripe.customers.create({ email: 'valid@example.com' });
    await send('mixed_validity', 'valid-1', customer.id);
    await send('mixed_validity', 'invalid-1');
    const [report, ...more] = await reportsTo(destination);
    expect(more).toEqual([]);
    expect(report!.data.reason).toMatchObject({ error_count: 1, error_types: [{ sample_errors: [{ request: { identifier: 'invalid-1' } }] }] });
    harness.server.clock.advance(60);
    const summaries = await stripe.billing.meters.listEventSummaries(m.id, { customer: customer.id, start_time: START, end_time: Math.ceil((harness.server.clock.now() + 60) / 3600) * 3600 });
    expect(summaries.data.reduce((sum, s) => sum + s.aggregated_value, 0)).toBe(1);
  });
});
