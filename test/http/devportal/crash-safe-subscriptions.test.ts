import Stripe from 'stripe';
import { StripeMonetization } from '../../../plugins/stripe/stripe.monetization';
import { parseStripeOptions } from '../../../plugins/stripe/stripe.options';
import { createBilling } from '../../../src/billing/billing';
import type { MeterlineConfig } from '../../../src/config/schema';
import { ApisRepository } from '../../../src/gateway/apis.repository';
import { ApplicationsRepository } from '../../../src/gateway/applications.repository';
import { PoliciesRepository } from '../../../src/gateway/policies.repository';
import { SubscribersRepository } from '../../../src/gateway/subscribers.repository';
import { SubscriptionsRepository } from '../../../src/gateway/subscriptions.repository';
import { SubscriptionsService, type SubscriberIdentity } from '../../../src/gateway/subscriptions.service';
import { mintToken } from '../../../src/http/auth/tokens';
import { createLogger } from '../../../src/logger';
import { tenantDirectoryFrom } from '../../../src/monetization/tenant-directory';
import { startService, type RunningService } from '../../../src/service';
import { forEachTestDatabase } from '../../helpers/databases';
import { ADMIN, DEVPORTAL, harnessConfig, policyBody, PUBLISHER, SCOPES, uniqueName } from '../../helpers/rest-harness';
import { STORY_START } from '../../helpers/test-clock';
import { startStripeServer, type StripeServer } from '../../stripe-server';

/**
 * Crash-safe subscribe and unsubscribe (issue 12, item 4). A first Meterline instance runs the
 * workflow and dies right after one step took effect: its probe never returns there, so nothing
 * after that step runs, not even a compensation, which is what a SIGKILL looks like to the
 * database and to Stripe. Then the running service (another instance on the same database and
 * Stripe server) gets the same request again, or a DELETE, over HTTP.
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

forEachTestDatabase((_kind, database) => {
  let stripeServer: StripeServer;
  let service: RunningService;
  let config: MeterlineConfig;
  let platform: Stripe;
  const world = { tier: '', apiId: '', account: '' };
  const clock = () => new Date(stripeServer.clock.now() * 1000);

  function token(sub: string, scopes: readonly string[], email?: string): string {
    return mintToken(config.auth.jwt!, { subject: sub, tenant: undefined, scopes, ...(email ? { email } : {}) });
  }

  async function call(method: string, path: string, bearer: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const response = await fetch(`${service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  beforeAll(async () => {
    stripeServer = await startStripeServer({ port: 0, startAt: STORY_START });
    const superKey = `sk_test_crash_${process.pid}_${Date.now()}`;
    config = harnessConfig(database(), stripeServer, { superKey, otherKey: `${superKey}_acme` });
    service = await startService({ config, logger: createLogger('silent'), port: 0, clock });
    platform = new Stripe(superKey, { host: stripeServer.host, port: stripeServer.port, protocol: 'http', maxNetworkRetries: 0, telemetry: false });
    const admin = token('admin', SCOPES.admin);
    const publisher = token('pat', SCOPES.publisher);
    const policy = (await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '10.00' }))).body;
    const name = uniqueName('Api');
    const api = (await call('POST', `${PUBLISHER}/apis`, publisher, { name, version: '1.0.0', context: `/${name.toLowerCase()}`, policies: [policy.policyName] })).body;
    expect((await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher)).status).toBe(200);
    world.account = (await platform.accounts.create({ type: 'express' })).id;
    expect((await call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: world.account } })).status).toBe(201);
    world.tier = policy.policyName;
    world.apiId = api.id;
  });
  afterAll(async () => {
    await service?.close();
    await stripeServer?.close();
  });

  /** A subscriber never seen before (so every step of the workflow happens) and a new application of theirs. */
  async function newcomer(label: string) {
    const sub = uniqueName(`crash-${label}`).toLowerCase();
    const email = `${sub}@example.com`;
    const bearer = token(sub, SCOPES.subscriber, email);
    const app = (await call('POST', `${DEVPORTAL}/applications`, bearer, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
    const identity: SubscriberIdentity = { subject: sub, email, tenant: TENANT };
    return { sub, email, bearer, identity, applicationId: app.applicationId as string, body: { applicationId: app.applicationId, apiId: world.apiId, throttlingPolicy: world.tier } };
  }

  /**
   * Another Meterline instance on the same database and Stripe server whose process "dies" right
   * after `step` took effect. `arrived` resolves when it got there; the workflow never goes on.
   */
  function instanceKilledAfter(step: string) {
    const db = service.db;
    const logger = createLogger('silent');
    let reached!: () => void;
    const arrived = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const probe = (name: string): Promise<void> => {
      if (name !== step) return Promise.resolve();
      reached();
      return new Promise<void>(() => undefined);
    };
    const engine = new StripeMonetization(
      parseStripeOptions((config.apim.monetization as Record<string, unknown>).stripe),
      { db, logger, clock, tenants: tenantDirectoryFrom(config) },
      probe,
    );
    const subscriptions = new SubscriptionsService(
      new SubscriptionsRepository(db),
      new ApisRepository(db),
      new ApplicationsRepository(db),
      new SubscribersRepository(db),
      new PoliciesRepository(db),
      engine,
      logger,
      clock,
      createBilling({ db, config, logger }).records,
      undefined,
      probe,
    );
    /** Runs `work` on this instance until it dies at the step (fails the test if it ends before). */
    async function killDuring(work: (subscriptions: SubscriptionsService) => Promise<unknown>): Promise<void> {
      const ended = work(subscriptions).then(
        () => 'finished',
        (error: unknown) => `failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      const outcome = await Promise.race([arrived.then(() => 'killed'), ended]);
      expect(`${step}: ${outcome}`).toBe(`${step}: killed`);
    }
    return { killDuring };
  }

  async function liveStripeSubscriptionsOf(applicationId: string): Promise<Stripe.Subscription[]> {
    const all = await platform.subscriptions.list({ status: 'all', limit: 100 }, { stripeAccount: world.account });
    return all.data.filter((s) => s.metadata.meterline_application_uuid === applicationId && s.status !== 'canceled');
  }

  async function gatewayRowsOf(applicationId: string) {
    return service.db('AM_SUBSCRIPTION as s')
      .join('AM_APPLICATION as a', 'a.APPLICATION_ID', 's.APPLICATION_ID')
      .where('a.UUID', applicationId)
      .select('s.UUID', 's.SUB_STATUS');
  }

  describe.each(SUBSCRIBE_STEPS)('killed during subscribe, after %s', (step) => {
    it('the same request again completes that subscription: one live Stripe subscription, every row, access granted', async () => {
      const who = await newcomer(step);
      await instanceKilledAfter(step).killDuring((s) => s.subscribe(who.identity, who.body));
      const [left] = await gatewayRowsOf(who.applicationId);
      expect(left).toMatchObject({ SUB_STATUS: 'ON_HOLD' });

      const retried = await call('POST', `${DEVPORTAL}/subscriptions`, who.bearer, who.body);
      expect(retried.status).toBe(201);
      expect(retried.body).toMatchObject({ subscriptionId: left.UUID, status: 'UNBLOCKED' });

      const live = await liveStripeSubscriptionsOf(who.applicationId);
      expect(live.map((s) => s.metadata.meterline_subscription_uuid)).toEqual([left.UUID]);
      expect(await service.engine.billedSubscriptionOf(left.UUID)).toEqual({ engineSubscriptionId: live[0]!.id, account: world.account });
      expect(await service.db('ML_SUBSCRIPTION_BILLING').where({ SUBSCRIPTION_UUID: left.UUID }).first('ENGINE_SUBSCRIPTION_ID')).toEqual({ ENGINE_SUBSCRIPTION_ID: live[0]!.id });
      expect(await gatewayRowsOf(who.applicationId)).toEqual([{ UUID: left.UUID, SUB_STATUS: 'UNBLOCKED' }]);
      // No second customer either: the retry reused what the dead attempt made.
      const platformCustomers = (await platform.customers.list({ limit: 100 })).data.filter((c) => c.metadata.meterline_subscriber === who.sub);
      expect(platformCustomers).toHaveLength(1);
      const sharedCustomers = (await platform.customers.list({ limit: 100 }, { stripeAccount: world.account })).data.filter((c) => c.metadata.meterline_application === who.applicationId);
      expect(sharedCustomers.map((c) => c.id)).toEqual([live[0]!.customer]);
      // Once finished, the same request is a conflict again.
      expect((await call('POST', `${DEVPORTAL}/subscriptions`, who.bearer, who.body)).status).toBe(409);
    }, 30_000);

    it('DELETE instead cancels whatever the dead attempt made in Stripe and removes every row', async () => {
      const who = await newcomer(step);
      await instanceKilledAfter(step).killDuring((s) => s.subscribe(who.identity, who.body));
      const [left] = await gatewayRowsOf(who.applicationId);

      const deleted = await call('DELETE', `${DEVPORTAL}/subscriptions/${left.UUID}`, who.bearer);
      expect(deleted.status).toBe(200);
      expect(await liveStripeSubscriptionsOf(who.applicationId)).toEqual([]);
      expect(await gatewayRowsOf(who.applicationId)).toEqual([]);
      expect(await service.engine.billedSubscriptionOf(left.UUID)).toBeNull();
      expect(await service.db('ML_ENGINE_SUBSCRIPTION').where({ SUBSCRIPTION_UUID: left.UUID }).select('ENGINE_SUBSCRIPTION_ID')).toEqual([]);
    }, 30_000);
  });

  describe.each(UNSUBSCRIBE_STEPS)('killed during unsubscribe, after %s', (step) => {
    it('DELETE again finishes it: the Stripe subscription cancelled once, no rows left', async () => {
      const who = await newcomer(step);
      const created = await call('POST', `${DEVPORTAL}/subscriptions`, who.bearer, who.body);
      expect(created.status).toBe(201);
      const uuid: string = created.body.subscriptionId;
      await instanceKilledAfter(step).killDuring((s) => s.unsubscribe(who.identity, uuid));

      expect((await call('DELETE', `${DEVPORTAL}/subscriptions/${uuid}`, who.bearer)).status).toBe(200);
      const all = (await platform.subscriptions.list({ status: 'all', limit: 100 }, { stripeAccount: world.account })).data.filter(
        (s) => s.metadata.meterline_application_uuid === who.applicationId,
      );
      expect(all.map((s) => s.status)).toEqual(['canceled']);
      expect(await gatewayRowsOf(who.applicationId)).toEqual([]);
      expect(await service.engine.billedSubscriptionOf(uuid)).toBeNull();
      expect((await call('GET', `${DEVPORTAL}/subscriptions/${uuid}`, who.bearer)).status).toBe(404);
    }, 30_000);
  });
});
