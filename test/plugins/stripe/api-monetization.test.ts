import { migrateLatest } from '../../helpers/migrations';
import { forEachTestDatabase } from '../../helpers/databases';
import { buildEngine, connectedAccount, fixedMonthly, GatewaySeed, perRequest, sdkFor, tenantWithKey, uniquePlatformKey, useStripeServer } from './harness';

const stripeServer = useStripeServer();

forEachTestDatabase((_kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  /** A platform account with a connected publisher account, a FREE, a fixed and a dynamic tier. */
  async function setup() {
    const key = uniquePlatformKey();
    const db = database().knex;
    const engine = buildEngine(stripeServer(), db, [tenantWithKey(key)]);
    const seed = new GatewaySeed(db);
    const stripe = sdkFor(stripeServer(), key);
    const account = await connectedAccount(stripe);
    const free = await seed.policy('Bronze', null);
    const gold = await seed.policy('Gold', fixedMonthly('10'));
    const perCall = await seed.policy('PerCall', perRequest('0.0005'));
    const api = await seed.api({ name: 'Weather', version: '2.0', provider: `alice-${account.slice(-6)}` });
    const request = { api, policies: [free, gold, perCall], properties: { ConnectedAccountKey: account } };
    return { db, engine, seed, stripe, account, free, gold, perCall, api, request };
  }

  describe('enabling monetization', () => {
    it('creates one product for the API and one price per COMMERCIAL tier in the connected account', async () => {
      const { engine, stripe, account, gold, perCall, request, db, api } = await setup();
      const change = await engine.enableMonetization(request);

      expect(change.enabled).toBe(true);
      expect(change.changed).toBe(true);
      expect(Object.keys(change.plans).sort()).toEqual([gold.name, perCall.name].sort());
      const products = await stripe.products.list({ limit: 10 }, { stripeAccount: account });
      expect(products.data.map((p) => p.name)).toEqual([`Weather-2.0-${api.provider}`]);
      const fixed = await stripe.prices.retrieve(change.plans[gold.name]!, {}, { stripeAccount: account });
      expect(fixed).toMatchObject({ unit_amount: 1000, product: products.data[0]!.id, recurring: { usage_type: 'licensed' } });
      const metered = await stripe.prices.retrieve(change.plans[perCall.name]!, {}, { stripeAccount: account });
      expect(String(metered.unit_amount_decimal)).toBe('0.05');
      const meter = await stripe.billing.meters.retrieve(metered.recurring!.meter!, {}, { stripeAccount: account });
      expect(meter.event_name).toBe(`meterline_api_${api.uuid.replace(/-/g, '')}`);
      const rows = await db('AM_MONETIZATION').where({ API_ID: api.id }).orderBy('TIER_NAME');
      expect(rows).toHaveLength(2);
    });

    it('nothing is created in the platform account', async () => {
      const { engine, stripe, request } = await setup();
      await engine.enableMonetization(request);
      expect((await stripe.products.list({ limit: 10 })).data).toEqual([]);
    });

    it('enabling again is a no-op that succeeds and creates nothing', async () => {
      const { engine, stripe, account, request } = await setup();
      const first = await engine.enableMonetization(request);
      stripeServer().requests.reset();
      const second = await engine.enableMonetization(request);
      expect(second).toEqual({ ...first, changed: false });
      const writes = stripeServer().requests.list().filter((r) => r.method === 'POST' && r.account === account);
      expect(writes).toEqual([]);
      expect((await stripe.products.list({ limit: 10 }, { stripeAccount: account })).data).toHaveLength(1);
    });

    it.each([
      [{}, /ConnectedAccountKey is required/],
      [{ ConnectedAccountKey: '  ' }, /ConnectedAccountKey is required/],
      [{ ConnectedAccountKey: 'cus_123' }, /must be a Stripe connected account id \(acct_\.\.\.\), got "cus_123"/],
      [{ ConnectedAccountKey: 'acct_doesnotexist' }, /acct_doesnotexist is not a connected account of this tenant's Stripe platform/],
    ])('rejects properties %j with a clear message', async (properties, message) => {
      const { engine, request } = await setup();
      await expect(engine.enableMonetization({ ...request, properties })).rejects.toMatchObject({
        code: 'INVALID_MONETIZATION_PROPERTIES',
        message: expect.stringMatching(message),
      });
    });

    it('an account of another platform is refused', async () => {
      const { engine, request } = await setup();
      const otherPlatform = sdkFor(stripeServer(), uniquePlatformKey());
      const foreign = await connectedAccount(otherPlatform);
      await expect(engine.enableMonetization({ ...request, properties: { ConnectedAccountKey: foreign } })).rejects.toMatchObject({
        code: 'INVALID_MONETIZATION_PROPERTIES',
      });
    });

    it('switching to another connected account while enabled is a conflict', async () => {
      const { engine, stripe, seed, api, request } = await setup();
      await engine.enableMonetization(request);
      await seed.recordMonetization(api, true, request.properties);
      const other = await connectedAccount(stripe);
      await expect(engine.enableMonetization({ ...request, properties: { ConnectedAccountKey: other } })).rejects.toMatchObject({
        code: 'CONFLICT',
        message: expect.stringContaining('disable monetization before switching'),
      });
    });

    it('an API with only FREE tiers is enabled with a note and nothing is created', async () => {
      const { engine, stripe, account, request, free } = await setup();
      const change = await engine.enableMonetization({ ...request, policies: [free] });
      expect(change).toMatchObject({ enabled: true, plans: {}, changed: false });
      expect(change.notes).toEqual([expect.stringContaining('no COMMERCIAL tier')]);
      expect((await stripe.products.list({ limit: 10 }, { stripeAccount: account })).data).toEqual([]);
    });

    it('a tier dropped from the API is archived on the next enable', async () => {
      const { engine, stripe, account, request, gold, perCall } = await setup();
      const first = await engine.enableMonetization(request);
      const second = await engine.enableMonetization({ ...request, policies: [gold] });
      expect(Object.keys(second.plans)).toEqual([gold.name]);
      expect((await stripe.prices.retrieve(first.plans[perCall.name]!, {}, { stripeAccount: account })).active).toBe(false);
    });
  });

  describe('disabling monetization', () => {
    it('archives the prices and the product and forgets the plans', async () => {
      const { engine, stripe, account, request, seed, api, db } = await setup();
      const enabled = await engine.enableMonetization(request);
      await seed.recordMonetization(api, true, request.properties);
      const change = await engine.disableMonetization(request);

      expect(change).toMatchObject({ enabled: false, changed: true, notes: [] });
      for (const priceId of Object.values(enabled.plans)) {
        expect((await stripe.prices.retrieve(priceId, {}, { stripeAccount: account })).active).toBe(false);
      }
      const products = await stripe.products.list({ limit: 10 }, { stripeAccount: account });
      expect(products.data.every((p) => !p.active)).toBe(true);
      expect(await db('AM_MONETIZATION').where({ API_ID: api.id })).toEqual([]);
      expect(await engine.getMonetizedPoliciesToPlanMapping(api)).toEqual({});
    });

    it('says that live subscriptions keep running', async () => {
      const { engine, request, seed, api, gold } = await setup();
      await engine.enableMonetization(request);
      await seed.recordMonetization(api, true, request.properties);
      const subscriber = await seed.subscriber();
      const app = await seed.application(subscriber);
      await engine.createSubscription(await seed.subscription(api, app, subscriber, gold));

      const change = await engine.disableMonetization(request);
      expect(change.notes).toEqual(['1 live subscription(s) keep running and are billed until they are cancelled; new subscriptions are free']);
    });

    it('re-enabling after disabling brings the same product and prices back', async () => {
      const { engine, stripe, account, request, seed, api } = await setup();
      const first = await engine.enableMonetization(request);
      await seed.recordMonetization(api, true, request.properties);
      await engine.disableMonetization(request);
      await seed.recordMonetization(api, false, request.properties);

      const again = await engine.enableMonetization(request);
      expect(again.plans).toEqual(first.plans);
      for (const priceId of Object.values(again.plans)) {
        expect((await stripe.prices.retrieve(priceId, {}, { stripeAccount: account })).active).toBe(true);
      }
      const products = await stripe.products.list({ limit: 10 }, { stripeAccount: account });
      expect(products.data.map((p) => p.active)).toEqual([true]);
    });
  });
});
