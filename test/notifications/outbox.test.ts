import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/logger';
import { backoffDelay, NotificationDispatcher } from '../../src/notifications/dispatcher';
import type { NotificationEvent, NotificationEventType } from '../../src/notifications/events';
import { ChannelNameTakenError, NotificationsRepository, type NewChannel } from '../../src/notifications/notifications.repository';
import { OutboxNotifier } from '../../src/notifications/outbox-notifier';
import { WebhookSender } from '../../src/notifications/webhook-sender';
import { forEachTestDatabase } from '../helpers/databases';
import { migrateLatest } from '../helpers/migrations';
import { WebhookReceiver } from './webhook-receiver';

/**
 * The notification outbox on every database: the notifier records one delivery per matching
 * channel and event; the dispatcher sends them, signed, to a local receiver that checks the
 * Standard Webhooks signature, retries with exponential backoff on the injected clock, gives up
 * (DEAD) after max attempts, and two dispatchers racing send each delivery once. One migrated
 * database and one receiver per suite; each test has its own tenant and receiver path, and the
 * clock only moves forward.
 */
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const logger = createLogger(process.env.N1_DEBUG ? 'warn' : 'silent');
let now = new Date('2025-03-01T00:00:00.000Z');
const clock = () => now;
const advance = (ms: number) => {
  now = new Date(now.getTime() + ms);
};

const receiver = new WebhookReceiver(SECRET);
let base: string;
beforeAll(async () => {
  base = await receiver.start();
});
afterAll(() => receiver.close());

let tenants = 0;
const newTenant = () => `t${++tenants}.example`;

function eventOf(tenantDomain: string, type: NotificationEventType, thing: string): NotificationEvent {
  return {
    id: `${type}:${tenantDomain}:${thing}`,
    type,
    tenantDomain,
    occurredAt: now,
    summary: `Something about ${thing}.`,
    data: { subscriptionId: thing, amount: '19.99', paid: true },
    subscriberEmail: null,
  };
}

forEachTestDatabase((kind, db) => {
  let repository: NotificationsRepository;
  let notifier: OutboxNotifier;
  const dispatcher = (maxAttempts = 8) => new NotificationDispatcher(new NotificationsRepository(db().knex), [new WebhookSender(clock)], clock, logger, { maxAttempts });
  // The receiver serves every database's run: each run has its own paths.
  const on = (path: string) => receiver.on(`/${kind}${path}`);
  const answer = (path: string, ...statuses: number[]) => receiver.answer(`/${kind}${path}`, ...statuses);
  const webhook = (tenantDomain: string, path: string, changes: Partial<NewChannel> = {}) =>
    repository.createChannel({ tenantDomain, kind: 'webhook', name: path, target: `${base}/${kind}${path}`, secret: SECRET, events: ['*'], enabled: true, ...changes }, now);
  const deliveriesOf = async (tenantDomain: string) => (await repository.deliveries(tenantDomain, { limit: 100, offset: 0 })).list;

  beforeAll(async () => {
    await migrateLatest(db().knex);
    repository = new NotificationsRepository(db().knex);
    notifier = new OutboxNotifier(repository, clock, logger);
  });

  it('records one delivery per enabled channel of the tenant that gets the type, once per event', async () => {
    const tenant = newTenant();
    const all = await webhook(tenant, '/record/all');
    const paid = await webhook(tenant, '/record/paid', { events: ['invoice.paid'] });
    await webhook(tenant, '/record/approved', { events: ['subscription.approved'] });
    await webhook(tenant, '/record/off', { enabled: false });
    await webhook(newTenant(), '/record/other-tenant');

    const event = eventOf(tenant, 'invoice.paid', 'in_1');
    await notifier.notify(event);
    await notifier.notify(event); // the same fact again (a replayed webhook)

    const recorded = await deliveriesOf(tenant);
    expect(recorded.map((d) => d.channelId).sort()).toEqual([all.id, paid.id].sort());
    expect(recorded.every((d) => d.status === 'PENDING' && d.attempts === 0 && d.eventId === event.id)).toBe(true);
    expect(recorded[0]!.event).toEqual(event);
  });

  it('the notifier never throws: a failure to record is logged and the caller goes on', async () => {
    const broken = new OutboxNotifier({ channelsFor: () => Promise.reject(new Error('database is down')) } as unknown as NotificationsRepository, clock, logger);
    await expect(broken.notify(eventOf(newTenant(), 'invoice.paid', 'in_x'))).resolves.toBeUndefined();
  });

  it('delivers a signed Standard Webhooks request and records DELIVERED', async () => {
    const tenant = newTenant();
    await webhook(tenant, '/signed');
    const event = eventOf(tenant, 'subscription.approved', 'sub-1');
    await notifier.notify(event);

    expect(await dispatcher().runOnce()).toEqual(expect.objectContaining({ delivered: expect.any(Number), failed: 0, dead: 0 }));

    const [request] = on('/signed');
    expect(request).toEqual({
      path: `/${kind}/signed`,
      id: event.id,
      timestamp: Math.floor(now.getTime() / 1000),
      signatureValid: true,
      body: { type: 'subscription.approved', timestamp: now.toISOString(), data: { ...event, occurredAt: now.toISOString() } },
    });
    const [delivery] = await deliveriesOf(tenant);
    expect(delivery).toEqual(expect.objectContaining({ status: 'DELIVERED', attempts: 1, deliveredAt: now, lastError: null }));
  });

  it('a receiver answering 500 gets the delivery again after the backoff, then it is DELIVERED', async () => {
    const tenant = newTenant();
    await webhook(tenant, '/flaky');
    answer('/flaky', 500);
    await notifier.notify(eventOf(tenant, 'invoice.payment_failed', 'in_2'));

    await dispatcher().runOnce();
    const [failed] = await deliveriesOf(tenant);
    expect(failed).toEqual(expect.objectContaining({ status: 'FAILED', attempts: 1, nextAttemptAt: new Date(now.getTime() + 30_000), lastError: expect.stringContaining('HTTP 500') }));

    advance(29_999);
    await dispatcher().runOnce();
    expect(on('/flaky')).toHaveLength(1); // not due yet

    advance(1);
    await dispatcher().runOnce();
    const second = on('/flaky');
    expect(second).toHaveLength(2);
    expect(second[1]!.id).toBe(second[0]!.id); // the same webhook-id on every attempt
    expect((await deliveriesOf(tenant))[0]).toEqual(expect.objectContaining({ status: 'DELIVERED', attempts: 2 }));
  });

  it('after max attempts the delivery is DEAD; an admin retry puts it back to PENDING and it is delivered', async () => {
    const tenant = newTenant();
    await webhook(tenant, '/down');
    answer('/down', 503, 503, 503);
    await notifier.notify(eventOf(tenant, 'usage.publish_failed', 'job-1'));

    for (let attempt = 1; attempt <= 3; attempt += 1) {
      await dispatcher(3).runOnce();
      advance(backoffDelay(attempt));
    }
    const [dead] = await deliveriesOf(tenant);
    expect(dead).toEqual(expect.objectContaining({ status: 'DEAD', attempts: 3, lastError: expect.stringContaining('HTTP 503') }));
    advance(3_600_000);
    await dispatcher(3).runOnce();
    expect(on('/down')).toHaveLength(3); // DEAD is never sent again by itself

    expect(await repository.retry(newTenant(), dead!.id, now)).toEqual({ outcome: 'notFound' }); // another tenant's
    expect(await repository.retry(tenant, dead!.id, now)).toEqual({ outcome: 'retried', delivery: expect.objectContaining({ status: 'PENDING', attempts: 0, nextAttemptAt: now }) });
    await dispatcher(3).runOnce();
    expect((await deliveriesOf(tenant))[0]).toEqual(expect.objectContaining({ status: 'DELIVERED', attempts: 1 }));
    expect(await repository.retry(tenant, dead!.id, now)).toEqual({ outcome: 'notRetryable', status: 'DELIVERED' });
  });

  it('an answer another attempt cannot change (400) is DEAD at once', async () => {
    const tenant = newTenant();
    await webhook(tenant, '/refuses');
    answer('/refuses', 400);
    await notifier.notify(eventOf(tenant, 'plan.failed', 'gold'));
    expect(await dispatcher().runOnce()).toEqual(expect.objectContaining({ dead: 1 }));
    expect((await deliveriesOf(tenant))[0]).toEqual(expect.objectContaining({ status: 'DEAD', attempts: 1, lastError: expect.stringContaining('HTTP 400') }));
  });

  it('backs off 30 s doubling, at most an hour', () => {
    expect([1, 2, 3, 4, 7, 8, 20].map((attempts) => backoffDelay(attempts))).toEqual([30_000, 60_000, 120_000, 240_000, 1_920_000, 3_600_000, 3_600_000]);
  });

  it('two dispatchers running at once send each delivery once', async () => {
    const tenant = newTenant();
    await webhook(tenant, '/race');
    for (let i = 0; i < 12; i += 1) await notifier.notify(eventOf(tenant, 'invoice.issued', `in_race_${i}`));

    const [a, b] = await Promise.all([dispatcher().runOnce(), dispatcher().runOnce()]);
    expect(a.delivered + b.delivered).toBe(12);
    const ids = on('/race').map((r) => r.id);
    expect(ids).toHaveLength(12);
    expect(new Set(ids).size).toBe(12);
    expect((await deliveriesOf(tenant)).every((d) => d.status === 'DELIVERED')).toBe(true);
  });

  it('a lease keeps a claimed delivery from others until it runs out', async () => {
    const tenant = newTenant();
    await webhook(tenant, '/lease', { enabled: false }); // the dispatcher of the other tests leaves it alone
    const channel = (await repository.channels(tenant))[0]!;
    await notifier.notify(eventOf(tenant, 'invoice.paid', 'in_lease')); // not recorded: disabled
    await repository.recordDeliveries(eventOf(tenant, 'invoice.paid', 'in_lease'), [channel.id], now);
    await repository.updateChannel(tenant, channel.id, { ...channel, enabled: true }, now);

    const first = (await repository.claimDue(now, 100, 60_000)).filter((d) => d.tenantDomain === tenant);
    expect(first).toHaveLength(1);
    expect(first[0]!.channel).toEqual({ id: channel.id, kind: 'webhook', name: '/lease', target: `${base}/${kind}/lease`, secret: SECRET });
    expect((await repository.claimDue(now, 100, 60_000)).filter((d) => d.tenantDomain === tenant)).toEqual([]);
    advance(60_000);
    const again = (await repository.claimDue(now, 100, 60_000)).filter((d) => d.tenantDomain === tenant);
    expect(again.map((d) => d.id)).toEqual([first[0]!.id]);
    expect(await repository.markDelivered(first[0]!, now)).toBe(false); // the first lease was lost
    expect(await repository.markDelivered(again[0]!, now)).toBe(true);
  });

  it('channels: names unique per tenant, listed by name, deleted with their deliveries', async () => {
    const tenant = newTenant();
    const b = await webhook(tenant, '/b');
    await webhook(tenant, '/a', { kind: 'email', target: 'ops@example.com', secret: null, events: ['invoice.paid', 'spend.cap_reached'] });
    await expect(webhook(tenant, '/b')).rejects.toBeInstanceOf(ChannelNameTakenError);
    expect((await repository.channels(tenant)).map((c) => [c.name, c.kind, c.events, c.enabled])).toEqual([
      ['/a', 'email', ['invoice.paid', 'spend.cap_reached'], true],
      ['/b', 'webhook', ['*'], true],
    ]);
    await notifier.notify(eventOf(tenant, 'subscription.blocked', 'sub-9'));
    expect(await deliveriesOf(tenant)).toHaveLength(1);
    expect(await repository.deleteChannel(newTenant(), b.id)).toBe(false);
    expect(await repository.deleteChannel(tenant, b.id)).toBe(true);
    expect(await deliveriesOf(tenant)).toEqual([]);
    expect(await repository.channel(tenant, b.id)).toBeUndefined();
  });

  it('lists deliveries newest first, filtered by status and event type, with the total', async () => {
    const tenant = newTenant();
    await webhook(tenant, '/list', { enabled: true });
    await notifier.notify(eventOf(tenant, 'invoice.issued', 'in_l1'));
    advance(1_000);
    await notifier.notify(eventOf(tenant, 'invoice.paid', 'in_l1'));
    advance(1_000);
    await notifier.notify(eventOf(tenant, 'invoice.paid', 'in_l2'));
    const page = await repository.deliveries(tenant, { eventType: 'invoice.paid', limit: 1, offset: 0 });
    expect(page.total).toBe(2);
    expect(page.list.map((d) => d.eventId)).toEqual([`invoice.paid:${tenant}:in_l2`]);
    expect((await repository.deliveries(tenant, { eventType: 'invoice.paid', limit: 1, offset: 1 })).list.map((d) => d.eventId)).toEqual([`invoice.paid:${tenant}:in_l1`]);
    expect((await repository.deliveries(tenant, { status: 'DELIVERED', limit: 10, offset: 0 })).total).toBe(0);
  });
  it('deletes DELIVERED deliveries older than keepDeliveredMs (at most hourly per process); FAILED, DEAD and recent ones stay', async () => {
    const tenant = newTenant();
    await webhook(tenant, '/prune/ok');
    await webhook(tenant, '/prune/refuses', { events: ['plan.failed'] });
    answer('/prune/refuses', 400);
    await notifier.notify(eventOf(tenant, 'invoice.paid', 'in_p1'));
    await notifier.notify(eventOf(tenant, 'plan.failed', 'gold-p'));
    const keeping = new NotificationDispatcher(new NotificationsRepository(db().knex), [new WebhookSender(clock)], clock, logger, { maxAttempts: 8, keepDeliveredMs: 86_400_000 });
    await keeping.runOnce();
    const statuses = async () => (await deliveriesOf(tenant)).map((d) => [d.eventId, d.status]).sort();
    expect(await statuses()).toEqual([
      [`invoice.paid:${tenant}:in_p1`, 'DELIVERED'], // to /prune/ok
      [`plan.failed:${tenant}:gold-p`, 'DEAD'], // refused by /prune/refuses
      [`plan.failed:${tenant}:gold-p`, 'DELIVERED'], // to /prune/ok
    ]);
    advance(3_600_000 - 1);
    expect(await keeping.pruneDelivered()).toBe(0); // pruned by runOnce an hour ago less a millisecond: not again yet
    advance(86_400_000);
    await notifier.notify(eventOf(tenant, 'invoice.paid', 'in_p2'));
    await keeping.runOnce(); // delivers in_p2 now, then deletes what was delivered over a day ago
    expect(await statuses()).toEqual([
      [`invoice.paid:${tenant}:in_p2`, 'DELIVERED'],
      [`plan.failed:${tenant}:gold-p`, 'DEAD'],
    ]);
  });
});

