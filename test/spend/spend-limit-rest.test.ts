import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { createApplication, monetizedWorld, roleTokens, subscribe, type Tokens } from '../helpers/rest-fixtures';
import { DEVPORTAL, PUBLISHER, startRestHarness, type RestHarness } from '../helpers/rest-harness';

/**
 * The spend-limit routes' request shapes: validation happens before any database work that
 * differs between dialects, so this suite runs on SQLite only (one service, one world). Every
 * refusal is a WSO2 error body naming the field.
 */
describe('spend-limit REST validation (SQLite)', () => {
  let stripeServer: StripeServer;
  let database: TestDatabase;
  let rest: RestHarness;
  let tokens: Tokens;
  let world: Awaited<ReturnType<typeof monetizedWorld>>;
  let path: string;

  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0 });
    database = await createTestDatabase({ kind: 'sqlite' });
    rest = await startRestHarness(database, stripeServer);
    tokens = roleTokens(rest);
    world = await monetizedWorld(rest, tokens);
    path = `${DEVPORTAL}/subscriptions/${world.subscriptionId}/spend-limit`;
  });
  afterAll(async () => {
    await rest?.close();
    await database?.destroy();
    await stripeServer?.close();
  });

  const put = (body: unknown, to = path, token?: string) => rest.call('PUT', to, { token: token ?? tokens.subscriber, body });

  it.each([
    ['amount as a number (a float is not an exact amount)', { amount: 50 }, 'amount'],
    ['amount with a sign', { amount: '-5.00' }, 'amount'],
    ['amount missing', { hardCap: true }, 'amount'],
    ['amount finer than the currency (USD has 2 decimals)', { amount: '1.005' }, 'amount'],
    ['amount zero', { amount: '0.00' }, 'amount'],
    ['a threshold of 0', { amount: '10.00', thresholds: [0, 50] }, 'thresholds'],
    ['a threshold above 100', { amount: '10.00', thresholds: [50, 101] }, 'thresholds'],
    ['thresholds not ascending', { amount: '10.00', thresholds: [80, 50] }, 'thresholds'],
    ['a repeated threshold', { amount: '10.00', thresholds: [50, 50] }, 'thresholds'],
    ['a fractional threshold', { amount: '10.00', thresholds: [50.5] }, 'thresholds'],
    ['no thresholds', { amount: '10.00', thresholds: [] }, 'thresholds'],
    ['hardCap not a boolean', { amount: '10.00', hardCap: 'yes' }, 'hardCap'],
    ['an unknown field', { amount: '10.00', currency: 'EUR' }, 'currency'],
  ])('refuses %s with 400 naming the field', async (_label, body, field) => {
    const response = await put(body);
    expect(response.status).toBe(400);
    expect(JSON.stringify(response.body)).toContain(field);
    expect(response.body).toMatchObject({ code: 400, moreInfo: '', error: expect.any(Array) });
  });

  it('nothing was stored by the refused bodies; a good one answers 200 with the defaults', async () => {
    const before = await rest.call('GET', path, { token: tokens.subscriber });
    expect(before.status).toBe(200);
    expect(before.body.limits).toEqual([]);
    const set = await put({ amount: '10' });
    expect(set.status).toBe(200);
    expect(set.body.limits).toEqual([expect.objectContaining({ setBy: 'subscriber', amount: '10.00', thresholds: [50, 80, 100], hardCap: false })]);
  });

  it('refuses a body that is not JSON (415) and a subscription with no rated spend (FREE plan: 409)', async () => {
    expect((await rest.call('PUT', path, { token: tokens.subscriber, body: 'amount=1', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    const app = await createApplication(rest, tokens.subscriber);
    const onFree = await subscribe(rest, tokens.subscriber, app, world.api.id, world.free.policyName);
    const response = await put({ amount: '1.00' }, `${DEVPORTAL}/subscriptions/${onFree}/spend-limit`);
    expect(response.status).toBe(409);
    const publisherView = await rest.call('GET', `${PUBLISHER}/subscriptions/${onFree}/spend-limit`, { token: rest.token({ sub: 'pat', scopes: ['apim:subscription_view'] }) });
    expect(publisherView.status).toBe(409);
  });
});
