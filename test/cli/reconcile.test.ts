import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Stripe from 'stripe';
import type { MeterlineConfig } from '../../src/config/schema';
import { createLogger } from '../../src/logger';
import { reconcileCommand } from '../../src/cli/reconcile';
import { UNFINISHED_GRACE_SECONDS } from '../../src/monetization/reconcile';
import type { RunningService } from '../../src/service';
import { fixedPriceSubscription, startBillingHarness, type BillingHarness } from '../helpers/billing-harness';
import { runCli, withMigratedFreeEngineConfig } from '../helpers/cli';
import { forEachTestDatabase } from '../helpers/databases';
import { DEVPORTAL, SCOPES, uniqueName } from '../helpers/rest-harness';
import { STORY_START } from '../helpers/test-clock';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';

/**
 * `meterline reconcile [--dry-run]` (issue 12, item 4): orphans both ways, on the real database
 * and the local Stripe server. Each state is what a killed or failed workflow leaves:
 * - an orphan: a live Stripe subscription whose Meterline subscription is gone;
 * - an unfinished subscription: ON_HOLD, no billing record, the Stripe subscription made but
 *   not recorded (a subscribe killed after creating it), older than the grace time;
 * and what must be left alone: a healthy subscription, one held until paid (ON_HOLD with its
 * billing record), and an unfinished one still within the grace time.
 */
forEachTestDatabase((_kind, database) => {
  let stripeServer: StripeServer;
  let harness: BillingHarness;
  let service: RunningService;
  let config: MeterlineConfig;
  let platform: Stripe;
  let account: string;
  let tier: string;
  let apiId: string;
  const clock = () => new Date(stripeServer.clock.now() * 1000);
  const token = (sub: string, scopes: readonly string[], email?: string) => harness.token(sub, scopes, email);
  const call = (method: string, path: string, bearer: string, body?: unknown) => harness.call(method, path, bearer, body);

  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0, startAt: STORY_START });
    // The harness's webhook endpoints would deliver the events these tests cause and move the
    // states they assert (reconcile must find them as the killed workflow left them): paused.
    stripeServer.webhooks.pause();
    harness = await startBillingHarness(database(), stripeServer, { holdUntilPaid: false, graceDays: 3 });
    ({ service, config, platform } = harness);
    // A FIXEDRATE tier on an API monetized with a new connected account (and one healthy subscription to it).
    ({ account, apiId, throttlingPolicy: tier } = await fixedPriceSubscription(harness));
  });
  afterAll(async () => {
    await harness?.close();
    await stripeServer?.close();
  });

  /** A complete billed subscription of a new application: its Meterline uuid and Stripe subscription id. */
  async function subscription(label: string): Promise<{ uuid: string; stripeId: string }> {
    const sub = uniqueName(label).toLowerCase();
    const bearer = token(sub, SCOPES.subscriber, `${sub}@example.com`);
    const app = (await call('POST', `${DEVPORTAL}/applications`, bearer, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
    const created = await call('POST', `${DEVPORTAL}/subscriptions`, bearer, { applicationId: app.applicationId, apiId, throttlingPolicy: tier });
    expect(created.status).toBe(201);
    const billed = await service.engine.billedSubscriptionOf(created.body.subscriptionId);
    return { uuid: created.body.subscriptionId, stripeId: billed!.engineSubscriptionId };
  }

  /** Turns a complete subscription into what a subscribe killed right after creating the Stripe subscription leaves. */
  async function asIfKilledAfterStripe(s: { uuid: string; stripeId: string }): Promise<void> {
    const db = service.db;
    await db('AM_MONETIZATION_SUBSCRIPTIONS').where({ SUBSCRIPTION_ID: s.stripeId }).delete();
    await db('ML_ENGINE_SUBSCRIPTION').where({ ENGINE_SUBSCRIPTION_ID: s.stripeId }).delete();
    await db('ML_SUBSCRIPTION_BILLING').where({ SUBSCRIPTION_UUID: s.uuid }).delete();
    await db('AM_SUBSCRIPTION').where({ UUID: s.uuid }).update({ SUB_STATUS: 'ON_HOLD' });
  }

  async function run(dryRun: boolean): Promise<{ code: number; lines: string[] }> {
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    const code = await reconcileCommand(config, createLogger('silent'), { dryRun, out, clock });
    return { code, lines: text.trim().split('\n') };
  }

  async function statusOf(stripeId: string): Promise<string> {
    return (await platform.subscriptions.retrieve(stripeId, {}, { stripeAccount: account })).status;
  }

  it('lists orphans both ways with --dry-run and changes nothing; without it cancels and removes them; then finds nothing', async () => {
    const healthy = await subscription('healthy');
    const held = await subscription('held');
    await service.db('AM_SUBSCRIPTION').where({ UUID: held.uuid }).update({ SUB_STATUS: 'ON_HOLD' }); // held until paid: has its billing record
    const orphan = await subscription('orphan');
    await service.db('AM_SUBSCRIPTION').where({ UUID: orphan.uuid }).delete(); // the row went, the Stripe subscription stayed
    const unfinished = await subscription('unfinished');
    await asIfKilledAfterStripe(unfinished);
    stripeServer.clock.advance(UNFINISHED_GRACE_SECONDS + 60);
    const recent = await subscription('recent');
    await asIfKilledAfterStripe(recent); // within the grace time: perhaps still running elsewhere

    const listed = await run(true);
    expect(listed.code).toBe(0);
    expect(listed.lines).toHaveLength(3);
    expect(listed.lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^unfinished subscription ${unfinished.uuid} \\(tenant carbon.super, .*ON_HOLD since .*: would cancel what the billing engine made for it and remove it \\(dry run\\)$`)),
        expect.stringMatching(new RegExp(`^orphan engine subscription ${orphan.stripeId} in ${account} \\(tenant carbon.super, active, names subscription ${orphan.uuid}, .*: would cancel it with a final invoice \\(dry run\\)$`)),
        'reconcile: 2 finding(s) listed (dry run: nothing changed), 0 failed',
      ]),
    );
    for (const s of [healthy, held, orphan, unfinished, recent]) expect(await statusOf(s.stripeId)).toBe('active');
    expect(await service.db('AM_SUBSCRIPTION').where({ UUID: unfinished.uuid }).first('SUB_STATUS')).toEqual({ SUB_STATUS: 'ON_HOLD' });
    expect(await service.db('AM_MONETIZATION_SUBSCRIPTIONS').where({ SUBSCRIPTION_ID: orphan.stripeId }).first('ID')).toBeDefined();

    const repaired = await run(false);
    expect(repaired.code).toBe(0);
    expect(repaired.lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^unfinished subscription ${unfinished.uuid} .*: cancelled what the billing engine made for it and removed it$`)),
        expect.stringMatching(new RegExp(`^orphan engine subscription ${orphan.stripeId} .*: cancelled it with a final invoice$`)),
        'reconcile: 2 finding(s) repaired, 0 failed',
      ]),
    );
    expect(await statusOf(orphan.stripeId)).toBe('canceled');
    expect(await statusOf(unfinished.stripeId)).toBe('canceled');
    for (const s of [healthy, held, recent]) expect(await statusOf(s.stripeId)).toBe('active');
    expect(await service.db('AM_SUBSCRIPTION').where({ UUID: unfinished.uuid }).first('UUID')).toBeUndefined();
    expect(await service.db('AM_MONETIZATION_SUBSCRIPTIONS').where({ SUBSCRIPTION_ID: orphan.stripeId }).first('ID')).toBeUndefined();
    // Its recorded account stays, marked cancelled: `reconcile usage` reads its last period from it.
    expect(await service.db('ML_ENGINE_SUBSCRIPTION').where({ ENGINE_SUBSCRIPTION_ID: orphan.stripeId }).first('ENGINE_ACCOUNT', 'SUBSCRIPTION_UUID')).toEqual({ ENGINE_ACCOUNT: account, SUBSCRIPTION_UUID: orphan.uuid });
    expect(await service.db('ML_ENGINE_SUBSCRIPTION').where({ ENGINE_SUBSCRIPTION_ID: orphan.stripeId }).whereNotNull('CANCELLED_AT').first('ENGINE_SUBSCRIPTION_ID')).toBeDefined();
    expect(await service.engine.billedSubscriptionOf(orphan.uuid)).toBeNull();
    const finalInvoices = await platform.invoices.list({ subscription: orphan.stripeId, limit: 10 }, { stripeAccount: account });
    expect(finalInvoices.data.length).toBeGreaterThan(0);
    for (const s of [healthy, held, recent]) expect(await service.db('AM_SUBSCRIPTION').where({ UUID: s.uuid }).first('UUID')).toEqual({ UUID: s.uuid });

    expect(await run(false)).toEqual({ code: 0, lines: ['reconcile: nothing to repair'] });
  }, 60_000);

  /** A subscriber (AM_SUBSCRIBER) with an application, and no customer yet; `email` undefined: a subscriber without one. */
  async function subscriberWithApplication(label: string, email: boolean): Promise<{ userId: string; appUuid: string; bearer: string }> {
    const userId = uniqueName(label).toLowerCase();
    const bearer = token(userId, SCOPES.subscriber, email ? `${userId}@example.com` : undefined);
    const app = (await call('POST', `${DEVPORTAL}/applications`, bearer, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
    return { userId, appUuid: app.applicationId, bearer };
  }

  /** What a subscribe killed between "customer created" and "customer recorded" leaves: a customer with the engine's metadata and no record. */
  function platformCustomerOf(userId: string, options: { email?: string } = {}): Promise<Stripe.Customer> {
    return platform.customers.create({ ...options, description: `Customer for ${userId}`, metadata: { meterline_subscriber: userId, meterline_tenant: 'carbon.super' } });
  }

  function sharedCustomerOf(appUuid: string, provider: string, parent: string, extra: Stripe.CustomerCreateParams = {}): Promise<Stripe.Customer> {
    const metadata = { meterline_platform_customer: parent, meterline_application: appUuid, meterline_provider: provider, meterline_tenant: 'carbon.super' };
    return platform.customers.create({ ...extra, description: 'Shared customer', metadata }, { stripeAccount: account });
  }

  async function customerExists(id: string, stripeAccount?: string): Promise<boolean> {
    const customer = await platform.customers.retrieve(id, {}, stripeAccount ? { stripeAccount } : {});
    return !customer.deleted;
  }

  it('finds orphan customers both ways: lists them with --dry-run, adopts, deletes or forgets them, then finds nothing', async () => {
    const db = service.db;
    const apiRow = await db('AM_API').where({ API_UUID: apiId }).first('API_ID', 'API_PROVIDER');
    const provider = String(apiRow.API_PROVIDER);
    const plan = await db('AM_MONETIZATION').where({ API_ID: apiRow.API_ID }).first('STRIPE_PLAN_ID');

    // Owner exists without a record (a subscriber without e-mail, so no subscribe could find it by e-mail): adopted, both customers.
    const noEmail = await subscriberWithApplication('noemail', false);
    const adoptedPlatform = await platformCustomerOf(noEmail.userId);
    const adoptedShared = await sharedCustomerOf(noEmail.appUuid, provider, adoptedPlatform.id);
    // Nothing in Meterline refers to them: deleted.
    const ghostPlatform = await platformCustomerOf(uniqueName('ghost').toLowerCase(), { email: 'ghost@example.com' });
    const ghostShared = await sharedCustomerOf('00000000-0000-4000-8000-00000000dead', provider, ghostPlatform.id);
    // Nothing refers to it, but it pays a live subscription whose Meterline subscription is gone:
    // left to the orphan-subscription pass, deleted once that pass cancelled the subscription.
    const paying = await sharedCustomerOf('00000000-0000-4000-8000-0000000beef0', provider, ghostPlatform.id, { payment_method: 'pm_card_visa' });
    const [card] = (await platform.paymentMethods.list({ customer: paying.id }, { stripeAccount: account })).data;
    const payingSubscription = await platform.subscriptions.create(
      {
        customer: paying.id,
        items: [{ price: String(plan.STRIPE_PLAN_ID) }],
        collection_method: 'charge_automatically',
        default_payment_method: card!.id,
        metadata: { meterline_subscription_uuid: '00000000-0000-4000-8000-0000000beef1', meterline_tenant: 'carbon.super' },
      },
      { stripeAccount: account },
    );
    // Records whose Stripe customers were deleted in the dashboard, used by no billed subscription: forgotten.
    const dangling = await subscriberWithApplication('dangling', true);
    const deletedPlatform = await platformCustomerOf(dangling.userId);
    const deletedShared = await sharedCustomerOf(dangling.appUuid, provider, deletedPlatform.id);
    const subscriber = await db('AM_SUBSCRIBER').where({ USER_ID: dangling.userId }).first('SUBSCRIBER_ID', 'TENANT_ID');
    const application = await db('AM_APPLICATION').where({ UUID: dangling.appUuid }).first('APPLICATION_ID');
    await db('AM_MONETIZATION_PLATFORM_CUSTOMERS').insert({ SUBSCRIBER_ID: subscriber.SUBSCRIBER_ID, TENANT_ID: subscriber.TENANT_ID, CUSTOMER_ID: deletedPlatform.id });
    await db('AM_MONETIZATION_SHARED_CUSTOMERS').insert({ APPLICATION_ID: application.APPLICATION_ID, API_PROVIDER: provider, TENANT_ID: subscriber.TENANT_ID, SHARED_CUSTOMER_ID: deletedShared.id });
    await platform.customers.del(deletedPlatform.id);
    await platform.customers.del(deletedShared.id, {}, { stripeAccount: account });
    stripeServer.clock.advance(UNFINISHED_GRACE_SECONDS + 60); // older than any subscribe still running
    // A customer made within the grace time may belong to a subscribe still running: not touched.
    const recentGhost = await platformCustomerOf(uniqueName('recent').toLowerCase());

    const mine = (lines: string[]) => lines.filter((line) => / customer (record )?cus_/.test(line) || line.includes(payingSubscription.id));
    const listed = await run(true);
    expect(listed.code).toBe(0);
    const expected = [
        `unrecorded engine customer ${adoptedPlatform.id} in the platform account (tenant carbon.super, subscriber ${noEmail.userId}, created *, no Meterline record names it): would record it for its owner: subscriber ${noEmail.userId} exists and has no platform customer recorded (dry run)`,
        `unrecorded engine customer ${adoptedShared.id} in ${account} (tenant carbon.super, application ${noEmail.appUuid} of provider ${provider}, created *, no Meterline record names it): would record it for its owner: application ${noEmail.appUuid} exists and has no shared customer recorded for provider ${provider} (dry run)`,
        `unrecorded engine customer ${ghostPlatform.id} in the platform account (tenant carbon.super, subscriber *, created *, no Meterline record names it): would delete it: nothing in Meterline refers to it (subscriber * does not exist) and it has no live subscription, open invoice or balance (dry run)`,
        `unrecorded engine customer ${ghostShared.id} in ${account} (tenant carbon.super, application 00000000-0000-4000-8000-00000000dead of provider ${provider}, created *, no Meterline record names it): would delete it: nothing in Meterline refers to it (application 00000000-0000-4000-8000-00000000dead does not exist) and it has no live subscription, open invoice or balance (dry run)`,
        `unrecorded engine customer ${paying.id} in ${account} (tenant carbon.super, application 00000000-0000-4000-8000-0000000beef0 of provider ${provider}, created *, no Meterline record names it): left alone: it has live subscription(s) ${payingSubscription.id} whose Meterline subscription is gone: left to the orphan-subscription pass; deleted once it has cancelled them (dry run)`,
        `orphan engine subscription ${payingSubscription.id} in ${account} (tenant carbon.super, active, names subscription 00000000-0000-4000-8000-0000000beef1, which Meterline does not have): would cancel it with a final invoice (dry run)`,
        `dangling customer record ${deletedPlatform.id} (tenant carbon.super, subscriber ${dangling.userId}, gone from the platform account): would forget the record: no billed subscription uses it; the subscriber's next subscribe makes a new platform customer (dry run)`,
        `dangling customer record ${deletedShared.id} (tenant carbon.super, application ${dangling.appUuid} of provider ${provider}, gone from ${account}): would forget the record: no billed subscription uses it; the application's next subscribe makes a new shared customer (dry run)`,
    ];
    expect(mine(listed.lines)).toHaveLength(expected.length);
    expect(mine(listed.lines)).toEqual(expect.arrayContaining(expected.map((line) => expect.stringMatching(pattern(line)))));
    expect(listed.lines.join('\n')).not.toContain(recentGhost.id);
    for (const [id, where] of [[adoptedPlatform.id], [ghostPlatform.id], [adoptedShared.id, account], [ghostShared.id, account], [paying.id, account]] as const) {
      expect(await customerExists(id, where)).toBe(true);
    }
    expect(await db('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ CUSTOMER_ID: adoptedPlatform.id }).first('ID')).toBeUndefined();
    expect(await db('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ CUSTOMER_ID: deletedPlatform.id }).first('ID')).toBeDefined();
    expect(await db('AM_MONETIZATION_SHARED_CUSTOMERS').where({ SHARED_CUSTOMER_ID: deletedShared.id }).first('ID')).toBeDefined();

    const repaired = await run(false);
    expect(repaired.code).toBe(0);
    expect(mine(repaired.lines).map((line) => line.replace(/^.*?: /, '').split(':')[0]).sort()).toEqual(
      ['cancelled it with a final invoice', 'deleted it', 'deleted it', 'deleted it', 'forgot the record', 'forgot the record', 'recorded it for its owner', 'recorded it for its owner'].sort(),
    );
    expect(await customerExists(adoptedPlatform.id)).toBe(true);
    expect(await customerExists(adoptedShared.id, account)).toBe(true);
    expect(await customerExists(recentGhost.id)).toBe(true);
    for (const [id, where] of [[ghostPlatform.id], [ghostShared.id, account], [paying.id, account]] as const) expect(await customerExists(id, where)).toBe(false);
    expect(await db('AM_MONETIZATION_PLATFORM_CUSTOMERS').where({ CUSTOMER_ID: deletedPlatform.id }).first('ID')).toBeUndefined();
    expect(await db('AM_MONETIZATION_SHARED_CUSTOMERS').where({ SHARED_CUSTOMER_ID: deletedShared.id }).first('ID')).toBeUndefined();

    // Adopted means never created twice: the subscriber's subscribe bills the adopted shared customer.
    const created = await call('POST', `${DEVPORTAL}/subscriptions`, noEmail.bearer, { applicationId: noEmail.appUuid, apiId, throttlingPolicy: tier });
    expect(created.status).toBe(201);
    const billed = await service.engine.billedSubscriptionOf(created.body.subscriptionId);
    expect((await platform.subscriptions.retrieve(billed!.engineSubscriptionId, {}, { stripeAccount: account })).customer).toBe(adoptedShared.id);

    stripeServer.clock.advance(UNFINISHED_GRACE_SECONDS + 60); // the recent customer is now an orphan too
    const lateRun = await run(false);
    expect(lateRun.lines).toEqual([expect.stringMatching(new RegExp(`^unrecorded engine customer ${recentGhost.id} .*: deleted it: `)), 'reconcile: 1 finding(s) repaired, 0 failed']);
    expect(await run(false)).toEqual({ code: 0, lines: ['reconcile: nothing to repair'] });
  }, 60_000);
});

/** An expected line with `*` standing for any text. */
function pattern(line: string): RegExp {
  return new RegExp(`^${line.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

describe('the meterline reconcile command', () => {
  it('on a database with nothing to repair prints one line and exits 0; --dry-run goes with reconcile only', async () => {
    await withMigratedFreeEngineConfig(async (config) => {
      const result = await runCli(['reconcile', '--dry-run', '--config', config]);
      expect(result).toMatchObject({ code: 0, stdout: 'reconcile: nothing to repair\n' });
      const misplaced = await runCli(['migrate', '--dry-run', '--config', config]);
      expect(misplaced.code).toBe(2);
      expect(misplaced.stderr).toContain('--dry-run goes with "reconcile"');
    });
  }, 30_000);
});
