import { createPolicy, roleTokens } from '../../helpers/rest-fixtures';
import { ADMIN, policyBody, forEachRestHarness, uniqueName } from '../../helpers/rest-harness';

/**
 * A policy's prices are checked against the billing engine's rules (its `checkPrice` capability;
 * Stripe's: https://docs.stripe.com/currencies) when the policy is created or updated: a price the
 * engine could not charge is a 400 naming the field, and the engine is not called.
 */
const POLICIES = `${ADMIN}/throttling/policies/subscription`;

forEachRestHarness((rest, _kind, stripeServer) => {
  let admin: string;
  beforeAll(async () => {
    admin = roleTokens(rest()).admin;
  });

  /** How many requests the Stripe server has logged so far: the mark `engineCallsSince` counts from. */
  const mark = () => stripeServer().requests.list().length;
  /** Requests made to the platform account after `since` (a `mark()`), whatever the clocks say. */
  const engineCallsSince = (since: number) => stripeServer().requests.list().slice(since).filter((r) => r.account === rest().platformAccount);

  it.each([
    ['fractional krónur (10.5 ISK)', { plan: 'FIXEDRATE' as const, price: '10.5', currency: 'ISK' }, 'monetization.properties.fixedPrice', /whole krónur/],
    ['a third KWD decimal that is not 0 (5.125 KWD)', { plan: 'FIXEDRATE' as const, price: '5.125', currency: 'KWD' }, 'monetization.properties.fixedPrice', /third must be 0/],
    ['a currency the engine does not charge in (XYZ)', { plan: 'FIXEDRATE' as const, price: '5', currency: 'XYZ' }, 'monetization.properties.currencyType', /not a currency/],
    ['a per-request price in a currency the engine does not charge in', { plan: 'DYNAMICRATE' as const, price: '0.01', currency: 'XYZ' }, 'monetization.properties.currencyType', /not a currency/],
  ])('create: 400 naming the field for %s, before any engine call', async (_label, monetization, field, message) => {
    const name = uniqueName('Rule');
    const since = mark();
    const response = await rest().call('POST', POLICIES, { token: admin, body: policyBody(name, monetization) });
    expect(response.status).toBe(400);
    expect(response.body.error[0]).toEqual({ code: field, message: expect.stringMatching(message) });
    expect(engineCallsSince(since)).toEqual([]);
    const listed = await rest().call('GET', POLICIES, { token: admin });
    expect(listed.body.list.map((p: { policyName: string }) => p.policyName)).not.toContain(name);
  });

  it('create: accepts what the engine can charge (11 ISK, 5.12 KWD, a 0.0005 BHD per-request rate)', async () => {
    for (const monetization of [
      { plan: 'FIXEDRATE' as const, price: '11', currency: 'ISK' },
      { plan: 'FIXEDRATE' as const, price: '5.12', currency: 'KWD' },
      { plan: 'DYNAMICRATE' as const, price: '0.0005', currency: 'BHD' },
    ]) {
      const response = await rest().call('POST', POLICIES, { token: admin, body: policyBody(uniqueName('Ok'), monetization) });
      expect(response.status).toBe(201);
    }
  });

  it('update: a base fee the engine cannot charge is a 400 naming fixedPrice, and the policy keeps its price', async () => {
    const created = await createPolicy(rest(), admin, policyBody(uniqueName('Dinar'), { plan: 'DYNAMICRATE', price: '0.001', currency: 'KWD' }));
    const body = policyBody(created.policyName, { plan: 'DYNAMICRATE', price: '0.001', currency: 'KWD' });
    (body.monetization!.properties as Record<string, string>).fixedPrice = '1.005';
    const since = mark();
    const response = await rest().call('PUT', `${POLICIES}/${created.policyId}`, { token: admin, body });
    expect(response.status).toBe(400);
    expect(response.body.error[0]).toEqual({ code: 'monetization.properties.fixedPrice', message: expect.stringMatching(/third must be 0/) });
    expect(engineCallsSince(since)).toEqual([]);
    const stored = await rest().call('GET', `${POLICIES}/${created.policyId}`, { token: admin });
    expect(stored.body.monetization.properties).toEqual({ pricePerRequest: '0.001', currencyType: 'KWD', billingCycle: 'month' });
  });
});
