import { createApi, createPolicy, expectStatus, roleTokens } from '../../helpers/rest-fixtures';
import { ADMIN, policyBody, forEachRestHarness, uniqueName } from '../../helpers/rest-harness';

/** Admin v4 /throttling/policies/subscription: CRUD with billing plans in the platform account. */
const POLICIES = `${ADMIN}/throttling/policies/subscription`;

forEachRestHarness((rest, _kind, stripeServer) => {
  let admin: string;
  beforeAll(async () => {
    admin = roleTokens(rest()).admin;
  });

  const activePrices = async () => (await rest().platform.prices.list({ active: true, limit: 100 })).data;

  describe('create', () => {
    it('a FREE policy is stored, answered in WSO2 shape with a Location, and makes no billing plan', async () => {
      const name = uniqueName('Bronze');
      const before = (await activePrices()).length;
      const response = await rest().call('POST', POLICIES, { token: admin, body: policyBody(name) });
      expect(response.status).toBe(201);
      expect(response.body).toEqual({
        policyId: expect.stringMatching(/^[0-9a-f-]{36}$/),
        policyName: name,
        displayName: name,
        description: `${name} plan`,
        isDeployed: true,
        type: 'SubscriptionThrottlePolicy',
        defaultLimit: { type: 'REQUESTCOUNTLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 1000 } },
        billingPlan: 'FREE',
      });
      expect(response.headers.get('location')).toBe(`${POLICIES}/${response.body.policyId}`);
      expect((await activePrices()).length).toBe(before);
    });

    it('a FIXEDRATE policy creates a licensed monthly price of exactly 10.50 USD in the platform account', async () => {
      const name = uniqueName('Gold');
      const response = await rest().call('POST', POLICIES, { token: admin, body: policyBody(name, { plan: 'FIXEDRATE', price: '10.50' }) });
      expect(response.status).toBe(201);
      expect(response.body.monetization).toEqual({ monetizationPlan: 'FIXEDRATE', properties: { fixedPrice: '10.50', currencyType: 'USD', billingCycle: 'month' } });
      const price = (await activePrices()).find((p) => p.metadata.meterline_policy_uuid === response.body.policyId);
      expect(price).toMatchObject({ unit_amount: 1050, currency: 'usd', recurring: { interval: 'month', usage_type: 'licensed' } });
    });

    it('a DYNAMICRATE policy in JPY with a lower-case plan name and cycle is normalised', async () => {
      const body = policyBody(uniqueName('Yen'), { plan: 'DYNAMICRATE', price: '0.5', currency: 'jpy', cycle: 'Week' });
      (body.monetization as { monetizationPlan: string }).monetizationPlan = 'dynamicRate';
      const response = await rest().call('POST', POLICIES, { token: admin, body });
      expect(response.status).toBe(201);
      expect(response.body.monetization).toEqual({ monetizationPlan: 'DYNAMICRATE', properties: { pricePerRequest: '0.5', currencyType: 'JPY', billingCycle: 'week' } });
      const price = (await activePrices()).find((p) => p.metadata.meterline_policy_uuid === response.body.policyId);
      expect(price).toMatchObject({ currency: 'jpy', recurring: { interval: 'week', usage_type: 'metered' } });
      expect(String(price!.unit_amount_decimal)).toBe('0.5');
    });

    it('a DYNAMICRATE policy may carry a fixedPrice base fee, kept and answered beside the per-request price', async () => {
      const body = policyBody(uniqueName('Base'), { plan: 'DYNAMICRATE', price: '0.001' });
      (body.monetization!.properties as Record<string, string>).fixedPrice = '5.00';
      const response = await rest().call('POST', POLICIES, { token: admin, body });
      expect(response.status).toBe(201);
      expect(response.body.monetization.properties).toEqual({ fixedPrice: '5.00', pricePerRequest: '0.001', currencyType: 'USD', billingCycle: 'month' });
      const stored = await rest().call('GET', `${POLICIES}/${response.body.policyId}`, { token: admin });
      expect(stored.body.monetization.properties.fixedPrice).toBe('5.00');
    });

    it('a DYNAMICRATE base fee with more decimals than the currency has is refused naming fixedPrice', async () => {
      const body = policyBody(uniqueName('Base'), { plan: 'DYNAMICRATE', price: '0.001' });
      (body.monetization!.properties as Record<string, string>).fixedPrice = '5.001';
      const response = await rest().call('POST', POLICIES, { token: admin, body });
      expect(response.status).toBe(400);
      expect(response.body.error[0]).toEqual({ code: 'monetization.properties.fixedPrice', message: expect.stringMatching(/more decimal places/) });
    });

    it.each([
      ['a price with more decimals than the currency has', { plan: 'FIXEDRATE' as const, price: '10.005' }, 'monetization.properties.fixedPrice', /more decimal places than USD allows/],
      ['a negative price', { plan: 'FIXEDRATE' as const, price: '-1' }, 'monetization.properties.fixedPrice', /not a non-negative decimal/],
      ['a price in exponent notation', { plan: 'DYNAMICRATE' as const, price: '1e-3' }, 'monetization.properties.pricePerRequest', /not a non-negative decimal/],
      ['a price wider than the 15-character column', { plan: 'DYNAMICRATE' as const, price: '0.00000000000001' }, 'monetization.properties.pricePerRequest', /at most 15 characters/],
      ['a currency that is not a code', { plan: 'FIXEDRATE' as const, price: '1', currency: 'dollars' }, 'monetization.properties.currencyType', /three-letter ISO currency code/],
      ['an unknown billing cycle', { plan: 'FIXEDRATE' as const, price: '1', cycle: 'fortnight' }, 'monetization.properties.billingCycle', /one of day, week, month, year/],
    ])('400 naming the field for %s', async (_label, monetization, field, message) => {
      const response = await rest().call('POST', POLICIES, { token: admin, body: policyBody(uniqueName('Bad'), monetization) });
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ code: 400, message: 'Bad Request', moreInfo: '' });
      expect(response.body.error[0]).toEqual({ code: field, message: expect.stringMatching(message) });
      expect(response.body.description).toContain(field);
    });

    it.each([
      ['COMMERCIAL without monetization', (b: Record<string, unknown>) => ({ ...b, billingPlan: 'COMMERCIAL' }), 'monetization'],
      ['a FREE policy with prices', (b: Record<string, unknown>) => ({ ...b, monetization: { monetizationPlan: 'FIXEDRATE', properties: { fixedPrice: '1' } } }), 'monetization'],
      ['an unknown monetization property', (b: Record<string, unknown>) => ({ ...b, billingPlan: 'COMMERCIAL', monetization: { monetizationPlan: 'FIXEDRATE', properties: { fixedPrice: '1', currencyType: 'USD', billingCycle: 'month', discount: '5' } } }), 'monetization.properties.discount'],
      ['the wrong price for the plan', (b: Record<string, unknown>) => ({ ...b, billingPlan: 'COMMERCIAL', monetization: { monetizationPlan: 'FIXEDRATE', properties: { pricePerRequest: '1', currencyType: 'USD', billingCycle: 'month' } } }), 'monetization.properties.pricePerRequest'],
      ['an unknown monetization plan', (b: Record<string, unknown>) => ({ ...b, billingPlan: 'COMMERCIAL', monetization: { monetizationPlan: 'TIERED', properties: {} } }), 'monetization.monetizationPlan'],
      ['a field WSO2 does not define', (b: Record<string, unknown>) => ({ ...b, stopOnQuota: true }), 'stopOnQuota'],
      ['a WSO2 field Meterline ignores, of the wrong type', (b: Record<string, unknown>) => ({ ...b, stopOnQuotaReach: 'yes' }), 'stopOnQuotaReach'],
      ['a WSO2 field Meterline ignores, with a field WSO2 does not define inside', (b: Record<string, unknown>) => ({ ...b, permissions: { permissionType: 'ALLOW', roles: [], groups: [] } }), 'permissions.groups'],
      ['a policy name longer than AM_SUBSCRIPTION.TIER_ID holds (50)', (b: Record<string, unknown>) => ({ ...b, policyName: 'P'.repeat(51) }), 'policyName'],
      ['no defaultLimit', ({ defaultLimit: _d, ...b }: Record<string, unknown>) => b, 'defaultLimit'],
      ['a limit type without its object', (b: Record<string, unknown>) => ({ ...b, defaultLimit: { type: 'BANDWIDTHLIMIT', requestCount: { timeUnit: 'min', unitTime: 1, requestCount: 5 } } }), 'defaultLimit.bandwidth'],
      ['an empty policy name', (b: Record<string, unknown>) => ({ ...b, policyName: '' }), 'policyName'],
    ])('400 for %s, naming the field', async (_label, mutate, field) => {
      const response = await rest().call('POST', POLICIES, { token: admin, body: mutate(policyBody(uniqueName('Bad'))) });
      expect(response.status).toBe(400);
      expect(response.body.error.map((e: { code: string }) => e.code)).toContain(field);
    });

    it('400 for a body that is not JSON, 415 for a non-JSON content type', async () => {
      const malformed = await rest().call('POST', POLICIES, { token: admin, body: '{"policyName":', headers: { 'content-type': 'application/json' } });
      expect(malformed.status).toBe(400);
      expect(malformed.body.description).toBe('The request body is not valid JSON');
      const text = await rest().call('POST', POLICIES, { token: admin, body: 'policyName=x', headers: { 'content-type': 'text/plain' } });
      expect(text.status).toBe(415);
    });

    it('409 for a name the tenant already uses', async () => {
      const name = uniqueName('Twice');
      await createPolicy(rest(), admin, policyBody(name));
      const response = await rest().call('POST', POLICIES, { token: admin, body: policyBody(name) });
      expect(response.status).toBe(409);
      expect(response.body).toMatchObject({ code: 409, message: 'Conflict' });
    });

    it('when the billing engine fails, the policy row is removed (503), and the same request then succeeds', async () => {
      const name = uniqueName('Flaky');
      const fault = stripeServer().faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/prices', account: rest().platformAccount }, times: 1 });
      try {
        const failed = await rest().call('POST', POLICIES, { token: admin, body: policyBody(name, { plan: 'FIXEDRATE', price: '5' }) });
        expect(failed.status).toBe(503);
        expect(failed.headers.get('retry-after')).toBe('30');
        expect(failed.text).not.toMatch(/sk_test|stack|at .*\.ts/);
      } finally {
        stripeServer().faults.remove(fault);
      }
      const listed = await rest().call('GET', POLICIES, { token: admin });
      expect(listed.body.list.map((p: { policyName: string }) => p.policyName)).not.toContain(name);
      const retried = await rest().call('POST', POLICIES, { token: admin, body: policyBody(name, { plan: 'FIXEDRATE', price: '5' }) });
      expect(retried.status).toBe(201);
    });
  });

  describe('list and get', () => {
    it('lists the tenant\'s policies with a count, and gets one by id', async () => {
      const created = await createPolicy(rest(), admin, policyBody(uniqueName('Listed'), { plan: 'FIXEDRATE', price: '3' }));
      const list = await rest().call('GET', POLICIES, { token: admin });
      expect(list.status).toBe(200);
      expect(list.body.count).toBe(list.body.list.length);
      expect(list.body.list.map((p: { policyId: string }) => p.policyId)).toContain(created.policyId);
      const one = await rest().call('GET', `${POLICIES}/${created.policyId}`, { token: admin });
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ policyId: created.policyId, policyName: created.policyName, billingPlan: 'COMMERCIAL' });
    });

    it('404 in WSO2 shape for an unknown id', async () => {
      const response = await rest().call('GET', `${POLICIES}/00000000-0000-0000-0000-000000000000`, { token: admin });
      expect(response.status).toBe(404);
      expect(response.body).toMatchObject({ code: 404, message: 'Not Found', moreInfo: '', error: [] });
    });
  });

  describe('update', () => {
    it('a new price replaces the platform price: the old one is archived', async () => {
      const created = await createPolicy(rest(), admin, policyBody(uniqueName('Repriced'), { plan: 'FIXEDRATE', price: '10' }));
      const oldPrice = (await activePrices()).find((p) => p.metadata.meterline_policy_uuid === created.policyId)!;
      const response = await rest().call('PUT', `${POLICIES}/${created.policyId}`, {
        token: admin,
        body: { ...policyBody(created.policyName, { plan: 'FIXEDRATE', price: '12.00' }), policyId: created.policyId },
      });
      expect(response.status).toBe(200);
      expect(response.body.monetization.properties.fixedPrice).toBe('12.00');
      const current = (await activePrices()).filter((p) => p.metadata.meterline_policy_uuid === created.policyId);
      expect(current.map((p) => p.unit_amount)).toEqual([1200]);
      expect((await rest().platform.prices.retrieve(oldPrice.id)).active).toBe(false);
    });

    it('COMMERCIAL → FREE withdraws the plan', async () => {
      const created = await createPolicy(rest(), admin, policyBody(uniqueName('Downgrade'), { plan: 'FIXEDRATE', price: '10' }));
      const response = await rest().call('PUT', `${POLICIES}/${created.policyId}`, { token: admin, body: policyBody(created.policyName) });
      expect(response.status).toBe(200);
      expect(response.body.billingPlan).toBe('FREE');
      expect(response.body).not.toHaveProperty('monetization');
      expect((await activePrices()).filter((p) => p.metadata.meterline_policy_uuid === created.policyId)).toEqual([]);
    });

    it('400 when renaming, or when the body names another policy id; 404 for an unknown id', async () => {
      const created = await createPolicy(rest(), admin, policyBody(uniqueName('Named')));
      const renamed = await rest().call('PUT', `${POLICIES}/${created.policyId}`, { token: admin, body: policyBody(uniqueName('Other')) });
      expect(renamed.status).toBe(400);
      expect(renamed.body.error[0].code).toBe('policyName');
      const mismatch = await rest().call('PUT', `${POLICIES}/${created.policyId}`, { token: admin, body: { ...policyBody(created.policyName), policyId: 'another' } });
      expect(mismatch.status).toBe(400);
      expect(mismatch.body.error[0].code).toBe('policyId');
      const unknown = await rest().call('PUT', `${POLICIES}/00000000-0000-0000-0000-000000000000`, { token: admin, body: policyBody(created.policyName) });
      expect(unknown.status).toBe(404);
    });

    it('when the billing engine fails, the previous policy is restored', async () => {
      const created = await createPolicy(rest(), admin, policyBody(uniqueName('Restored'), { plan: 'FIXEDRATE', price: '10' }));
      const fault = stripeServer().faults.add({ kind: 'error', match: { method: 'POST', path: '/v1/prices', account: rest().platformAccount }, times: 1 });
      try {
        const failed = await rest().call('PUT', `${POLICIES}/${created.policyId}`, { token: admin, body: policyBody(created.policyName, { plan: 'FIXEDRATE', price: '99' }) });
        expect(failed.status).toBe(503);
      } finally {
        stripeServer().faults.remove(fault);
      }
      const after = await rest().call('GET', `${POLICIES}/${created.policyId}`, { token: admin });
      expect(after.body.monetization.properties.fixedPrice).toBe('10');
    });
  });

  describe('delete', () => {
    it('archives the billing plan and removes the policy', async () => {
      const created = await createPolicy(rest(), admin, policyBody(uniqueName('Gone'), { plan: 'FIXEDRATE', price: '1' }));
      const price = (await activePrices()).find((p) => p.metadata.meterline_policy_uuid === created.policyId)!;
      const response = await rest().call('DELETE', `${POLICIES}/${created.policyId}`, { token: admin });
      expect(response.status).toBe(200);
      expect(response.text).toBe('');
      expect((await rest().call('GET', `${POLICIES}/${created.policyId}`, { token: admin })).status).toBe(404);
      expect((await rest().platform.prices.retrieve(price.id)).active).toBe(false);
    });

    it('409 while an API offers the policy; 404 for an unknown id', async () => {
      const created = await createPolicy(rest(), admin, policyBody(uniqueName('Used')));
      await createApi(rest(), roleTokens(rest()).publisher, [created.policyName], { publish: false });
      const response = await rest().call('DELETE', `${POLICIES}/${created.policyId}`, { token: admin });
      expect(response.status).toBe(409);
      expectStatus(await rest().call('GET', `${POLICIES}/${created.policyId}`, { token: admin }), 200, 'still there');
      expect((await rest().call('DELETE', `${POLICIES}/00000000-0000-0000-0000-000000000000`, { token: admin })).status).toBe(404);
    });
  });
});
