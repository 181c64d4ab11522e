import { START, startHarness, type Harness } from './harness';
import { latestInvoice, monthlyPrice, payingCustomer } from './billing-fixtures';

let harness: Harness;

beforeAll(async () => {
  harness = await startHarness({ startAt: START });
});
afterAll(() => harness.server.close());

async function control(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(`${harness.server.url}${path}`, init);
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('HTTP test controls', () => {
  it('reads the clock', async () => {
    await expect(control('GET', '/_test/clock')).resolves.toEqual({ status: 200, json: { now: START } });
  });

  it('advances the clock', async () => {
    const { json } = await control('POST', '/_test/clock/advance', { seconds: 60 });
    expect(json.now).toBe(START + 60);
    expect(harness.server.clock.now()).toBe(START + 60);
  });

  it('refuses to move the clock backwards', async () => {
    const { status } = await control('POST', '/_test/clock/advance', { to: START - 1 });
    expect(status).toBe(400);
  });

  it('adds a fault rule that the API then honours', async () => {
    await control('POST', '/_test/faults', { kind: 'error', match: { path: '/v1/customers' } });
    const response = await fetch(`${harness.server.url}/v1/customers`, { headers: { Authorization: 'Bearer sk_test_http' } });
    expect(response.status).toBe(500);
    await control('DELETE', '/_test/faults');
  });

  it('answers 404 for an unknown control', async () => {
    await expect(control('POST', '/_test/nope')).resolves.toMatchObject({ status: 404 });
  });

  it('serves the page a finalized invoice\'s hosted_invoice_url points at', async () => {
    const stripe = harness.client();
    const customer = await payingCustomer(stripe);
    const price = await monthlyPrice(stripe, 1000);
    const invoice = await latestInvoice(stripe, await stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] }));
    const page = await fetch(invoice.hosted_invoice_url as string);
    expect(page.status).toBe(200);
    await expect(page.text()).resolves.toContain(invoice.number as string);
  });
});
