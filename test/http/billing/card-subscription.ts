import type Stripe from 'stripe';
import type { BillingHarness } from '../../helpers/billing-harness';
import { ADMIN, DEVPORTAL, policyBody, PUBLISHER, SCOPES, uniqueName } from '../../helpers/rest-harness';

/** A FIXEDRATE API monetized with a new connected account, subscribed to by a subscriber whose saved card is `card`. */
export async function subscribeWithCard(harness: BillingHarness, card: string) {
  const { token, call, platform, service } = harness;
  const name = uniqueName('sca');
  const admin = token('admin', SCOPES.admin);
  const publisher = token('pat', SCOPES.publisher);
  const subscriber = token(name, SCOPES.subscriber, `${name}@example.com`);
  const policy = (await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '10.00' }))).body;
  const apiName = uniqueName('Api');
  const api = (await call('POST', `${PUBLISHER}/apis`, publisher, { name: apiName, version: '1.0.0', context: `/${apiName.toLowerCase()}`, policies: [policy.policyName] })).body;
  await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher);
  const account = (await platform.accounts.create({ type: 'express' })).id;
  expect((await call('POST', `${PUBLISHER}/apis/${api.id}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: account } })).status).toBe(201);
  const app = (await call('POST', `${DEVPORTAL}/applications`, subscriber, { name: uniqueName('app'), throttlingPolicy: 'Unlimited' })).body;
  const subscriberRow = await service.db('AM_SUBSCRIBER').where({ USER_ID: name }).first('SUBSCRIBER_ID');
  const platformCustomer = await platform.customers.create({ email: `${name}@example.com` });
  const method = await platform.paymentMethods.attach(card, { customer: platformCustomer.id });
  await platform.customers.update(platformCustomer.id, { invoice_settings: { default_payment_method: method.id } });
  await service.db('AM_MONETIZATION_PLATFORM_CUSTOMERS').insert({ SUBSCRIBER_ID: subscriberRow.SUBSCRIBER_ID, TENANT_ID: -1234, CUSTOMER_ID: platformCustomer.id });
  const created = await call('POST', `${DEVPORTAL}/subscriptions`, subscriber, { applicationId: app.applicationId, apiId: api.id, throttlingPolicy: policy.policyName });
  expect(created.status).toBe(201);
  const subscriptionId = created.body.subscriptionId as string;
  const found = await platform.subscriptions.list({ status: 'all' }, { stripeAccount: account });
  const stripeSubscription = found.data.find((s) => s.metadata.meterline_subscription_uuid === subscriptionId) as Stripe.Subscription;
  return { subscriptionId, status: created.body.status as string, account, stripeSubscription, subscriber };
}
