import { randomBytes } from 'node:crypto';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { createTestDatabase, type TestDatabase } from '../helpers/databases';
import { migrateLatest } from '../helpers/migrations';
import { ADMIN, OTHER_TENANT, startRestHarness, type RestHarness } from '../helpers/rest-harness';
import { WebhookReceiver } from './webhook-receiver';

/**
 * The notification admin routes over HTTP: request shapes and validation, so SQLite only (the
 * outbox's behaviour on every database is test/notifications/outbox.test.ts). One database and
 * one running service for the suite.
 */
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const BASE = `${ADMIN}/notifications`;
let stripeServer: StripeServer;
let database: TestDatabase;
let rest: RestHarness;
let admin: string;
const receiver = new WebhookReceiver(SECRET);
let receiverUrl: string;

beforeAll(async () => {
  receiverUrl = await receiver.start();
  stripeServer = await startStripeServer({ port: 0 });
  database = await createTestDatabase({ kind: 'sqlite' });
  await migrateLatest(database.knex);
  rest = await startRestHarness(database, stripeServer);
  admin = rest.token({ sub: 'admin', scopes: ['apim:admin'] });
});
afterAll(async () => {
  await rest?.close();
  await database?.destroy();
  await stripeServer?.close();
  await receiver.close();
});

const webhookBody = (name: string, changes: Record<string, unknown> = {}) => ({ name, kind: 'webhook', target: `${receiverUrl}/${name}`, secret: SECRET, events: ['*'], ...changes });

function expectFieldRefused(response: { status: number; body: any }, field: string): void { // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(response.status).toBe(400);
  expect(response.body).toEqual({ code: 400, message: 'Bad Request', description: expect.stringContaining(field), moreInfo: '', error: expect.any(Array) });
  expect(response.body.error[0].code).toBe(field);
}

describe('notification channels over REST', () => {
  it('creates a channel (201 with Location), never returning the secret, and reads it back', async () => {
    const created = await rest.call('POST', `${BASE}/channels`, { token: admin, body: webhookBody('ops-hook', { events: ['invoice.paid', 'subscription.failed'] }) });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      name: 'ops-hook',
      kind: 'webhook',
      target: `${receiverUrl}/ops-hook`,
      hasSecret: true,
      events: ['invoice.paid', 'subscription.failed'],
      enabled: true,
      createdTime: expect.any(String),
      updatedTime: expect.any(String),
    });
    expect(created.headers.get('location')).toBe(`${BASE}/channels/${created.body.id}`);
    expect(created.text).not.toContain(SECRET.slice(6));

    const read = await rest.call('GET', `${BASE}/channels/${created.body.id}`, { token: admin });
    expect(read.body).toEqual(created.body);
    const list = await rest.call('GET', `${BASE}/channels`, { token: admin });
    expect(list.body.list.map((c: { name: string }) => c.name)).toContain('ops-hook');
    expect(list.text).not.toContain(SECRET.slice(6));
  });

  it.each([
    ['name', { name: '' }],
    ['kind', { kind: 'pager' }],
    ['target', { target: 'ftp://example.com/hook' }],
    ['target', { kind: 'email', target: 'ops@example.com, not-an-address', secret: null }],
    ['secret', { secret: 'whsec_dG9vLXNob3J0' }],
    ['secret', { secret: undefined }],
    ['secret', { kind: 'slack', target: 'https://hooks.slack.com/services/T/B/X' }],
    ['events', { events: [] }],
    ['events', { events: ['*', 'invoice.paid'] }],
    ['events[0]', { events: ['invoice.lost'] }],
    ['colour', { colour: 'red' }],
  ])('refuses a bad %s with 400 naming it', async (field, changes) => {
    expectFieldRefused(await rest.call('POST', `${BASE}/channels`, { token: admin, body: webhookBody(`bad-${field}`, changes) }), field);
  });

  it('a name taken in the tenant is 409; another tenant may use it and cannot see the first', async () => {
    const first = await rest.call('POST', `${BASE}/channels`, { token: admin, body: webhookBody('shared-name') });
    expect((await rest.call('POST', `${BASE}/channels`, { token: admin, body: webhookBody('shared-name') })).status).toBe(409);
    const other = rest.token({ sub: 'admin', tenant: OTHER_TENANT.domain, scopes: ['apim:admin'] });
    expect((await rest.call('POST', `${BASE}/channels`, { token: other, body: webhookBody('shared-name') })).status).toBe(201);
    expect((await rest.call('GET', `${BASE}/channels/${first.body.id}`, { token: other })).status).toBe(404);
    expect((await rest.call('DELETE', `${BASE}/channels/${first.body.id}`, { token: other })).status).toBe(404);
  });

  it('PUT replaces the settings and keeps a webhook secret it leaves out; DELETE removes the channel', async () => {
    const created = await rest.call('POST', `${BASE}/channels`, { token: admin, body: webhookBody('to-change') });
    const { secret: _left, ...withoutSecret } = webhookBody('changed', { events: ['plan.failed'], enabled: false });
    const updated = await rest.call('PUT', `${BASE}/channels/${created.body.id}`, { token: admin, body: withoutSecret });
    expect(updated.status).toBe(200);
    expect(updated.body).toEqual(expect.objectContaining({ name: 'changed', events: ['plan.failed'], enabled: false, hasSecret: true }));
    expect((await rest.call('DELETE', `${BASE}/channels/${created.body.id}`, { token: admin })).status).toBe(200);
    expect((await rest.call('GET', `${BASE}/channels/${created.body.id}`, { token: admin })).status).toBe(404);
  });

  it("an e-mail channel's target may name the event's subscriber beside addresses", async () => {
    const created = await rest.call('POST', `${BASE}/channels`, { token: admin, body: { name: 'approved-mail', kind: 'email', target: 'subscriber, ops@example.com', events: ['subscription.approved'] } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual(expect.objectContaining({ kind: 'email', target: 'subscriber, ops@example.com', hasSecret: false }));
  });

  it('without apim:admin the routes are 403, without a token 401', async () => {
    const subscriber = rest.token({ sub: 'sam', scopes: ['apim:subscribe'] });
    expect((await rest.call('GET', `${BASE}/channels`, { token: subscriber })).status).toBe(403);
    expect((await rest.call('GET', `${BASE}/deliveries`)).status).toBe(401);
  });
});

describe('notification deliveries over REST', () => {
  it('lists deliveries with their event, and a DEAD one is retried (409 when it is not FAILED or DEAD)', async () => {
    const channel = await rest.call('POST', `${BASE}/channels`, { token: admin, body: webhookBody('refusing', { events: ['invoice.paid'] }) });
    receiver.answer('/refusing', 400);
    const { notifications } = rest.service.services;
    const occurredAt = new Date('2025-01-15T12:00:00.000Z');
    await notifications.notifier.notify({ id: 'invoice.paid:carbon.super:in_rest', type: 'invoice.paid', tenantDomain: 'carbon.super', occurredAt, summary: 'Invoice in_rest was paid.', data: { invoiceId: 'in_rest' } });
    await notifications.dispatcher.runOnce();

    const listed = await rest.call('GET', `${BASE}/deliveries?status=DEAD&eventType=invoice.paid&limit=10`, { token: admin });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({
      count: 1,
      list: [
        {
          id: expect.any(String),
          channelId: channel.body.id,
          eventId: 'invoice.paid:carbon.super:in_rest',
          eventType: 'invoice.paid',
          status: 'DEAD',
          attempts: 1,
          nextAttemptTime: null,
          lastError: expect.stringContaining('HTTP 400'),
          createdTime: expect.any(String),
          deliveredTime: null,
          event: { id: 'invoice.paid:carbon.super:in_rest', type: 'invoice.paid', tenantDomain: 'carbon.super', occurredAt: occurredAt.toISOString(), summary: 'Invoice in_rest was paid.', data: { invoiceId: 'in_rest' } },
        },
      ],
      pagination: { offset: 0, limit: 10, total: 1 },
    });
    const id = listed.body.list[0].id as string;

    const retried = await rest.call('POST', `${BASE}/deliveries/${id}/retry`, { token: admin });
    expect(retried.status).toBe(200);
    expect(retried.body).toEqual(expect.objectContaining({ id, status: 'PENDING', attempts: 0 }));
    await notifications.dispatcher.runOnce();
    expect(receiver.on('/refusing').filter((r) => r.signatureValid)).toHaveLength(2);
    expect((await rest.call('POST', `${BASE}/deliveries/${id}/retry`, { token: admin })).status).toBe(409); // DELIVERED now
    expect((await rest.call('POST', `${BASE}/deliveries/no-such-delivery/retry`, { token: admin })).status).toBe(404);
  });

  it('refuses an unknown status filter with 400 naming it', async () => {
    expectFieldRefused(await rest.call('GET', `${BASE}/deliveries?status=LOST`, { token: admin }), 'status');
  });
});
