import { randomUUID } from 'node:crypto';
import { createPolicy, roleTokens } from '../../helpers/rest-fixtures';
import { ADMIN, policyBody, forEachRestHarness, uniqueName } from '../../helpers/rest-harness';

/**
 * Pricing models through WSO2's policy API (docs/pricing.md): the monetization properties setupFee,
 * usageModel, tiers, packageSize and packagePrice are validated (400 naming
 * `monetization.properties.<key>`), kept in ML_POLICY_PRICING and answered back as they were sent.
 */
const POLICIES = `${ADMIN}/throttling/policies/subscription`;
const TIERS = '[{"upTo":1000,"unitPrice":"0.002","flatPrice":"0"},{"upTo":10000,"unitPrice":"0.001","flatPrice":"5.00"},{"upTo":null,"unitPrice":"0.0005","flatPrice":"0"}]';

type Properties = Record<string, string>;

function body(name: string, plan: 'FIXEDRATE' | 'DYNAMICRATE', properties: Properties) {
  const base = policyBody(name, { plan, price: plan === 'FIXEDRATE' ? '10.00' : '0.002', currency: properties.currencyType ?? 'USD' });
  const current = base.monetization!.properties as Properties;
  // An empty value in `properties` leaves that key out of the request.
  base.monetization!.properties = Object.fromEntries(
    Object.entries({ ...current, ...properties }).filter(([, value]) => value !== ''),
  ) as NonNullable<typeof base.monetization>['properties'];
  return base;
}

forEachRestHarness((rest) => {
  let admin: string;
  beforeAll(async () => {
    admin = roleTokens(rest()).admin;
  });
  const get = async (id: string) => (await rest().call('GET', `${POLICIES}/${id}`, { token: admin })).body.monetization;
  const pricingRows = async (id: string) => (await rest().service.db('ML_POLICY_PRICING').where({ POLICY_UUID: id }).select('POLICY_UUID')).length;

  it.each<[string, 'FIXEDRATE' | 'DYNAMICRATE', Properties, Properties]>([
    [
      'graduated tiers with a setup fee and a base fee (pricePerRequest: the first tier price)',
      'DYNAMICRATE',
      { pricePerRequest: '', fixedPrice: '10.00', setupFee: '25.00', usageModel: 'graduated', tiers: TIERS },
      { fixedPrice: '10.00', pricePerRequest: '0.002', currencyType: 'USD', billingCycle: 'month', setupFee: '25.00', usageModel: 'graduated', tiers: TIERS },
    ],
    [
      'volume tiers in KWD',
      'DYNAMICRATE',
      { currencyType: 'KWD', pricePerRequest: '0.0050', usageModel: 'volume', tiers: '[{"upTo":100,"unitPrice":"0.0050","flatPrice":"0"},{"upTo":null,"unitPrice":"0.002","flatPrice":"1.250"}]' },
      { pricePerRequest: '0.0050', currencyType: 'KWD', billingCycle: 'month', usageModel: 'volume', tiers: '[{"upTo":100,"unitPrice":"0.0050","flatPrice":"0"},{"upTo":null,"unitPrice":"0.002","flatPrice":"1.250"}]' },
    ],
    [
      'packages of 1,000 calls (pricePerRequest: the price per call)',
      'DYNAMICRATE',
      { pricePerRequest: '', usageModel: 'package', packageSize: '1000', packagePrice: '5.00' },
      { pricePerRequest: '0.005', currencyType: 'USD', billingCycle: 'month', usageModel: 'package', packageSize: '1000', packagePrice: '5.00' },
    ],
    [
      'a FIXEDRATE plan with a setup fee in JPY',
      'FIXEDRATE',
      { currencyType: 'JPY', fixedPrice: '1000', setupFee: '500' },
      { fixedPrice: '1000', currencyType: 'JPY', billingCycle: 'month', setupFee: '500' },
    ],
  ])('%s: created, answered and read back exactly', async (_label, plan, properties, expected) => {
    const created = await rest().call('POST', POLICIES, { token: admin, body: body(uniqueName('Model'), plan, properties) });
    expect(created.status).toBe(201);
    expect(created.body.monetization).toEqual({ monetizationPlan: plan, properties: expected });
    expect(await get(created.body.policyId)).toEqual({ monetizationPlan: plan, properties: expected });
    const listed = await rest().call('GET', POLICIES, { token: admin });
    const inList = listed.body.list.find((p: { policyId: string }) => p.policyId === created.body.policyId);
    expect(inList.monetization.properties).toEqual(expected);
  });

  it('tiers sent loosely (spaces, "inf", a left-out flatPrice) are answered in their compact form', async () => {
    const loose = '[ {"upTo": 10, "unitPrice": "0.01"}, {"upTo": "inf", "unitPrice": "0.005", "flatPrice": "1"} ]';
    const created = await createPolicy(rest(), admin, body(uniqueName('Loose'), 'DYNAMICRATE', { pricePerRequest: '', usageModel: 'graduated', tiers: loose }));
    expect((await get(created.policyId)).properties.tiers).toBe('[{"upTo":10,"unitPrice":"0.01","flatPrice":"0"},{"upTo":null,"unitPrice":"0.005","flatPrice":"1"}]');
  });

  it('an update replaces the pricing model, back to per-request removes it, and delete takes its row', async () => {
    const name = uniqueName('Change');
    const created = await createPolicy(rest(), admin, body(name, 'DYNAMICRATE', { pricePerRequest: '', usageModel: 'graduated', tiers: TIERS, setupFee: '1' }));
    const toPackage = await rest().call('PUT', `${POLICIES}/${created.policyId}`, {
      token: admin,
      body: body(name, 'DYNAMICRATE', { pricePerRequest: '', usageModel: 'package', packageSize: '3', packagePrice: '1.00' }),
    });
    expect(toPackage.status).toBe(200);
    // 1.00 / 3 rounded half up to what WSO2's 15-character column holds.
    expect((await get(created.policyId)).properties).toEqual({
      pricePerRequest: '0.3333333333333', currencyType: 'USD', billingCycle: 'month', usageModel: 'package', packageSize: '3', packagePrice: '1.00',
    });
    const toPerRequest = await rest().call('PUT', `${POLICIES}/${created.policyId}`, { token: admin, body: body(name, 'DYNAMICRATE', {}) });
    expect(toPerRequest.status).toBe(200);
    expect((await get(created.policyId)).properties).toEqual({ pricePerRequest: '0.002', currencyType: 'USD', billingCycle: 'month' });
    expect(await pricingRows(created.policyId)).toBe(0);

    await rest().call('PUT', `${POLICIES}/${created.policyId}`, { token: admin, body: body(name, 'DYNAMICRATE', { setupFee: '2.50' }) });
    expect(await pricingRows(created.policyId)).toBe(1);
    expect((await rest().call('DELETE', `${POLICIES}/${created.policyId}`, { token: admin })).status).toBe(200);
    expect(await pricingRows(created.policyId)).toBe(0);
  });

  it("a policy row without Meterline's pricing row (an attached WSO2 database) reads as WSO2's pricing", async () => {
    const uuid = randomUUID();
    await rest().service.db('AM_POLICY_SUBSCRIPTION').insert({
      NAME: uniqueName('Wso2'), TENANT_ID: -1234, QUOTA_TYPE: 'requestCount', QUOTA: 10, UNIT_TIME: 1, TIME_UNIT: 'min',
      BILLING_PLAN: 'COMMERCIAL', UUID: uuid, MONETIZATION_PLAN: 'DYNAMICRATE', PRICE_PER_REQUEST: '0.01', FIXED_RATE: '3', BILLING_CYCLE: 'month', CURRENCY: 'USD',
    });
    expect(await get(uuid)).toEqual({ monetizationPlan: 'DYNAMICRATE', properties: { fixedPrice: '3', pricePerRequest: '0.01', currencyType: 'USD', billingCycle: 'month' } });
  });

  it.each<[string, 'FIXEDRATE' | 'DYNAMICRATE', Properties, string, RegExp]>([
    ['an unknown usage model', 'DYNAMICRATE', { usageModel: 'stairs' }, 'usageModel', /one of per_unit, graduated, volume, package/],
    ['tiers without a usage model', 'DYNAMICRATE', { tiers: TIERS }, 'tiers', /needs usageModel/],
    ['a tiered model without tiers', 'DYNAMICRATE', { usageModel: 'volume' }, 'tiers', /is required/],
    ['tiers that are not JSON', 'DYNAMICRATE', { usageModel: 'graduated', tiers: '[{upTo:1}]' }, 'tiers', /not valid JSON/],
    ['tiers not ascending', 'DYNAMICRATE', { usageModel: 'graduated', tiers: '[{"upTo":100,"unitPrice":"1"},{"upTo":100,"unitPrice":"1"},{"upTo":null,"unitPrice":"1"}]' }, 'tiers', /tier 2: upTo must be greater/],
    ['a last tier with a bound', 'DYNAMICRATE', { usageModel: 'graduated', tiers: '[{"upTo":100,"unitPrice":"1"}]' }, 'tiers', /last tier must be unbounded/],
    ['an unbounded tier before the last', 'DYNAMICRATE', { usageModel: 'volume', tiers: '[{"upTo":null,"unitPrice":"1"},{"upTo":null,"unitPrice":"1"}]' }, 'tiers', /only the last tier/],
    ['a price as a JSON number', 'DYNAMICRATE', { usageModel: 'graduated', tiers: '[{"upTo":null,"unitPrice":0.002}]' }, 'tiers', /decimal string/],
    ['a flat fee finer than the currency', 'DYNAMICRATE', { usageModel: 'graduated', tiers: '[{"upTo":null,"flatPrice":"1.005"}]' }, 'tiers', /tier 1: .*more decimal places than USD/],
    ['an unknown tier field', 'DYNAMICRATE', { usageModel: 'graduated', tiers: '[{"upTo":null,"unitPrice":"1","price":"2"}]' }, 'tiers', /"price" is not a tier field/],
    ['a pricePerRequest other than the first tier price', 'DYNAMICRATE', { pricePerRequest: '0.003', usageModel: 'graduated', tiers: TIERS }, 'pricePerRequest', /must be 0.002/],
    ['a package of 0 calls', 'DYNAMICRATE', { usageModel: 'package', packageSize: '0', packagePrice: '1' }, 'packageSize', /whole number/],
    ['a package price finer than the currency', 'DYNAMICRATE', { usageModel: 'package', packageSize: '10', packagePrice: '0.001' }, 'packagePrice', /more decimal places/],
    ['tiers on a package model', 'DYNAMICRATE', { usageModel: 'package', packageSize: '10', packagePrice: '1', tiers: TIERS }, 'tiers', /does not apply to usageModel package/],
    ['a usage model on a FIXEDRATE plan', 'FIXEDRATE', { usageModel: 'graduated' }, 'usageModel', /does not apply to a FIXEDRATE plan/],
    ['a setup fee finer than the currency (JPY)', 'FIXEDRATE', { currencyType: 'JPY', fixedPrice: '100', setupFee: '1.5' }, 'setupFee', /more decimal places than JPY/],
    ["a setup fee the engine cannot charge (a third KWD decimal)", 'FIXEDRATE', { currencyType: 'KWD', setupFee: '1.005' }, 'setupFee', /third must be 0/],
    ["a tier flat fee the engine cannot charge", 'DYNAMICRATE', { currencyType: 'KWD', pricePerRequest: '', usageModel: 'volume', tiers: '[{"upTo":null,"unitPrice":"0.001","flatPrice":"1.005"}]' }, 'tiers', /tier 1: flatPrice: .*third must be 0/],
  ])('400 naming the property for %s', async (_label, plan, properties, key, message) => {
    const name = uniqueName('Bad');
    const response = await rest().call('POST', POLICIES, { token: admin, body: body(name, plan, properties) });
    expect(response.status).toBe(400);
    expect(response.body.error[0]).toEqual({ code: `monetization.properties.${key}`, message: expect.stringMatching(message) });
  });
});
