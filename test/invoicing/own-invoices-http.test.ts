import { startMyFatoorahServer, type MyFatoorahServer } from '../../dev/myfatoorah-server';
import { parseConfig } from '../../src/config/load';
import type { MeterlineConfig } from '../../src/config/schema';
import { mintToken } from '../../src/http/auth/tokens';
import { createLogger } from '../../src/logger';
import type { NotificationEvent } from '../../src/notifications/events';
import { startService, type RunningService } from '../../src/service';
import { nextBoundaryAfter } from '../../src/usage/windows';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { migrateLatest } from '../helpers/migrations';
import { ADMIN, DEVPORTAL, PUBLISHER, policyBody, SCOPES, uniqueName } from '../helpers/rest-harness';

/**
 * The own-invoice admin routes (docs/invoicing.md, "REST") over HTTP with invoices in them:
 * Meterline started in-process with the MyFatoorah engine (`invoicing: 'meterline'`) against the
 * local MyFatoorah server, everything through the REST API: the first invoice at subscribe, the
 * list and its filters, close now at +2 h after the period (the PERIOD invoice, submitted to
 * MyFatoorah), a second close (nothing more), the final invoice at unsubscribe, bad input (400
 * naming the field) and another tenant (404, an empty list). The routes' shape does not depend on
 * the database (own invoicing runs on all three in own-invoicing.test.ts): SQLite only, one
 * service for the suite, the MyFatoorah server's clock (still unless advanced) as Meterline's.
 */
const TOKEN = 'mf_test_kwt_own_invoices_http';
const ACME_TOKEN = 'mf_test_kwt_own_invoices_http_acme';
const SECRET = 'own-invoices-http-webhook-secret';
const JWT = { secret: 'own-invoices-http-secret-0123456789abcdef', issuer: 'meterline', audience: 'meterline' };
const START = new Date('2030-01-15T09:30:00Z');

interface OwnInvoiceDto {
  invoiceId: string;
  kind: string;
  subscriptionId: string;
  status: string;
  currency: string;
  periodStart: string;
  periodEnd: string;
  calls: number;
  total: string;
  lines: Array<{ kind: string; quantity: number; amount: string }>;
  engineInvoiceId: string | null;
  hostedInvoiceUrl: string | null;
}

describe('own-invoice admin routes over HTTP, MyFatoorah engine', () => {
  let mf: MyFatoorahServer;
  let database: TestDatabase;
  let service: RunningService;
  let jwt: NonNullable<MeterlineConfig['auth']['jwt']>;
  /** What the services told (the outbox's notifier recording in place of the outbox). */
  const told: NotificationEvent[] = [];

  beforeAll(async () => {
    mf = await startMyFatoorahServer({
      startAt: START,
      accounts: [
        { token: TOKEN, country: 'KWT', webhook: { url: null, secret: SECRET, retries: 0 } },
        { token: ACME_TOKEN, country: 'KWT', webhook: { url: null, secret: SECRET, retries: 0 } },
      ],
    });
    database = await createTestDatabase({ kind: 'sqlite' });
    await migrateLatest(database.knex);
    const config = parseConfig(
      {
        database: { apim_db: database.config },
        auth: { jwt: JWT },
        apim: { monetization: { monetization_impl: 'myfatoorah', myfatoorah: { api_base_url: mf.url } } },
        logging: { level: 'silent' },
        tenants: [
          { domain: 'carbon.super', id: -1234, monetization_info: { myfatoorah_api_token: TOKEN, myfatoorah_webhook_secret: SECRET } },
          { domain: 'acme.com', id: 7, monetization_info: { myfatoorah_api_token: ACME_TOKEN, myfatoorah_webhook_secret: SECRET } },
        ],
      },
      {},
      'test',
    );
    jwt = config.auth.jwt!;
    service = await startService({ config, logger: createLogger('silent'), port: 0, clock: () => mf.clock.now() });
    service.services.notifications.notifier.notify = async (event: NotificationEvent) => void told.push(event);
  }, 60_000);

  afterAll(async () => {
    await service?.close();
    await database?.destroy();
    await mf?.close();
  });

  const token = (subject: string, scopes: readonly string[], tenant?: string) => mintToken(jwt, { subject, tenant, scopes, email: `${subject}@example.com` });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function call(method: string, path: string, bearer: string, body?: unknown): Promise<{ status: number; body: any }> {
    const response = await fetch(`${service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  }
  async function ok(method: string, path: string, bearer: string, body?: unknown, status = 200) {
    const answer = await call(method, path, bearer, body);
    if (answer.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  it('lists the invoices with their filters, closes a due period once, shows the final invoice; bad input is a 400 naming the field, another tenant gets 404', async () => {
    const admin = token('admin', SCOPES.admin);
    const acmeAdmin = token('admin', SCOPES.admin, 'acme.com');
    const publisher = token('pat', SCOPES.publisher);
    const subscriber = token('sam', SCOPES.subscriber);
    const tierName = uniqueName('PerCall');
    const body = policyBody(tierName, { plan: 'DYNAMICRATE', price: '0.250', currency: 'KWD' });
    Object.assign(body.monetization!.properties, { fixedPrice: '5.000' });
    await ok('POST', `${ADMIN}/throttling/policies/subscription`, admin, body, 201);
    const apiName = uniqueName('Hello');
    const api = await ok('POST', `${PUBLISHER}/apis`, publisher, { name: apiName, version: '1.0.0', context: `/${apiName.toLowerCase()}`, policies: [tierName] }, 201);
    await ok('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher);
    await ok('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { BillingContact: 'billing@hello.example' } }, 201);
    const application = await ok('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' }, 201);
    const subscriptionId: string = (await ok('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: application.applicationId, apiId: api.id, throttlingPolicy: tierName }, 201)).subscriptionId;

    const OWN = `${ADMIN}/monetization/own-invoices`;
    const list = async (query = '', bearer = admin) => (await ok('GET', `${OWN}${query}`, bearer)) as { count: number; list: OwnInvoiceDto[] };

    // The first invoice, made at subscribe and submitted to MyFatoorah.
    const [first] = (await list(`?subscriptionId=${subscriptionId}`)).list;
    expect(first).toMatchObject({ kind: 'SUBSCRIPTION_START', subscriptionId, status: 'OPEN', currency: 'KWD', total: '5.000', calls: 0, hostedInvoiceUrl: expect.stringContaining(`${mf.url}/KWT/ie/`) });
    expect(first!.engineInvoiceId).toMatch(/^\d+$/);
    // Told as invoice.issued once, under the engine's invoice id (issue 18).
    const issued = told.filter((e) => e.type === 'invoice.issued' && e.data.subscriptionId === subscriptionId);
    expect(issued).toHaveLength(1);
    expect(issued[0]).toMatchObject({ id: `invoice.issued:carbon.super:${first!.engineInvoiceId}`, subscriberEmail: 'sam@example.com', data: { status: 'OPEN', amount: '5.000' } });
    expect((await list(`?subscriptionId=${subscriptionId}&status=OPEN`)).count).toBe(1);
    expect((await list(`?subscriptionId=${subscriptionId}&status=PAID`)).count).toBe(0);
    expect((await list('?status=DRAFT')).count).toBe(0);
    expect((await list(`?subscriptionId=${application.applicationId}`)).count).toBe(0);

    // Three calls in the first period; close now before the period is due makes nothing.
    const anchor = new Date(first!.periodStart);
    const periodEnd = nextBoundaryAfter({ anchorMs: anchor.getTime(), interval: 'month', intervalCount: 1 }, anchor.getTime());
    const at = mf.clock.advance(3600);
    const events = [1, 2, 3].map((i) => ({
      eventId: `own-http-${subscriptionId}-${i}`,
      timestamp: at.getTime() - 1000 * i,
      apiId: api.id,
      applicationId: application.applicationId,
      subscriptionId,
      httpStatus: 200,
      tenant: 'carbon.super',
    }));
    expect(await ok('POST', '/api/am/usage/v1/events', token('gateway', ['apim:usage_ingest']), { events })).toMatchObject({ accepted: 3, rejected: 0 });
    const close = async (bearer = admin) => ok('POST', `${OWN}/close`, bearer, { subscriptionId });
    expect(await close()).toEqual({ subscriptionId, closed: 0, waiting: null, submitted: 0, made: [] });

    // Two hours after the period ends: the PERIOD invoice (the 3 calls and the next base fee), submitted; once.
    mf.clock.advance(Math.ceil((periodEnd + 2 * 3_600_000 - mf.clock.now().getTime()) / 1000));
    // A usage publish job the period end started may hold the freeze's lease for a moment: the close then waits (and says so).
    let closed = await close();
    for (let tries = 0; closed.waiting !== null && tries < 50; tries += 1) closed = await close();
    expect(closed).toMatchObject({ subscriptionId, closed: 1, waiting: null, submitted: 1 });
    expect(closed.made).toEqual([
      expect.objectContaining({ kind: 'PERIOD', status: 'OPEN', calls: 3, total: '5.750', periodStart: anchor.toISOString(), periodEnd: new Date(periodEnd).toISOString(), hostedInvoiceUrl: expect.stringContaining(`${mf.url}/KWT/ie/`) }),
    ]);
    expect(closed.made[0].lines.map((l: OwnInvoiceDto['lines'][number]) => [l.kind, l.quantity, l.amount])).toEqual([
      ['BASE_FEE', 1, '5.000'],
      ['USAGE', 3, '0.750'],
    ]);
    expect(await close()).toEqual({ subscriptionId, closed: 0, waiting: null, submitted: 0, made: [] });
    const listed = await list(`?subscriptionId=${subscriptionId}`);
    expect(listed.list.map((i) => i.kind)).toEqual(['PERIOD', 'SUBSCRIPTION_START']);
    expect(new Set(listed.list.map((i) => i.engineInvoiceId)).size).toBe(2);

    // Another tenant: none of these invoices listed, its close is a 404.
    expect((await list(`?subscriptionId=${subscriptionId}`, acmeAdmin)).count).toBe(0);
    expect((await list('', acmeAdmin)).count).toBe(0);
    const other = await call('POST', `${OWN}/close`, acmeAdmin, { subscriptionId });
    expect(other.status).toBe(404);
    expect(other.body).toMatchObject({ code: 404 });

    // Unsubscribing makes the final invoice (no calls since: nothing to pay, PAID at once, not sent).
    await ok('DELETE', `${DEVPORTAL}/subscriptions/${subscriptionId}`, subscriber);
    const [final] = (await list(`?subscriptionId=${subscriptionId}`)).list;
    expect(final).toMatchObject({ kind: 'FINAL', status: 'PAID', total: '0.000', calls: 0, hostedInvoiceUrl: null });
    expect((await list(`?subscriptionId=${subscriptionId}&status=OPEN`)).list.map((i) => i.kind)).toEqual(['PERIOD', 'SUBSCRIPTION_START']);

    // Bad input: 400 naming the field.
    for (const [method, path, payload, field] of [
      ['GET', `${OWN}?status=LATE`, undefined, 'status'],
      ['GET', `${OWN}?colour=red`, undefined, 'colour'],
      ['POST', `${OWN}/close`, {}, 'subscriptionId'],
      ['POST', `${OWN}/close`, { subscriptionId: 42 }, 'subscriptionId'],
    ] as const) {
      const answer = await call(method, path, admin, payload);
      expect(answer.status).toBe(400);
      expect(JSON.stringify(answer.body)).toContain(field);
    }
  }, 60_000);
  it("a change of business plan (publisher's change-business-plan) answers 200: the open period is closed at the change, its calls at the old price and the new base fee pro-rated, submitted to MyFatoorah", async () => {
    const admin = token('admin', SCOPES.admin);
    const publisher = token('pat', SCOPES.publisher);
    const subscriber = token('sam', SCOPES.subscriber);
    const cheap = uniqueName('Cheap');
    const rich = uniqueName('Rich');
    await ok('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(cheap, { plan: 'DYNAMICRATE', price: '0.250', currency: 'KWD' }), 201);
    const richBody = policyBody(rich, { plan: 'DYNAMICRATE', price: '0.100', currency: 'KWD' });
    Object.assign(richBody.monetization!.properties, { fixedPrice: '3.100' });
    await ok('POST', `${ADMIN}/throttling/policies/subscription`, admin, richBody, 201);
    const apiName = uniqueName('Change');
    const api = await ok('POST', `${PUBLISHER}/apis`, publisher, { name: apiName, version: '1.0.0', context: `/${apiName.toLowerCase()}`, policies: [cheap, rich] }, 201);
    await ok('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher);
    await ok('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { BillingContact: 'billing@change.example' } }, 201);
    const application = await ok('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' }, 201);
    const subscription = await ok('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: application.applicationId, apiId: api.id, throttlingPolicy: cheap }, 201);
    const subscriptionId: string = subscription.subscriptionId;
    const OWN = `${ADMIN}/monetization/own-invoices`;
    const [first] = ((await ok('GET', `${OWN}?subscriptionId=${subscriptionId}`, admin)) as { list: OwnInvoiceDto[] }).list;
    const anchor = new Date(first!.periodStart).getTime();
    const periodEnd = nextBoundaryAfter({ anchorMs: anchor, interval: 'month', intervalCount: 1 }, anchor);

    const sent = mf.clock.advance(60);
    const events = [1, 2].map((i) => ({ eventId: `own-http-change-${subscriptionId}-${i}`, timestamp: sent.getTime() - 1000 * i, apiId: api.id, applicationId: application.applicationId, subscriptionId, httpStatus: 200, tenant: 'carbon.super' }));
    expect(await ok('POST', '/api/am/usage/v1/events', token('gateway', ['apim:usage_ingest']), { events })).toMatchObject({ accepted: 2 });
    const at = mf.clock.advance(2 * 3600).getTime();
    const manager = token('pat', [...SCOPES.publisher, 'apim:subscription_manage']);
    const changed = await call('POST', `${PUBLISHER}/subscriptions/change-business-plan?subscriptionId=${subscriptionId}&businessPlan=${rich}`, manager);
    expect(changed.status).toBe(200);
    expect(await ok('GET', `${DEVPORTAL}/subscriptions/${subscriptionId}`, subscriber)).toMatchObject({ subscriptionId, throttlingPolicy: rich });

    const period = ((await ok('GET', `${OWN}?subscriptionId=${subscriptionId}`, admin)) as { list: OwnInvoiceDto[] }).list.find((i) => i.kind === 'PERIOD')!;
    // 3.100 KWD × (period end − change) / (period end − start), in fils, half up once.
    const left = BigInt(periodEnd - at);
    const whole = BigInt(periodEnd - anchor);
    const fils = (3100n * left) / whole + ((2n * ((3100n * left) % whole)) >= whole ? 1n : 0n);
    const kwd = (n: bigint) => `${n / 1000n}.${String(n % 1000n).padStart(3, '0')}`;
    expect(period).toMatchObject({ status: 'OPEN', calls: 2, periodStart: new Date(anchor).toISOString(), periodEnd: new Date(at).toISOString(), total: kwd(500n + fils), hostedInvoiceUrl: expect.stringContaining(`${mf.url}/KWT/ie/`) });
    expect(period.lines.map((l) => [l.kind, l.quantity, l.amount])).toEqual([
      ['USAGE', 2, '0.500'],
      ['BASE_FEE', 1, kwd(fils)],
    ]);
  }, 60_000);
});
