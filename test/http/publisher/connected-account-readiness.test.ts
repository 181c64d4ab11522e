import { forEachBillingHarness } from '../../helpers/billing-harness';
import { ADMIN, policyBody, PUBLISHER, SCOPES, uniqueName } from '../../helpers/rest-harness';

/**
 * Monetizing an API with a connected account that cannot take charges yet (Stripe:
 * `charges_enabled` false, `card_payments` not active while onboarding is unfinished:
 * https://docs.stripe.com/connect/account-capabilities) answers 409 saying what the account lacks,
 * instead of failing at the first subscription.
 */
forEachBillingHarness({ holdUntilPaid: false, graceDays: 3 }, (harness, _kind, stripeServer) => {
  async function publishedApi() {
    const { token, call } = harness();
    const admin = token('admin', SCOPES.admin);
    const publisher = token('pat', SCOPES.publisher);
    const policy = (await call('POST', `${ADMIN}/throttling/policies/subscription`, admin, policyBody(uniqueName('Gold'), { plan: 'FIXEDRATE', price: '10.00' }))).body;
    const name = uniqueName('Api');
    const api = (await call('POST', `${PUBLISHER}/apis`, publisher, { name, version: '1.0.0', context: `/${name.toLowerCase()}`, policies: [policy.policyName] })).body;
    await call('POST', `${PUBLISHER}/apis/change-lifecycle?apiId=${api.id}&action=Publish`, publisher);
    return { apiId: api.id as string, publisher };
  }

  it('refuses with 409 naming what the account lacks, and monetizes once onboarding is done', async () => {
    const { platform, call } = harness();
    const { apiId, publisher } = await publishedApi();
    const account = (await platform.accounts.create({ type: 'custom', country: 'US', capabilities: { card_payments: { requested: true }, transfers: { requested: true } } })).id;
    const monetize = () => call('POST', `${PUBLISHER}/apis/${apiId}/monetize`, publisher, { enabled: true, properties: { ConnectedAccountKey: account } });

    const refused = await monetize();
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({
      code: 409,
      description: `connected account ${account} cannot take card payments yet: charges_enabled is false; capability card_payments is inactive`,
    });
    expect((await call('GET', `${PUBLISHER}/apis/${apiId}/monetization`, publisher)).body).toMatchObject({ enabled: false });

    await platform.accounts.update(account, { tos_acceptance: { date: stripeServer().clock.now(), ip: '203.0.113.7' } });
    expect((await monetize()).status).toBe(201);
  });
});
