import type { NotificationEvent } from '../../src/notifications/events';
import { fixedPriceSubscription, forEachBillingHarness } from '../helpers/billing-harness';
import { ADMIN, DEVPORTAL, policyBody, PUBLISHER, SCOPES, uniqueName } from '../helpers/rest-harness';

/**
 * The notification events the services emit (issue 18, design C), told through the production
 * composition to a recording notifier put in place of the outbox's `notify` (an in-memory list):
 * the Stripe engine is the local Stripe server over HTTP, invoices reach Meterline as signed
 * webhooks. One service and one migrated database per database kind, for the whole file.
 */
forEachBillingHarness({ holdUntilPaid: true, graceDays: 3 }, (harness, kind, stripeServer) => {
  const told: NotificationEvent[] = [];
  let failing = false;

  beforeAll(() => {
    const notifier = harness().service.services.notifications.notifier;
    notifier.notify = async (event: NotificationEvent) => {
      told.push(event);
      if (failing) throw new Error('the notification outbox is down');
    };
  });

  const ofType = (type: string) => told.filter((e) => e.type === type);
  const one = (id: string): NotificationEvent => {
    const matching = told.filter((e) => e.id === id);
    if (matching.length !== 1) throw new Error(`expected one event ${id}, got ${matching.length}: ${told.map((e) => e.id).join(', ')}`);
    return matching[0]!;
  };

  describe(`notification emissions (${kind})`, () => {
    it('plan.created for a COMMERCIAL policy the engine made; plan.failed with the reason when the engine fails; none for FREE', async () => {
      const admin = harness().token('admin', SCOPES.admin);
      const name = uniqueName('Gold');
      const created = await harness().call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(name, { plan: 'FIXEDRATE', price: '12.50' }));
      expect(created.status).toBe(201);
      const plan = told.find((e) => e.type === 'plan.created' && e.data.policyName === name)!;
      expect(plan.id).toMatch(new RegExp(`^plan\\.created:carbon\\.super:${created.body.policyId}:[0-9a-f]{12}$`));
      expect(plan).toMatchObject({ tenantDomain: 'carbon.super', data: { action: 'created', policyId: created.body.policyId, currency: 'usd', fixedPrice: '12.50', billingCycle: 'month' } });
      expect(plan.summary).toContain(name);
      one(plan.id);

      const free = uniqueName('Free');
      expect((await harness().call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(free))).status).toBe(201);
      expect(told.filter((e) => e.data.policyName === free)).toEqual([]);

      const flaky = uniqueName('Flaky');
      const fault = stripeServer().faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/prices' }, times: 1 });
      try {
        const failed = await harness().call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(flaky, { plan: 'FIXEDRATE', price: '5' }));
        expect(failed.status).toBe(503);
      } finally {
        stripeServer().faults.remove(fault);
      }
      const failure = told.find((e) => e.type === 'plan.failed' && e.data.policyName === flaky)!;
      expect(failure.id).toMatch(new RegExp(`^plan\\.failed:carbon\\.super:${flaky}:[0-9a-f]{12}$`));
      expect(String(failure.data.reason)).not.toBe('');
      expect(failure.summary).toContain(flaky);
    });

    it('monetization.enabled, subscription.on_hold, invoice.issued, then invoice.paid and subscription.approved, each once, with names and the subscriber', async () => {
      const subscriber = uniqueName('sub');
      const story = await fixedPriceSubscription(harness(), { subscriber, price: '10.00' });
      expect(story.status).toBe('ON_HOLD');

      const monetized = ofType('monetization.enabled').find((e) => e.data.apiId === story.apiId)!;
      expect(monetized.id).toMatch(new RegExp(`^monetization\\.enabled:carbon\\.super:${story.apiId}:`));
      expect(monetized.data).toMatchObject({ tiers: story.throttlingPolicy, billedTiers: story.throttlingPolicy });
      one(monetized.id);

      const held = one(`subscription.on_hold:carbon.super:${story.subscriptionId}`);
      expect(held).toMatchObject({ subscriberEmail: `${subscriber}@example.com`, data: { subscriptionId: story.subscriptionId, apiId: story.apiId, policyName: story.throttlingPolicy, status: 'ON_HOLD' } });
      expect(held.data.applicationName).toEqual(expect.any(String));
      expect(held.summary).toContain(String(held.data.apiName));

      // Stripe sends a send_invoice subscription's first invoice an hour after the create (https://docs.stripe.com/subscriptions/invoices).
      stripeServer().clock.advance(3_600);
      await stripeServer().webhooks.flush();
      const issued = told.find((e) => e.type === 'invoice.issued' && e.data.subscriptionId === story.subscriptionId)!;
      expect(issued).toMatchObject({ subscriberEmail: `${subscriber}@example.com`, data: { amount: '10.00', currency: 'usd', status: 'OPEN' } });
      expect(issued.id).toBe(`invoice.issued:carbon.super:${issued.data.invoiceId}`);
      expect(issued.data.payLink).toMatch(/^https?:\/\//);
      expect(issued.summary).toContain('10.00 USD');
      one(issued.id);

      const options = { stripeAccount: story.account };
      await harness().platform.invoices.pay(String(issued.data.invoiceId), { paid_out_of_band: true }, options);
      await stripeServer().webhooks.flush();
      const paid = one(`invoice.paid:carbon.super:${issued.data.invoiceId}`);
      expect(paid.data).toMatchObject({ amount: '10.00', status: 'PAID', subscriptionId: story.subscriptionId });
      const approved = one(`subscription.approved:carbon.super:${story.subscriptionId}`);
      expect(approved).toMatchObject({ subscriberEmail: `${subscriber}@example.com`, data: { status: 'UNBLOCKED', previousStatus: 'ON_HOLD' } });
      expect(ofType('subscription.failed').filter((e) => e.data.subscriptionId === story.subscriptionId)).toEqual([]);
    });

    it("the publisher's block and unblock are told once each; a notifier that throws fails neither", async () => {
      const story = await fixedPriceSubscription(harness(), { price: '3.00' });
      const blocker = harness().token('pat', [...SCOPES.publisher, 'apim:subscription_block']);
      const block = () => harness().call('POST', `${PUBLISHER}/subscriptions/block-subscription?subscriptionId=${story.subscriptionId}&blockState=BLOCKED`, blocker);
      expect((await block()).status).toBe(200);
      expect((await block()).status).toBe(200); // a block that stands: nothing new to tell
      const blocked = told.filter((e) => e.type === 'subscription.blocked' && e.data.subscriptionId === story.subscriptionId);
      expect(blocked).toHaveLength(1);
      expect(blocked[0]).toMatchObject({ data: { status: 'BLOCKED', cause: 'publisher', by: 'pat' } });
      expect(blocked[0]!.id).toMatch(new RegExp(`^subscription\\.blocked:carbon\\.super:${story.subscriptionId}:publisher:BLOCKED:`));

      failing = true;
      try {
        const unblocked = await harness().call('POST', `${PUBLISHER}/subscriptions/unblock-subscription?subscriptionId=${story.subscriptionId}`, blocker);
        expect(unblocked.status).toBe(200);
      } finally {
        failing = false;
      }
      expect(told.filter((e) => e.type === 'subscription.unblocked' && e.data.subscriptionId === story.subscriptionId)).toHaveLength(1);
    });

    it('subscription.failed with the reason when the engine fails the subscribe workflow', async () => {
      const story = await fixedPriceSubscription(harness(), { price: '4.00' });
      const app = (await harness().call('POST', `${DEVPORTAL}/applications`, story.subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
      const fault = stripeServer().faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/subscriptions', account: story.account }, times: 1 });
      try {
        const failed = await harness().call('POST', `${DEVPORTAL}/subscriptions`, story.subscriber, { applicationId: app.applicationId, apiId: story.apiId, throttlingPolicy: story.throttlingPolicy });
        expect(failed.status).toBe(503);
      } finally {
        stripeServer().faults.remove(fault);
      }
      const failures = told.filter((e) => e.type === 'subscription.failed' && e.data.applicationId === app.applicationId);
      expect(failures).toHaveLength(1);
      expect(failures[0]!.id).toBe(`subscription.failed:carbon.super:${failures[0]!.data.subscriptionId}`);
      expect(failures[0]!.data).toMatchObject({ apiId: story.apiId, policyName: story.throttlingPolicy, reason: expect.any(String) });
      expect(failures[0]!.summary).toContain('failed');
    });
    it('invoice.payment_failed for a declined payment; subscription.blocked once when its grace period runs out (the grace-expiry pass, on an injected clock), unblocked once when paid', async () => {
      const subscriber = uniqueName('sub');
      const story = await fixedPriceSubscription(harness(), { subscriber, price: '6.00' });
      stripeServer().clock.advance(3_600);
      await stripeServer().webhooks.flush();
      const invoiceId = String(told.find((e) => e.type === 'invoice.issued' && e.data.subscriptionId === story.subscriptionId)!.data.invoiceId);
      const options = { stripeAccount: story.account };
      const customer = String((await harness().platform.invoices.retrieve(invoiceId, {}, options)).customer);
      // A card on the connected account's customer, declined once (the local server's failNext).
      const card = await harness().platform.paymentMethods.attach('pm_card_visa', { customer }, options);
      stripeServer().payments.failNext({ customer });
      await expect(harness().platform.invoices.pay(invoiceId, { payment_method: card.id }, options)).rejects.toThrow(/decline/i);
      await stripeServer().webhooks.flush();
      const failed = told.filter((e) => e.type === 'invoice.payment_failed' && e.data.invoiceId === invoiceId);
      expect(failed).toHaveLength(1);
      expect(failed[0]!.id).toMatch(new RegExp(`^invoice\\.payment_failed:carbon\\.super:${invoiceId}:`));
      expect(failed[0]).toMatchObject({ subscriberEmail: `${subscriber}@example.com`, data: { subscriptionId: story.subscriptionId, amount: '6.00', status: 'OPEN', reason: expect.any(String) } });

      // The access check blocks once the 3-day grace runs out; the pass writes BLOCKED to the
      // gateway's status and tells it, once (again and again later: nothing more).
      const failedAt = stripeServer().clock.now() * 1000;
      const records = harness().service.services.billing.records;
      const blocked = () => told.filter((e) => e.type === 'subscription.blocked' && e.data.subscriptionId === story.subscriptionId);
      expect(await records.applyGraceExpiries(new Date(failedAt + 3 * 86_400_000 - 60_000))).toBe(0);
      expect(blocked()).toEqual([]);
      const gatewayStatus = async () => (await harness().service.db('AM_SUBSCRIPTION').where({ UUID: story.subscriptionId }).first('SUB_STATUS')).SUB_STATUS;
      expect(await gatewayStatus()).toBe('ON_HOLD');
      const after = new Date(failedAt + 3 * 86_400_000 + 60_000);
      expect(await harness().service.services.billing.access.check(story.subscriptionId, after)).toMatchObject({ allowed: false, status: 'BLOCKED' });
      expect(await records.applyGraceExpiries(after)).toBe(1);
      expect(await gatewayStatus()).toBe('BLOCKED');
      expect(await records.applyGraceExpiries(new Date(after.getTime() + 60_000))).toBe(0);
      expect(blocked()).toHaveLength(1);
      expect(blocked()[0]).toMatchObject({
        id: `subscription.blocked:carbon.super:${story.subscriptionId}:grace:${invoiceId}`,
        subscriberEmail: `${subscriber}@example.com`,
        data: { status: 'BLOCKED', previousStatus: 'ON_HOLD', cause: 'payment', invoiceId, reason: expect.stringContaining('unpaid since') },
      });

      // Another declined attempt after the grace: the subscription is BLOCKED already, nothing new
      // is told; the payment that succeeds unblocks (BLOCKED → UNBLOCKED), told once.
      stripeServer().clock.advanceTo(Math.ceil(after.getTime() / 1000));
      stripeServer().payments.failNext({ customer });
      await expect(harness().platform.invoices.pay(invoiceId, { payment_method: card.id }, options)).rejects.toThrow(/decline/i);
      await stripeServer().webhooks.flush();
      expect(told.filter((e) => e.type === 'invoice.payment_failed' && e.data.invoiceId === invoiceId)).toHaveLength(2);
      expect(blocked()).toHaveLength(1);
      await harness().platform.invoices.pay(invoiceId, { payment_method: card.id }, options);
      await stripeServer().webhooks.flush();
      const unblocked = told.filter((e) => e.type === 'subscription.unblocked' && e.data.subscriptionId === story.subscriptionId);
      expect(await gatewayStatus()).toBe('UNBLOCKED');
      expect(unblocked).toHaveLength(1);
      expect(unblocked[0]).toMatchObject({ data: { status: 'UNBLOCKED', previousStatus: 'BLOCKED', cause: 'payment' } });
      expect(unblocked[0]!.id).toMatch(new RegExp(`^subscription\\.unblocked:carbon\\.super:${story.subscriptionId}:`));
    });

    it('a publish job that fails is told as usage.publish_failed for the tenant, naming the subscription', async () => {
      const call = harness().call;
      const admin = harness().token('admin', SCOPES.admin);
      const publisher = harness().token('pat', SCOPES.publisher);
      const subscriber = harness().token(uniqueName('sub'), SCOPES.subscriber);
      const policy = (await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(uniqueName('PerCall'), { plan: 'DYNAMICRATE', price: '0.01' }))).body;
      const name = uniqueName('Api');
      const api = (await call('POST', `${PUBLISHER}/apis`, publisher, { name, version: '1.0.0', context: `/${name.toLowerCase()}`, policies: [policy.policyName] })).body;
      await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher);
      const account = (await harness().platform.accounts.create({ type: 'express' })).id;
      expect((await call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: account } })).status).toBe(201);
      const app = (await call('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
      const subscribed = await call('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: app.applicationId, apiId: api.id, throttlingPolicy: policy.policyName });
      expect(subscribed.status).toBe(201);

      const usage = harness().service.usage;
      const at = new Date(stripeServer().clock.now() * 1000);
      const event = { eventId: uniqueName('evt'), timestamp: at.getTime(), apiId: api.id, applicationId: app.applicationId, subscriptionId: subscribed.body.subscriptionId, httpStatus: 200, tenant: 'carbon.super' };
      await usage.ingestion.ingest([event]);
      stripeServer().clock.advance(2 * 3600);
      const fault = stripeServer().faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/billing/meter_events', account } });
      let runId: string;
      try {
        expect((await usage.publishUsage()).accepted).toBe(true);
        const summary = (await usage.publisher.current())!;
        expect(summary.outcome).toBe('UNSUCCESSFULL');
        runId = summary.runId;
      } finally {
        stripeServer().faults.remove(fault);
      }
      const failed = one(`usage.publish_failed:carbon.super:${runId}`);
      expect(failed.data).toMatchObject({ runId, outcome: 'UNSUCCESSFULL', failures: 1 });
      expect(failed.summary).toContain(name);
      expect(String(failed.data.firstFailure)).toContain(policy.policyName);

      // A day later Stripe may have forgotten the identifier sent without a confirmation: the next
      // job closes the record UNCERTAIN instead of re-sending it, told once for the subscription.
      stripeServer().clock.advance(24 * 3600);
      expect((await usage.publishUsage()).accepted).toBe(true);
      await usage.publisher.current();
      const uncertain = ofType('usage.records_uncertain').filter((e) => e.data.subscriptionId === subscribed.body.subscriptionId);
      expect(uncertain).toHaveLength(1);
      expect(uncertain[0]!.id).toMatch(new RegExp(`^usage\\.records_uncertain:carbon\\.super:${subscribed.body.subscriptionId}:`));
      expect(uncertain[0]!.data).toMatchObject({ records: 1, calls: 1, apiName: name });
    });
  });
});
