import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { WebhookRejectedError, type BillingEvent } from '../../src/monetization/billing-events';
import { StripeWebhookVerifier } from '../../plugins/stripe/webhooks';
import { connectedAccount, sdkFor, uniquePlatformKey, useStripeServer } from '../plugins/stripe/harness';

/** What the local Stripe server delivered: raw bytes and the signature header, as received. */
interface Delivery {
  rawBody: Buffer;
  signature: string | undefined;
}

const stripeServer = useStripeServer();
let receiver: Server;
let receiverUrl: string;
const deliveries: Delivery[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const header = req.headers['stripe-signature'];
      deliveries.push({ rawBody: Buffer.concat(chunks), signature: typeof header === 'string' ? header : undefined });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(() => new Promise((resolve) => receiver.close(resolve)));
beforeEach(() => {
  deliveries.length = 0;
});

const verifier = new StripeWebhookVerifier();

/**
 * A platform listening to its connected accounts' events, and a publisher's subscription that
 * is invoiced (send_invoice) and then paid: real deliveries, signed by the server.
 */
async function deliveredInvoiceStory() {
  const platform = sdkFor(stripeServer(), uniquePlatformKey());
  const endpoint = await platform.webhookEndpoints.create({ url: receiverUrl, enabled_events: ['*'], connect: true });
  const account = await connectedAccount(platform);
  const options = { stripeAccount: account };
  const product = await platform.products.create({ name: 'API' }, options);
  const price = await platform.prices.create({ product: product.id, currency: 'usd', unit_amount: 1000, recurring: { interval: 'month' } }, options);
  const customer = await platform.customers.create({ email: 'sub@example.com' }, options);
  const subscription = await platform.subscriptions.create(
    { customer: customer.id, items: [{ price: price.id }], collection_method: 'send_invoice', days_until_due: 7 },
    options,
  );
  const invoice = (await platform.invoices.list({ subscription: subscription.id }, options)).data[0]!;
  await platform.invoices.pay(invoice.id!, { paid_out_of_band: true }, options);
  await platform.subscriptions.cancel(subscription.id, {}, options);
  await stripeServer().webhooks.flush();
  return { secret: endpoint.secret!, account, subscription, invoice };
}

function verifyAll(secret: string): BillingEvent[] {
  return deliveries.map((d) => verifier.verify({ secret, rawBody: d.rawBody, signature: d.signature, now: new Date() }));
}

describe('Stripe webhook deliveries', () => {
  it('are verified on their raw bytes and become invoice events with exact amounts', async () => {
    const { secret, account, subscription, invoice } = await deliveredInvoiceStory();
    const invoiceEvents = verifyAll(secret).filter((e) => e.type === 'invoice');
    expect(invoiceEvents.map((e) => e.type === 'invoice' && e.change)).toEqual(['finalized', 'paid']);
    const paid = invoiceEvents[1]!;
    expect(paid).toMatchObject({
      account,
      invoice: { engineInvoiceId: invoice.id, engineSubscriptionId: subscription.id, status: 'PAID', currency: 'usd', total: 1000n, amountPaid: 1000n },
    });
  });

  it("carry the invoice's PDF and the period its lines pay for (a first invoice's own period is empty)", async () => {
    const { secret, invoice } = await deliveredInvoiceStory();
    const [finalized] = verifyAll(secret).filter((e) => e.type === 'invoice');
    const line = invoice.lines.data[0]!.period;
    expect(invoice.period_start).toBe(invoice.period_end);
    expect(line.end).toBeGreaterThan(line.start);
    expect(finalized).toMatchObject({
      invoice: { periodStart: new Date(line.start * 1000), periodEnd: new Date(line.end * 1000), invoicePdfUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/.+\/pdf$/) },
    });
  });

  it('a cancelled subscription becomes a subscription event', async () => {
    const { secret, subscription } = await deliveredInvoiceStory();
    const changes = verifyAll(secret).filter((e) => e.type === 'subscription');
    expect(changes.at(-1)).toMatchObject({ change: 'deleted', engineSubscriptionId: subscription.id, status: 'canceled' });
  });

  it('events Meterline does not handle are recognised and ignored', async () => {
    const { secret } = await deliveredInvoiceStory();
    const ignored = verifyAll(secret).filter((e) => e.type === 'ignored');
    expect(ignored.map((e) => e.type === 'ignored' && e.engineType)).toContain('customer.created');
  });
});

describe('refused deliveries', () => {
  const secret = 'whsec_test_secret';
  const payload = JSON.stringify({ id: 'evt_1', object: 'event', type: 'customer.created', created: 1, data: { object: {} } });
  const signed = (at: Date, key = secret) =>
    Stripe.webhooks.generateTestHeaderString({ payload, secret: key, timestamp: Math.floor(at.getTime() / 1000) });
  const now = new Date();

  function rejection(input: Partial<Parameters<StripeWebhookVerifier['verify']>[0]>): WebhookRejectedError['reason'] {
    try {
      verifier.verify({ secret, rawBody: Buffer.from(payload), signature: signed(now), now, ...input });
    } catch (error) {
      if (error instanceof WebhookRejectedError) return error.reason;
      throw error;
    }
    throw new Error('expected the delivery to be refused');
  }

  it('a signature made with another secret', () => {
    expect(rejection({ signature: signed(now, 'whsec_other') })).toBe('bad_signature');
  });

  it('a body changed after signing', () => {
    expect(rejection({ rawBody: Buffer.from(payload.replace('evt_1', 'evt_2')) })).toBe('bad_signature');
  });

  it('a delivery signed more than 300 s ago', () => {
    expect(rejection({ signature: signed(new Date(now.getTime() - 301_000)) })).toBe('stale');
  });

  it('a delivery without a signature', () => {
    expect(rejection({ signature: undefined })).toBe('missing_signature');
  });

  it('a tenant without a webhook secret', () => {
    expect(rejection({ secret: undefined })).toBe('no_secret');
  });

  it('a genuinely signed invoice event without the fields Meterline reads', () => {
    const broken = JSON.stringify({ id: 'evt_2', object: 'event', type: 'invoice.paid', created: 1, data: { object: {} } });
    const signature = Stripe.webhooks.generateTestHeaderString({ payload: broken, secret, timestamp: Math.floor(now.getTime() / 1000) });
    expect(rejection({ rawBody: Buffer.from(broken), signature })).toBe('malformed');
  });

  it('accepts the same delivery when it is fresh and intact', () => {
    const event = verifier.verify({ secret, rawBody: Buffer.from(payload), signature: signed(now), now });
    expect(event.id).toBe('evt_1');
  });
});
