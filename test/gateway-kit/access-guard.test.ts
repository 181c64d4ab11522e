import express from 'express';
import type { AddressInfo } from 'node:net';
import { accessGuard, remoteAccessChecker, type AccessChecker } from '../../src/gateway-kit/access-guard';
import { fixedPriceSubscription, startBillingHarness, type BillingHarness } from '../helpers/billing-harness';
import { createTestDatabase, testDatabases, type TestDatabase } from '../helpers/databases';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';

/** A hello-world gateway route behind the guard; the subscription comes from a header. */
async function gateway(checker: AccessChecker, options: { onCheckerFailure?: 'refuse' | 'allow' } = {}) {
  const app = express();
  app.use(accessGuard({ checker, identify: (req) => req.get('x-subscription') ?? undefined, cacheMs: 0, ...options }));
  app.get('/hello', (_req, res) => res.send('hello'));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    call: async (subscription?: string) => {
      const response = await fetch(`${base}/hello`, { headers: subscription ? { 'x-subscription': subscription } : {} });
      return { status: response.status, body: response.headers.get('content-type')?.includes('json') ? await response.json() : await response.text() };
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe('the gateway access guard', () => {
  let stripeServer: StripeServer;
  let database: TestDatabase;
  let harness: BillingHarness;
  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0 });
    database = await createTestDatabase(testDatabases()[0]!);
    harness = await startBillingHarness(database, stripeServer, { holdUntilPaid: true, graceDays: 3 });
  });
  afterAll(async () => {
    await harness.close();
    await database.destroy();
    await stripeServer.close();
  });

  it("refuses a subscription's calls with 403 and the reason until its first invoice is paid, then lets them through", async () => {
    const { token, platform } = harness;
    const { subscriptionId, account } = await fixedPriceSubscription(harness);

    const guarded = await gateway(remoteAccessChecker(harness.url, () => token('gateway', ['apim:usage_ingest'])));
    try {
      expect(await guarded.call(subscriptionId)).toEqual({
        status: 403,
        body: { code: 403, message: 'Forbidden', description: 'the first invoice of this subscription is not paid yet', moreInfo: '', error: [], subscriptionStatus: 'ON_HOLD' },
      });
      const invoice = (await platform.invoices.list({}, { stripeAccount: account })).data[0]!;
      await platform.invoices.pay(invoice.id!, { paid_out_of_band: true }, { stripeAccount: account });
      await stripeServer.webhooks.flush();
      expect(await guarded.call(subscriptionId)).toEqual({ status: 200, body: 'hello' });
      expect((await guarded.call('no-such-subscription')).status).toBe(403);
      expect(await guarded.call()).toEqual({ status: 200, body: 'hello' }); // not a subscription call
    } finally {
      await guarded.close();
    }
  });

  it('refuses with 503 when it cannot check, or lets the call through when told to', async () => {
    const failing: AccessChecker = { check: () => Promise.reject(new Error('down')) };
    const strict = await gateway(failing);
    const lenient = await gateway(failing, { onCheckerFailure: 'allow' });
    try {
      expect((await strict.call('s1')).status).toBe(503);
      expect((await lenient.call('s1')).status).toBe(200);
    } finally {
      await strict.close();
      await lenient.close();
    }
  });
});
