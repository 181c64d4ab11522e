import Stripe from 'stripe';
import { fixedPriceSubscription, startBillingHarness, type BillingHarness } from '../../helpers/billing-harness';
import { forEachTestDatabase, type TestDatabaseKind } from '../../helpers/databases';
import { KillPointInstances, perform, probedSubscriptions, type KillOrder } from '../../helpers/kill-point-instance';
import { DEVPORTAL, SCOPES, uniqueName } from '../../helpers/rest-harness';
import { STORY_START } from '../../helpers/test-clock';
import { startStripeServer, type StripeServer } from '../../../dev/stripe-server';

/**
 * Crash-safe subscribe and unsubscribe (issue 12, item 4). A first Meterline instance runs the
 * workflow and dies right after one step took effect, so nothing after that step runs, not even
 * a compensation. Then the running service (another instance on the same database and Stripe
 * server) gets the same request again, or a DELETE, over HTTP, and must complete or undo the
 * whole thing.
 *
 * How the first instance dies, per database (DEATHS): SIGKILLed for real, as a child process
 * (test/helpers/kill-point-instance.ts) that kills itself at the step, or in-process, where its
 * probe never returns at the step, which is what a killed process looks like to the database and
 * to Stripe. A real kill costs a process start (loading Stripe, knex, zod: about 0.5 s of CPU)
 * per test, some 25 s per database on a busy 2-core machine against 5 s in-process, so SQLite
 * and PostgreSQL get real kills and MySQL keeps the imitation.
 */
const SUBSCRIBE_STEPS = [
  'row-written',
  'platform-customer-created',
  'platform-customer-recorded',
  'shared-customer-created',
  'shared-customer-recorded',
  'stripe-subscription-created',
  'account-recorded',
  'billed-row-written',
  'engine-workflow-done',
];
// The billing record and the access it decides are written in one transaction (BillingRecords),
// so there is no step between them to die at.
const UNSUBSCRIBE_STEPS = ['usage-sent', 'stripe-subscription-cancelled', 'engine-subscription-cancelled'];
const TENANT = { domain: 'carbon.super', id: -1234 };
const DEATHS: Record<TestDatabaseKind, 'sigkill' | 'in-process'> = { sqlite: 'sigkill', postgres: 'sigkill', mysql: 'in-process' };

type Work = KillOrder['work'];

forEachTestDatabase((kind, database) => {
  let stripeServer: StripeServer;
  let harness: BillingHarness;
  let platform: Stripe;
  let instances: KillPointInstances | undefined;
  const world = { tier: '', apiId: '', account: '' };

  beforeAll(async () => {
    if (DEATHS[kind] === 'sigkill') instances = new KillPointInstances();
    stripeServer = await startStripeServer({ port: 0, startAt: STORY_START });
    // Deliveries to the harness's webhook endpoint would move the subscriptions' access
    // (invoice.paid, ...) under the assertions; these tests are about the workflow alone.
    stripeServer.webhooks.pause();
    harness = await startBillingHarness(database(), stripeServer, { holdUntilPaid: false, graceDays: 3 });
    platform = harness.platform;
    // Someone else's subscription to the same API, also proving the set-up went through.
    const offered = await fixedPriceSubscription(harness);
    expect(offered.status).toBe('UNBLOCKED');
    Object.assign(world, { tier: offered.throttlingPolicy, apiId: offered.apiId, account: offered.account });
  });
  afterAll(async () => {
    await instances?.close();
    await harness?.close();
    await stripeServer?.close();
  });

  /** A subscriber never seen before (so every step of the workflow happens) and a new application of theirs. */
  async function newcomer(label: string) {
    const sub = uniqueName(`crash-${label}`).toLowerCase();
    const email = `${sub}@example.com`;
    const bearer = harness.token(sub, SCOPES.subscriber, email);
    const app = (await harness.call('POST', `${DEVPORTAL}/applications`, bearer, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
    const identity = { subject: sub, email, tenant: TENANT };
    const request = { applicationId: app.applicationId as string, apiId: world.apiId, throttlingPolicy: world.tier };
    return { sub, bearer, identity, applicationId: request.applicationId, body: request };
  }

  /** Runs `work` on a first instance that dies right after `step` took effect; fails the test unless it died exactly there. */
  async function dieAt(step: string, work: Work): Promise<void> {
    if (instances) {
      const ended = await instances.run({ config: harness.config, now: stripeServer.clock.now(), step, work });
      // stderr only matters when the child did not die as planned.
      expect({ step, signal: ended.signal, reports: ended.reports, ...(ended.signal === 'SIGKILL' ? {} : { stderr: ended.stderr }) }).toEqual({
        step,
        signal: 'SIGKILL',
        reports: [`killed at ${step}`],
      });
      return;
    }
    const outcome = await instanceHangingAt(step, work);
    expect(`${step}: ${outcome}`).toBe(`${step}: killed`);
  }

  /**
   * The in-process imitation: another instance on the service's connection pool whose probe
   * never returns at `step`. Resolves 'killed' when it got there, or how the workflow ended
   * before it did.
   */
  function instanceHangingAt(step: string, work: Work): Promise<string> {
    const clock = () => new Date(stripeServer.clock.now() * 1000);
    let reached!: (outcome: string) => void;
    const arrived = new Promise<string>((resolve) => {
      reached = resolve;
    });
    const probe = (name: string): Promise<void> => {
      if (name !== step) return Promise.resolve();
      reached('killed');
      return new Promise<void>(() => undefined);
    };
    const ended = perform(probedSubscriptions(harness.service.db, harness.config, clock, probe), work).then(
      () => 'finished',
      (error: unknown) => `failed: ${error instanceof Error ? error.message : String(error)}`,
    );
    return Promise.race([arrived, ended]);
  }

  async function liveStripeSubscriptionsOf(applicationId: string): Promise<Stripe.Subscription[]> {
    const all = await platform.subscriptions.list({ status: 'all', limit: 100 }, { stripeAccount: world.account });
    return all.data.filter((s) => s.metadata.meterline_application_uuid === applicationId && s.status !== 'canceled');
  }

  async function gatewayRowsOf(applicationId: string) {
    return harness.service.db('AM_SUBSCRIPTION as s').join('AM_APPLICATION as a', 'a.APPLICATION_ID', 's.APPLICATION_ID').where('a.UUID', applicationId).select('s.UUID', 's.SUB_STATUS');
  }

  describe.each(SUBSCRIBE_STEPS)('killed during subscribe, after %s', (step) => {
    it('the same request again completes that subscription: one live Stripe subscription, every row, access granted', async () => {
      const who = await newcomer(step);
      await dieAt(step, { action: 'subscribe', identity: who.identity, request: who.body });
      const [left] = await gatewayRowsOf(who.applicationId);
      expect(left).toMatchObject({ SUB_STATUS: 'ON_HOLD' });

      const retried = await harness.call('POST', `${DEVPORTAL}/subscriptions`, who.bearer, who.body);
      expect(retried.status).toBe(201);
      expect(retried.body).toMatchObject({ subscriptionId: left.UUID, status: 'UNBLOCKED' });

      const live = await liveStripeSubscriptionsOf(who.applicationId);
      expect(live.map((s) => s.metadata.meterline_subscription_uuid)).toEqual([left.UUID]);
      expect(await harness.service.engine.billedSubscriptionOf(left.UUID)).toEqual({ engineSubscriptionId: live[0]!.id, account: world.account });
      expect(await harness.service.db('ML_SUBSCRIPTION_BILLING').where({ SUBSCRIPTION_UUID: left.UUID }).first('ENGINE_SUBSCRIPTION_ID')).toEqual({ ENGINE_SUBSCRIPTION_ID: live[0]!.id });
      expect(await gatewayRowsOf(who.applicationId)).toEqual([{ UUID: left.UUID, SUB_STATUS: 'UNBLOCKED' }]);
      // No second customer either: the retry reused what the dead attempt made.
      const platformCustomers = (await platform.customers.list({ limit: 100 })).data.filter((c) => c.metadata.meterline_subscriber === who.sub);
      expect(platformCustomers).toHaveLength(1);
      const sharedCustomers = (await platform.customers.list({ limit: 100 }, { stripeAccount: world.account })).data.filter((c) => c.metadata.meterline_application === who.applicationId);
      expect(sharedCustomers.map((c) => c.id)).toEqual([live[0]!.customer]);
      // Once finished, the same request is a conflict again.
      expect((await harness.call('POST', `${DEVPORTAL}/subscriptions`, who.bearer, who.body)).status).toBe(409);
    }, 30_000);

    it('DELETE instead cancels whatever the dead attempt made in Stripe and removes every row', async () => {
      const who = await newcomer(step);
      await dieAt(step, { action: 'subscribe', identity: who.identity, request: who.body });
      const [left] = await gatewayRowsOf(who.applicationId);

      const deleted = await harness.call('DELETE', `${DEVPORTAL}/subscriptions/${left.UUID}`, who.bearer);
      expect(deleted.status).toBe(200);
      expect(await liveStripeSubscriptionsOf(who.applicationId)).toEqual([]);
      expect(await gatewayRowsOf(who.applicationId)).toEqual([]);
      expect(await harness.service.engine.billedSubscriptionOf(left.UUID)).toBeNull();
      // None live: a billed one cancelled stays marked cancelled (for reconcile usage), an unbilled one is forgotten.
      expect(await harness.service.db('ML_ENGINE_SUBSCRIPTION').where({ SUBSCRIPTION_UUID: left.UUID }).whereNull('CANCELLED_AT').select('ENGINE_SUBSCRIPTION_ID')).toEqual([]);
    }, 30_000);
  });

  describe.each(UNSUBSCRIBE_STEPS)('killed during unsubscribe, after %s', (step) => {
    it('DELETE again finishes it: the Stripe subscription cancelled once, no rows left', async () => {
      const who = await newcomer(step);
      const created = await harness.call('POST', `${DEVPORTAL}/subscriptions`, who.bearer, who.body);
      expect(created.status).toBe(201);
      const uuid: string = created.body.subscriptionId;
      await dieAt(step, { action: 'unsubscribe', identity: who.identity, subscriptionId: uuid });

      expect((await harness.call('DELETE', `${DEVPORTAL}/subscriptions/${uuid}`, who.bearer)).status).toBe(200);
      const all = (await platform.subscriptions.list({ status: 'all', limit: 100 }, { stripeAccount: world.account })).data.filter(
        (s) => s.metadata.meterline_application_uuid === who.applicationId,
      );
      expect(all.map((s) => s.status)).toEqual(['canceled']);
      expect(await gatewayRowsOf(who.applicationId)).toEqual([]);
      expect(await harness.service.engine.billedSubscriptionOf(uuid)).toBeNull();
      expect((await harness.call('GET', `${DEVPORTAL}/subscriptions/${uuid}`, who.bearer)).status).toBe(404);
    }, 30_000);
  });
});
