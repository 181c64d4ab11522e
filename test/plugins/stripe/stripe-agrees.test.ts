import type Stripe from 'stripe';
import { migrateLatest } from '../../helpers/migrations';
import type { PolicyPricing, SubscriptionRef, UsageRate } from '../../../src/domain/model';
import { rate, type RatedLine, type RatedLineKind } from '../../../src/rating/rate';
import { describeLine, withTierPlaces, type TierPlace } from '../../../plugins/stripe/invoices.service';
import { forEachTestDatabase } from '../../helpers/databases';
import { DEFAULT_AGGREGATION_DELAY_SECONDS, DEFAULT_FINALIZATION_GRACE_SECONDS } from '../../../dev/stripe-server';
import { buildEngine, connectedAccount, GatewaySeed, sdkFor, tenantWithKey, uniquePlatformKey, useStripeServer } from './harness';

/**
 * Both engines rate the same usage to the same amount: a subscription on each pricing model is
 * made through the Stripe engine (its prices: tiers on the API's meter, transform_quantity for
 * packages, the setup fee as an invoice item of the first invoice), its calls reported, and the
 * invoices the local Stripe server finalizes are compared, line by line, with Meterline's own
 * `rate()` (src/rating/rate.ts), which the MyFatoorah engine's invoices use: per tier for
 * graduated prices (Stripe bills a line per tier touched and a tier's flat fee as a line of its
 * own; rating one line per tier, its flat fee included), the one line of volume, package and per
 * unit prices, in calls, minor units and the words the Stripe engine writes for people.
 * Three-decimal KWD amounts are in fils (https://docs.stripe.com/currencies#three-decimal).
 */
const stripeServer = useStripeServer();

const CALLS = 2982n;

const usd = (usage: Partial<Extract<PolicyPricing, { plan: 'DYNAMICRATE' }>>): PolicyPricing => ({
  plan: 'DYNAMICRATE',
  currency: 'usd',
  billingCycle: 'month',
  pricePerRequest: '0.002',
  fixedPrice: '10.00',
  setupFee: '49.00',
  ...usage,
});
const kwd = (usage: Partial<Extract<PolicyPricing, { plan: 'DYNAMICRATE' }>>): PolicyPricing => ({
  plan: 'DYNAMICRATE',
  currency: 'kwd',
  billingCycle: 'month',
  pricePerRequest: '0.0015',
  fixedPrice: '2.500',
  setupFee: '10.000',
  ...usage,
});

const CASES: ReadonlyArray<{ name: string; pricing: PolicyPricing; usage: bigint }> = [
  { name: 'USD per unit', pricing: usd({}), usage: 596n }, // 2,982 × 0.2 ¢ = 596.4
  {
    name: 'USD graduated',
    pricing: usd({
      pricePerRequest: '0.0015',
      usageRate: {
        model: 'graduated',
        tiers: [
          { upTo: 1005, unitPrice: '0.0015', flatPrice: '0' }, // 150.75 → 151
          { upTo: 10000, unitPrice: '0.001', flatPrice: '5.00' }, // 197.7 + 500 → 698
          { upTo: null, unitPrice: '0.0005', flatPrice: '0' },
        ],
      },
    }),
    usage: 849n,
  },
  {
    name: 'USD volume',
    pricing: usd({
      pricePerRequest: '0.0015',
      usageRate: {
        model: 'volume',
        tiers: [
          { upTo: 1005, unitPrice: '0.0015', flatPrice: '0' },
          { upTo: null, unitPrice: '0.001', flatPrice: '5.00' }, // 298.2 + 500 → 798
        ],
      },
    }),
    usage: 798n,
  },
  { name: 'USD package', pricing: usd({ usageRate: { model: 'package', packageSize: 1000, packagePrice: '2.50' } }), usage: 750n },
  { name: 'KWD per unit', pricing: kwd({}), usage: 4473n }, // 2,982 × 1.5 fils
  {
    name: 'KWD graduated',
    pricing: kwd({
      pricePerRequest: '0',
      usageRate: {
        model: 'graduated',
        tiers: [
          { upTo: 1000, unitPrice: '0', flatPrice: '0' },
          { upTo: null, unitPrice: '0.0015', flatPrice: '1.000' }, // 1,982 × 1.5 + 1,000
        ],
      },
    }),
    usage: 3973n,
  },
  {
    name: 'KWD volume',
    pricing: kwd({
      pricePerRequest: '0.002',
      usageRate: {
        model: 'volume',
        tiers: [
          { upTo: 1000, unitPrice: '0.002', flatPrice: '0' },
          { upTo: null, unitPrice: '0.0015', flatPrice: '0.500' }, // 2,982 × 1.5 + 500
        ],
      },
    }),
    usage: 4973n,
  },
  { name: 'KWD package', pricing: kwd({ usageRate: { model: 'package', packageSize: 500, packagePrice: '0.250' } }), usage: 1500n }, // 6 packages
  // A fixed-rate plan has no usage; its setup fee is charged once all the same.
  { name: 'KWD fixed rate', pricing: { plan: 'FIXEDRATE', currency: 'kwd', billingCycle: 'month', fixedPrice: '3.250', setupFee: '5.000' }, usage: 0n },
];

type Kind = RatedLineKind;

/** For the plan changes: a DYNAMICRATE plan with a usage rate, and two-tier rates. */
const dynamic = (usageRate: UsageRate, setupFee?: string): PolicyPricing => ({
  plan: 'DYNAMICRATE',
  currency: 'usd',
  billingCycle: 'month',
  pricePerRequest: '0.002',
  ...(setupFee === undefined ? {} : { setupFee }),
  usageRate,
});
const tiered = (model: 'graduated' | 'volume', secondTierUnit: string): UsageRate => ({
  model,
  tiers: [
    { upTo: 1000, unitPrice: '0', flatPrice: '0' },
    { upTo: null, unitPrice: secondTierUnit, flatPrice: '5.00' },
  ],
});

forEachTestDatabase((_kind, database) => {
  const subscribed = new Map<string, { subscription: SubscriptionRef; stripeId: string; planId: string }>();
  let stripe: Stripe;
  let account: string;

  // One platform, one API selling every case's tier, one subscriber application per case; the
  // usage of all of them is reported, then one clock roll bills every first period.
  beforeAll(async () => {
    const db = database().knex;
    await migrateLatest(db);
    const key = uniquePlatformKey();
    const engine = buildEngine(stripeServer(), db, [tenantWithKey(key)]);
    const seed = new GatewaySeed(db);
    stripe = sdkFor(stripeServer(), key);
    account = await connectedAccount(stripe);
    const policies = [];
    for (const c of CASES) policies.push(await seed.policy(c.name.replace(/ /g, '-'), c.pricing));
    const api = await seed.api({ name: 'Hello', provider: `agree-${account.slice(-6)}` });
    const properties = { ConnectedAccountKey: account };
    const { plans } = await engine.enableMonetization({ api, policies, properties });
    await seed.recordMonetization(api, true, properties);
    const now = () => new Date(stripeServer().clock.now() * 1000);
    for (const [i, c] of CASES.entries()) {
      const policy = policies[i]!;
      const subscriber = await seed.subscriber();
      const app = await seed.application(subscriber);
      const subscription = await seed.subscription(api, app, subscriber, policy);
      const outcome = await engine.createSubscription(subscription);
      if (c.pricing.plan === 'DYNAMICRATE') await engine.reportUsage({ subscription, quantity: Number(CALLS), windowStart: now(), windowEnd: now(), identifier: `agree-${subscription.uuid}` });
      subscribed.set(c.name, { subscription, stripeId: outcome.engineSubscriptionId!, planId: plans[policy.name]! });
    }
    stripeServer().clock.advance(DEFAULT_AGGREGATION_DELAY_SECONDS);
    const first = await stripe.subscriptions.retrieve(subscribed.get(CASES[0]!.name)!.stripeId, {}, { stripeAccount: account });
    stripeServer().clock.advanceTo((first.items.data[0]!.current_period_end as number) + DEFAULT_FINALIZATION_GRACE_SECONDS);
  });

  /** The finalized invoices of a case's subscription: its first (setup and base fees) and the cycle's (usage and the next base fee). */
  async function invoices(name: string) {
    const { stripeId, planId } = subscribed.get(name)!;
    const planKind: Kind = CASES.find((c) => c.name === name)!.pricing.plan === 'FIXEDRATE' ? 'BASE_FEE' : 'USAGE';
    const list = (await stripe.invoices.list({ subscription: stripeId, limit: 10 }, { stripeAccount: account })).data;
    const first = list.find((i) => i.billing_reason === 'subscription_create')!;
    const cycle = list.find((i) => i.billing_reason === 'subscription_cycle')!;
    const kindOf = (line: Stripe.InvoiceLineItem): Kind =>
      line.parent?.type === 'invoice_item_details' ? 'SETUP_FEE' : line.pricing?.price_details?.price === planId ? planKind : 'BASE_FEE';
    const plan = await stripe.prices.retrieve(planId, { expand: ['tiers'] }, { stripeAccount: account });
    /**
     * An invoice's lines as comparable rows, in rating's order (setup fee, base fee, usage): a
     * graduated price's lines of one tier (its calls, its flat fee) are one row, as rating bills a tier.
     */
    const rows = (invoice: Stripe.Invoice) => {
      const placed = withTierPlaces(invoice.lines.data, new Map([[planId, plan]]));
      const out: Array<Row & { words: string[] }> = [];
      const byTier = new Map<string, Row & { words: string[] }>();
      for (const { line, tier } of placed) {
        const kind = kindOf(line);
        const words = kind === 'USAGE' ? [describeLine(line, plan, 'Hello', invoice.currency, tier)] : [];
        const key = tier && plan.tiers_mode === 'graduated' ? `${tier.first}` : undefined;
        const row = key === undefined ? undefined : byTier.get(key);
        if (row) {
          row.quantity += BigInt(line.quantity ?? 0);
          row.amount += BigInt(line.amount);
          row.words.push(...words);
          continue;
        }
        const fresh = { kind, quantity: kind === 'USAGE' ? BigInt(line.quantity ?? 0) : 1n, amount: BigInt(line.amount), words };
        if (key !== undefined) byTier.set(key, fresh);
        out.push(fresh);
      }
      return out.sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
    };
    return { first, cycle, rows, kindOf, plan };
  }

  const ORDER: readonly Kind[] = ['SETUP_FEE', 'BASE_FEE', 'USAGE'];
  type Row = { kind: Kind; quantity: bigint; amount: bigint };
  const ratedRows = (lines: readonly RatedLine[]): Row[] => lines.map(({ kind, quantity, amount }) => ({ kind, quantity, amount }));
  const plain = (rows: ReadonlyArray<Row & { words?: string[] }>): Row[] => rows.map(({ kind, quantity, amount }) => ({ kind, quantity, amount }));

  it.each(CASES)('$name: the first invoice charges the setup fee and the first base fee, as rate() does', async ({ name, pricing }) => {
    const { first, rows } = await invoices(name);
    expect(first.status).not.toBe('draft');
    const period = { start: new Date(first.period_start * 1000), end: new Date(first.period_end * 1000) };
    const ours = rate({ pricing, apiName: 'Hello', calls: 0n, period, include: { setupFee: true, baseFee: true, usage: false } });
    expect(first.currency).toBe(ours.currency);
    expect(BigInt(first.total)).toBe(ours.total);
    expect(plain(rows(first))).toEqual(ratedRows(ours.lines));
  });

  const METERED = CASES.filter((c) => c.pricing.plan === 'DYNAMICRATE');

  it.each(METERED)('$name: the cycle invoice bills 2,982 calls and the next base fee line by line (per tier) to the minor unit rate() gives', async ({ name, pricing, usage }) => {
    const { cycle, rows, kindOf } = await invoices(name);
    expect(cycle.status).toBe('open');
    const usageLine = cycle.lines.data.find((l) => kindOf(l) === 'USAGE')!;
    const period = { start: new Date(usageLine.period.start * 1000), end: new Date(usageLine.period.end * 1000) };
    const ours = rate({ pricing, apiName: 'Hello', calls: CALLS, period, include: { setupFee: false, baseFee: true, usage: true } });
    const oursUsage = ours.lines.filter((l) => l.kind === 'USAGE');
    expect(oursUsage.reduce((sum, l) => sum + l.quantity, 0n)).toBe(CALLS);
    expect(oursUsage.reduce((sum, l) => sum + l.amount, 0n)).toBe(usage); // the worked example, so a wrong rate on both sides cannot agree unnoticed
    const theirs = rows(cycle);
    expect(plain(theirs)).toEqual(ratedRows(ours.lines));
    expect(BigInt(cycle.total)).toBe(ours.total);
    // The words: the engine's line of a tier's calls is rating's line of that tier, whose flat fee
    // (if any) Stripe bills as a line the engine calls "flat fee for <the tier's calls>".
    const theirUsage = theirs.filter((r) => r.kind === 'USAGE');
    oursUsage.forEach((line, i) => {
      const [calls, ...flat] = theirUsage[i]!.words;
      if (flat.length === 0) expect(calls).toBe(line.description);
      else {
        expect(line.description.startsWith(`${calls!} + flat fee `)).toBe(true);
        expect(flat).toEqual([`Hello · flat fee for ${calls!.slice('Hello · '.length).split(' × ')[0]}`]);
      }
    });
  });

  it('a graduated price is a line per tier touched and a line per flat fee, each named by its calls', async () => {
    const { cycle, kindOf } = await invoices('USD graduated');
    const usage = cycle.lines.data.filter((l) => kindOf(l) === 'USAGE');
    expect(usage.map((l) => [l.quantity, l.amount])).toEqual([
      [1005, 151],
      [1977, 198],
      [0, 500],
    ]);
  });

  it("prices with Stripe's own features: tiers on the meter, transform_quantity for packages", async () => {
    const shape = async (name: string) => {
      const price = await stripe.prices.retrieve(subscribed.get(name)!.planId, { expand: ['tiers'] }, { stripeAccount: account });
      return [price.recurring?.usage_type, price.billing_scheme, price.tiers_mode, price.tiers?.length ?? 0, price.transform_quantity];
    };
    expect(await shape('USD per unit')).toEqual(['metered', 'per_unit', null, 0, null]);
    expect(await shape('USD graduated')).toEqual(['metered', 'tiered', 'graduated', 3, null]);
    expect(await shape('KWD volume')).toEqual(['metered', 'tiered', 'volume', 2, null]);
    expect(await shape('KWD package')).toEqual(['metered', 'per_unit', null, 0, { divide_by: 500, round: 'up' }]);
  });

  it('charges the setup fee once: no renewal carries it', async () => {
    for (const c of CASES) {
      const { cycle, kindOf } = await invoices(c.name);
      expect(cycle.lines.data.filter((l) => kindOf(l) === 'SETUP_FEE')).toEqual([]);
    }
    const fixed = await invoices('KWD fixed rate');
    expect(BigInt(fixed.cycle.total)).toBe(3250n);
  });

  /**
   * A Stripe price's amounts, tiers and transform_quantity cannot be updated (the price update call
   * takes `active`, `metadata`, `nickname`, `lookup_key`, `tax_behavior` and a few more, no amounts:
   * https://docs.stripe.com/api/prices/update): a change of tiers or of package is a new price on
   * the platform and on every API copy, the old one archived, and an unchanged plan is never replaced.
   * Each test has its own platform; they share the suite's migrated database.
   */
  describe('a plan change', () => {
    it('a change of tiers replaces the platform price and the API copy; the same tiers again change nothing', async () => {
      const key = uniquePlatformKey();
      const db = database().knex;
      const engine = buildEngine(stripeServer(), db, [tenantWithKey(key)]);
      const seed = new GatewaySeed(db);
      const platform = sdkFor(stripeServer(), key);
      const policy = await seed.policy('Tiered', dynamic(tiered('graduated', '0.0015')));
      const first = await engine.createBillingPlan(policy);
      const account = await connectedAccount(platform);
      const api = await seed.api();
      const properties = { ConnectedAccountKey: account };
      await engine.enableMonetization({ api, policies: [policy], properties });
      await seed.recordMonetization(api, true, properties);
      const copyBefore = (await engine.getMonetizedPoliciesToPlanMapping(api))[policy.name]!;

      // Unchanged (a setup fee is not part of the price): nothing is replaced.
      expect(await engine.updateBillingPlan({ ...policy, pricing: dynamic(tiered('graduated', '0.0015'), '49.00') })).toEqual({
        billable: true,
        planId: first.planId,
        apisUpdated: 0,
      });

      const repriced = { ...policy, pricing: dynamic(tiered('graduated', '0.001')) };
      const change = await engine.updateBillingPlan(repriced);
      expect(change.planId).not.toBe(first.planId);
      expect(change.apisUpdated).toBe(1);
      expect((await platform.prices.retrieve(first.planId!)).active).toBe(false);
      const platformPrice = await platform.prices.retrieve(change.planId!, { expand: ['tiers'] });
      expect(platformPrice.tiers?.map((t) => String(t.unit_amount_decimal))).toEqual(['0', '0.1']);
      const copyAfter = (await engine.getMonetizedPoliciesToPlanMapping(api))[policy.name]!;
      expect(copyAfter).not.toBe(copyBefore);
      expect((await platform.prices.retrieve(copyBefore, {}, { stripeAccount: account })).active).toBe(false);
      expect(await platform.prices.retrieve(copyAfter, { expand: ['tiers'] }, { stripeAccount: account })).toMatchObject({
        active: true,
        billing_scheme: 'tiered',
        tiers_mode: 'graduated',
      });

      // Graduated → volume with the same tiers is a different price too; then a package.
      const volume = await engine.updateBillingPlan({ ...policy, pricing: dynamic(tiered('volume', '0.001')) });
      expect(volume.planId).not.toBe(change.planId);
      expect((await platform.prices.retrieve(volume.planId!)).tiers_mode).toBe('volume');
      const pack = await engine.updateBillingPlan({ ...policy, pricing: dynamic({ model: 'package', packageSize: 1000, packagePrice: '2.50' }) });
      expect(await platform.prices.retrieve(pack.planId!)).toMatchObject({ billing_scheme: 'per_unit', transform_quantity: { divide_by: 1000, round: 'up' } });
      expect(await engine.updateBillingPlan({ ...policy, pricing: dynamic({ model: 'package', packageSize: 1000, packagePrice: '2.50' }) })).toEqual({
        billable: true,
        planId: pack.planId,
        apisUpdated: 0,
      });
    });

    it('a tier flat fee finer than the minor unit is refused as the policy pricing, naming the policy', async () => {
      const key = uniquePlatformKey();
      const engine = buildEngine(stripeServer(), database().knex, [tenantWithKey(key)]);
      const policy = await new GatewaySeed(database().knex).policy('Fine', dynamic({ model: 'volume', tiers: [{ upTo: null, unitPrice: '0.001', flatPrice: '0.005' }] }));
      await expect(engine.createBillingPlan(policy)).rejects.toMatchObject({ code: 'INVALID_POLICY_PRICING', message: expect.stringContaining(policy.name) });
    });
  });
});
