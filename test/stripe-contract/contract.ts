import Stripe from 'stripe';
import type { PolicyPricing, PriceTier } from '../../src/domain/model';
import { MonetizationError } from '../../src/monetization/monetization';
import { accountOption, archivePrice, archiveProduct, findPrice, findProduct, reactivatePrice, reactivateProduct } from '../../plugins/stripe/archive';
import { idempotencyKey } from '../../plugins/stripe/idempotency';
import { balanceMovement } from '../../plugins/stripe/invoices.service';
import { apiMeterEventName, ensureMeter } from '../../plugins/stripe/meters';
import { baseFeeItem, priceMatches, priceParams, setupFeeItem } from '../../plugins/stripe/pricing';
import { sendPastStoredErrors } from '../../plugins/stripe/retry';
import { callStripe, findInStripe, isDuplicateMeterEventIdentifier, isResourceMissing } from '../../plugins/stripe/stripe.errors';
import { METER_ERROR_REPORT, STRIPE_WEBHOOK_EVENTS, StripeWebhookVerifier } from '../../plugins/stripe/webhooks';
import { Cleanup } from './cleanup';
import type { EngineCall } from './engine-calls';
import * as shape from './shapes';
import { shaped } from './shapes';
import type { ContractTarget } from './targets';

/**
 * The contract between the Stripe engine and Stripe: every call the engine makes (engine-calls.ts),
 * made through the engine's own code where it takes a client (ensureMeter, archive/reactivate,
 * findProduct/findPrice, sendPastStoredErrors, callStripe, the webhook verifier's thin-event read)
 * and otherwise with the SDK call and parameters the engine uses (built with the engine's own
 * priceParams, baseFeeItem, idempotencyKey, apiMeterEventName). Each test checks the shape of the
 * answers the engine reads (shapes.ts) and the behaviour it relies on, citing Stripe's document.
 * The same tests run against the local Stripe server and Stripe's test mode (targets.ts).
 */

/** The engine calls the contract tests make, filled in as the suite is defined (engine-calls.test.ts reads it). */
export const CONTRACT_CALLS = new Set<EngineCall>();

type Fixtures = ReturnType<typeof fixtures>;

export interface ContractOptions {
  /** Known differences of this target from Stripe's documented behaviour, by name (e.g. SEND_INVOICE_FIRST_INVOICE_DRAFT). */
  knownMismatches?: readonly string[];
}

/**
 * Differences between the local Stripe server and Stripe's documented behaviour that this suite
 * found, by name. The local half marks its test for each as expected to fail (local.test.ts).
 */
export const SEND_INVOICE_FIRST_INVOICE_DRAFT = 'send_invoice first invoice is a draft for an hour';

export function defineStripeContract(open: () => Promise<ContractTarget>, options: ContractOptions = {}): void {
  let target: ContractTarget;
  let fx: Fixtures;
  const cleanup = new Cleanup();

  /**
   * A contract test: `calls` are the engine calls it makes (each must be made by at least one
   * test). `mismatch`: the name of a known difference between the target and Stripe's documented
   * behaviour; on a target that lists it (`options.knownMismatches`) the test is expected to fail
   * (jest `it.failing`), and fails once the target is fixed, so the mark is removed with the fix.
   */
  const check = (calls: EngineCall[], title: string, body: () => Promise<void>, timeoutOrOptions?: number | { mismatch?: string; timeoutMs?: number }) => {
    for (const call of calls) CONTRACT_CALLS.add(call);
    const { mismatch, timeoutMs } = typeof timeoutOrOptions === 'number' ? { mismatch: undefined, timeoutMs: timeoutOrOptions } : (timeoutOrOptions ?? {});
    if (mismatch !== undefined && options.knownMismatches?.includes(mismatch)) it.failing(`${title} [known mismatch: ${mismatch}]`, body, timeoutMs);
    else it(title, body, timeoutMs);
  };

  beforeAll(async () => {
    target = await open();
    fx = fixtures(target, cleanup);
  }, 60_000);

  afterAll(async () => {
    if (!target) return;
    const failures = await cleanup.runAll();
    const left = failures.length === 0 ? await leftovers(target) : [];
    await target.close();
    // A failed clean-up leaves objects behind in Stripe's test mode: the run says which.
    if (failures.length > 0) throw new Error(`clean-up of run ${target.runId} failed:\n${failures.join('\n')}`);
    if (left.length > 0) throw new Error(`run ${target.runId} left objects active after its clean-up: ${left.join(', ')}`);
  }, 300_000);

  // https://docs.stripe.com/api/accounts/retrieve; with the platform key and no Stripe-Account
  // header, an account that is not connected to the platform is refused
  // (https://docs.stripe.com/connect/authentication). api-plans.service.ts verifyAccount takes
  // resource_missing or an authentication/permission error to mean "not this platform's account".
  check(['accounts.retrieve'], 'the platform reads its connected account; an account it does not have is refused as the engine expects', async () => {
    const { stripe, account } = target;
    const found = shaped(shape.account, await stripe.accounts.retrieve(account), 'accounts.retrieve');
    expect(found.id).toBe(account);
    const stranger = `acct_${target.runId}Nowhere`;
    const error = await callStripe('retrieve the connected account', { account: stranger }, () => stripe.accounts.retrieve(stranger)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MonetizationError);
    expect(isResourceMissing(error) || (error as MonetizationError).code === 'ENGINE_AUTHENTICATION_FAILED').toBe(true);
  });

  // https://docs.stripe.com/api/idempotent_requests: "Stripe saves the status code and body of the
  // first request made for any given idempotency key ... Subsequent requests with the same key
  // return the same result"; "The idempotency layer compares incoming parameters to those of the
  // original request and errors if they're not the same". A replay carries
  // `Idempotent-Replayed: true` (https://docs.stripe.com/error-low-level#idempotency), which
  // archive.ts wasReplayed and retry.ts read.
  check(['products.create'], 'an idempotent create is replayed (Idempotent-Replayed: true); the same key with other parameters is an idempotency error', async () => {
    const { stripe, account, runId } = target;
    const metadata = fx.mark({ meterline_api_uuid: `api-${runId}-idem` });
    const key = idempotencyKey('contract', runId, 'api', 'product');
    const create = (name: string) => stripe.products.create({ name, metadata }, { stripeAccount: account, idempotencyKey: key });
    const first = await sendPastStoredErrors(key, () => create(`meterline-contract-${runId}-idem`));
    fx.archiveLater(first.id, account);
    shaped(shape.product, first, 'products.create');
    expect(first.lastResponse.headers['idempotent-replayed']).not.toBe('true');
    const again = await create(`meterline-contract-${runId}-idem`);
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    const reused = await create(`meterline-contract-${runId}-other`).catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
  });

  // Objects belong to the account they were made in; `Stripe-Account` selects the connected
  // account (https://docs.stripe.com/connect/authentication#stripe-account-header), and another
  // account's id is resource_missing (https://docs.stripe.com/error-codes#resource-missing),
  // which findInStripe turns into "not there".
  check(['products.create', 'products.retrieve'], 'an object in the connected account is reached only with Stripe-Account', async () => {
    const { stripe, account } = target;
    const product = await fx.apiProduct();
    const there = await findInStripe('retrieve the product of an API', { account }, () => stripe.products.retrieve(product.id, {}, accountOption(account)));
    expect(there?.id).toBe(product.id);
    const fromPlatform = await findInStripe('retrieve a product', {}, () => stripe.products.retrieve(product.id));
    expect(fromPlatform).toBeUndefined();
  });

  // A replayed create answers what was saved: the object as first created, not as it is now
  // (https://docs.stripe.com/api/idempotent_requests). archive.ts reactivate* re-read a replayed
  // answer (retrieve) and reactivate it (update active=true: https://docs.stripe.com/api/products/update,
  // https://docs.stripe.com/api/prices/update).
  check(
    ['products.create', 'products.update', 'products.retrieve', 'prices.create', 'prices.retrieve', 'prices.update'],
    'a replayed create answers the object as first created; the engine re-reads and reactivates it',
    async () => {
      const { stripe, account, runId } = target;
      const metadata = fx.mark({ meterline_api_uuid: `api-${runId}-reactivate` });
      const productKey = idempotencyKey('contract', runId, 'reactivate', 'product');
      const createProduct = () => stripe.products.create({ name: `meterline-contract-${runId}-reactivate`, metadata }, { stripeAccount: account, idempotencyKey: productKey });
      const product = await createProduct();
      fx.archiveLater(product.id, account);
      await archiveProduct(stripe, product.id, account);
      const replayedProduct = await createProduct();
      expect(replayedProduct.lastResponse.headers['idempotent-replayed']).toBe('true');
      expect(replayedProduct.active).toBe(true); // the saved answer, although the product is archived now
      const reactivated = await reactivateProduct(stripe, replayedProduct, account);
      expect(reactivated.active).toBe(true);
      expect((await stripe.products.retrieve(product.id, {}, accountOption(account))).active).toBe(true);

      const params: Stripe.PriceCreateParams = { ...priceParams(FIXED, 'Gold'), product: product.id, metadata };
      const priceKey = idempotencyKey('contract', runId, 'reactivate', 'price');
      const createPrice = () => stripe.prices.create(params, { stripeAccount: account, idempotencyKey: priceKey });
      const price = await createPrice();
      fx.archiveLater(price.id, account, 'price');
      await archivePrice(stripe, price.id, account);
      const replayedPrice = await createPrice();
      expect(replayedPrice.lastResponse.headers['idempotent-replayed']).toBe('true');
      const activePrice = await reactivatePrice(stripe, replayedPrice, account);
      shaped(shape.price, activePrice, 'prices.update');
      expect(activePrice.active).toBe(true);
    },
  );

  // https://docs.stripe.com/api/prices/create: a licensed price in whole minor units and a metered
  // price on a meter (`recurring.meter`, https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage)
  // with `unit_amount_decimal` (up to 12 decimal places). pricing.ts priceMatches compares Stripe's
  // answer with what the policy asks for; it must hold for what Stripe answers.
  check(['prices.create', 'prices.retrieve', 'billing.meters.list', 'billing.meters.create'], 'licensed and metered prices come back as the engine compares them', async () => {
    const { stripe, account } = target;
    const meter = await fx.apiMeter();
    const licensed = shaped(shape.price, await fx.licensedPrice(), 'prices.create (licensed)');
    expect(licensed).toMatchObject({ unit_amount: 500, currency: 'usd', recurring: { interval: 'month', usage_type: 'licensed' } });
    const metered = await stripe.prices.retrieve((await fx.meteredPrice()).id, {}, { stripeAccount: account });
    shaped(shape.price, metered, 'prices.retrieve (metered)');
    expect(metered.recurring).toMatchObject({ interval: 'month', usage_type: 'metered', meter: meter.id });
    expect(String(metered.unit_amount_decimal)).toBe('0.05');
    expect(priceMatches(licensed as unknown as Stripe.Price, priceParams(FIXED, 'Gold'), undefined)).toBe(true);
    expect(priceMatches(metered, priceParams(METERED, 'Metered'), meter.id)).toBe(true);
    expect(priceMatches(metered, priceParams({ ...METERED, pricePerRequest: '0.0006' }, 'Metered'), meter.id)).toBe(false);
  });

  // List endpoints page with `has_more`/`starting_after` and the SDK's auto-pagination
  // (https://docs.stripe.com/api/pagination, https://docs.stripe.com/api/pagination/auto), and are
  // read-after-write consistent, unlike search ("use the various list APIs" for read-after-write:
  // https://docs.stripe.com/search#data-freshness). archive.ts findProduct/findPrice find an
  // earlier attempt's object by its metadata right after it was made.
  check(['products.list', 'prices.list', 'prices.create'], 'lists page through every object and find an earlier attempt by its metadata at once', async () => {
    const { stripe, account, runId } = target;
    const product = await fx.apiProduct();
    const found = await findProduct(stripe, { meterline_api_uuid: fx.apiUuid, meterline_contract_run: runId }, account);
    expect(found?.id).toBe(product.id);
    const amounts = [101, 102, 103];
    for (const unit of amounts) {
      const p = await stripe.prices.create(
        { currency: 'usd', unit_amount: unit, recurring: { interval: 'month', usage_type: 'licensed' }, product: product.id, metadata: fx.mark({ meterline_tier: `page-${unit}` }) },
        { stripeAccount: account },
      );
      fx.archiveLater(p.id, account, 'price');
    }
    const firstPage = await stripe.prices.list({ product: product.id, limit: 2 }, accountOption(account));
    expect(firstPage.data).toHaveLength(2);
    expect(firstPage.has_more).toBe(true);
    const all: Stripe.Price[] = [];
    for await (const p of stripe.prices.list({ product: product.id, limit: 2 }, accountOption(account))) all.push(p);
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    expect(all.map((p) => p.unit_amount)).toEqual(expect.arrayContaining(amounts));
    const params: Stripe.PriceCreateParams = { currency: 'usd', unit_amount: 102, recurring: { interval: 'month', usage_type: 'licensed' }, product: product.id, metadata: fx.mark({ meterline_tier: 'page-102' }) };
    const earlier = await findPrice(stripe, params, (p) => p.unit_amount === 102, account);
    expect(earlier?.metadata.meterline_tier).toBe('page-102');
  });

  // https://docs.stripe.com/api/billing/meter/create and /list (`status=active`). meters.ts
  // ensureMeter finds the active meter for an event name before creating one, so a second call
  // (a retry after Stripe forgot the key) returns the same meter.
  check(['billing.meters.list', 'billing.meters.create'], 'the engine finds the active meter by its event name instead of creating a second', async () => {
    const { stripe, account } = target;
    const meter = shaped(shape.meter, await fx.apiMeter(), 'billing.meters.create');
    expect(meter.event_name).toBe(apiMeterEventName(fx.apiUuid));
    const again = await ensureMeter(stripe, { account, eventName: meter.event_name, displayName: 'again' });
    expect(again.id).toBe(meter.id);
  });

  // https://docs.stripe.com/api/billing/meter-event/create: `identifier` is unique "within a
  // rolling period of at least 24 hours". A re-send under another idempotency key (after Stripe
  // saved a server error, or forgot the key) gets Stripe's duplicate answer, which
  // stripe.errors.ts isDuplicateMeterEventIdentifier must recognise as "already recorded". The
  // same key is replayed (https://docs.stripe.com/api/idempotent_requests).
  check(['billing.meterEvents.create'], 'a meter event identifier is accepted once; a re-send under another key is the duplicate answer the engine recognises', async () => {
    const { stripe, account, runId } = target;
    const meter = await fx.apiMeter();
    const customer = await fx.sharedCustomer();
    const identifier = `${runId}-window-1`;
    const key = idempotencyKey('contract', runId, 'usage', identifier);
    const send = (withKey: string) =>
      stripe.billing.meterEvents.create(
        { event_name: meter.event_name, payload: { stripe_customer_id: customer.id, value: '3' }, identifier, timestamp: target.now() - 60 },
        { stripeAccount: account, idempotencyKey: withKey },
      );
    const sent = shaped(shape.meterEvent, await sendPastStoredErrors(key, send), 'billing.meterEvents.create');
    expect(sent).toMatchObject({ identifier, event_name: meter.event_name, payload: { stripe_customer_id: customer.id, value: '3' } });
    const replayed = await send(key);
    expect(replayed.lastResponse.headers['idempotent-replayed']).toBe('true');
    const duplicate = await callStripe('send a meter event', { account }, () => send(`${key}:other`)).catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(MonetizationError);
    expect((duplicate as MonetizationError).cause).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(isDuplicateMeterEventIdentifier(duplicate, identifier)).toBe(true);
    expect(isDuplicateMeterEventIdentifier(duplicate, `${identifier}-not-this-one`)).toBe(false);
  });

  // https://docs.stripe.com/api/customers/create and /list (`email`); lists are read-after-write
  // consistent (https://docs.stripe.com/search#data-freshness), so customers.service.ts
  // findEarlierCustomer finds a customer an earlier attempt made a moment ago by email and metadata.
  check(['customers.create', 'customers.list', 'customers.retrieve'], 'the platform customer is found by email and metadata right after it is created', async () => {
    const { stripe } = target;
    const created = shaped(shape.customer, await fx.platformCustomer(), 'customers.create');
    let found: Stripe.Customer | undefined;
    for await (const c of stripe.customers.list({ email: created.email!, limit: 100 })) {
      if (c.metadata.meterline_subscriber === fx.subscriber && c.metadata.meterline_contract_run === target.runId) found = c;
    }
    expect(found?.id).toBe(created.id);
    const retrieved = await findInStripe('retrieve a customer', {}, () => stripe.customers.retrieve(created.id));
    expect(retrieved && !retrieved.deleted ? retrieved.invoice_settings.default_payment_method : null).toBeTruthy();
  });

  // Cloning the platform customer's payment method into the connected account: POST
  // /v1/payment_methods with `customer` and `payment_method` under `Stripe-Account`
  // (https://docs.stripe.com/connect/direct-charges-multiple-accounts#clone-and-create-direct-charges),
  // then attach (https://docs.stripe.com/api/payment_methods/attach) and make it the default
  // (https://docs.stripe.com/api/customers/update). customers.service.ts findAttachedClone finds
  // the clone by its metadata (https://docs.stripe.com/api/payment_methods/customer_list).
  check(
    ['customers.create', 'paymentMethods.create', 'paymentMethods.attach', 'customers.update', 'customers.listPaymentMethods', 'customers.retrieve'],
    "the platform customer's card is cloned into the connected account, attached and made the default; the clone is found by its metadata",
    async () => {
      const { stripe, account } = target;
      const shared = await fx.sharedCustomer();
      const clone = await fx.clonedCard();
      shaped(shape.paymentMethod, clone, 'paymentMethods.attach');
      expect(clone.customer).toBe(shared.id);
      let found: Stripe.PaymentMethod | undefined;
      for await (const method of stripe.customers.listPaymentMethods(shared.id, { limit: 100 }, { stripeAccount: account })) {
        if (method.metadata?.meterline_clone_of === fx.platformCardId()) found = method;
      }
      expect(found?.id).toBe(clone.id);
      const reread = await stripe.customers.retrieve(shared.id, {}, accountOption(account));
      expect(reread.deleted).toBeUndefined();
      expect(shaped(shape.customer, reread, 'customers.retrieve').invoice_settings.default_payment_method).toBe(clone.id);
    },
  );

  // https://docs.stripe.com/api/subscriptions/create with the cloned card
  // (`collection_method: charge_automatically`, `default_payment_method`), the metered price and
  // the base fee as `price_data` (pricing.ts baseFeeItem). The first invoice charges the base fee
  // in advance (https://docs.stripe.com/billing/subscriptions/usage-based/implementation-guide);
  // invoices.service.ts revenue reads paid invoices (https://docs.stripe.com/api/invoices/list,
  // `status=paid`) and their balances (https://docs.stripe.com/api/invoices/object).
  // subscription-workflow.ts finds an earlier attempt by metadata (https://docs.stripe.com/api/subscriptions/list,
  // `status=all`), and a same-key create is replayed, never a second subscription.
  check(
    ['subscriptions.create', 'subscriptions.list', 'subscriptions.retrieve', 'invoices.list'],
    'a card subscription with a metered price and a base fee starts active with its first invoice paid, and is found by its metadata',
    async () => {
      const { stripe, account } = target;
      const { subscription, create } = await fx.cardSubscription();
      const sub = shaped(shape.subscription, subscription, 'subscriptions.create');
      expect(sub.status).toBe('active');
      expect(sub.metadata.meterline_subscription_uuid).toBe(fx.subscriptionUuid);
      const replay = await create();
      expect(replay.id).toBe(sub.id);
      expect(replay.lastResponse.headers['idempotent-replayed']).toBe('true');

      const shared = await fx.sharedCustomer();
      const mine: Stripe.Subscription[] = [];
      for await (const s of stripe.subscriptions.list({ customer: shared.id, status: 'all', limit: 100 }, { stripeAccount: account })) {
        if (s.metadata?.meterline_subscription_uuid === fx.subscriptionUuid) mine.push(s);
      }
      expect(mine.map((s) => s.id)).toEqual([sub.id]);
      let listedLive: Stripe.Subscription | undefined;
      for await (const s of stripe.subscriptions.list({ status: 'all', limit: 100 }, { stripeAccount: account })) {
        if (s.id === sub.id) {
          listedLive = s;
          break;
        }
      }
      expect(listedLive?.metadata.meterline_tenant).toBe(fx.tenant);

      const retrieved = shaped(shape.subscription, await stripe.subscriptions.retrieve(sub.id, {}, { stripeAccount: account }), 'subscriptions.retrieve');
      expect(retrieved.items.data.map((item) => item.price.recurring)).toEqual([
        expect.objectContaining({ interval: 'month', interval_count: 1 }),
        expect.objectContaining({ interval: 'month', interval_count: 1 }),
      ]);

      const paid: Stripe.Invoice[] = [];
      for await (const invoice of stripe.invoices.list({ subscription: sub.id, status: 'paid', limit: 100 }, { stripeAccount: account })) paid.push(invoice);
      expect(paid).toHaveLength(1);
      const first = shaped(shape.listedInvoice, paid[0], 'invoices.list (paid)');
      expect(first).toMatchObject({ currency: 'usd', amount_paid: 200 });
      expect(balanceMovement(paid[0]!)).toEqual({ carried: 0n, collected: 0n });
    },
  );

  // Without a saved card the engine invoices (`collection_method: send_invoice`, `days_until_due`:
  // https://docs.stripe.com/api/subscriptions/create). For a new subscription Stripe "Finalizes the
  // invoice immediately when collection_method is set to charge_automatically, or one hour later
  // when it's set to send_invoice" (https://docs.stripe.com/subscriptions/invoices, "New
  // subscription invoices"): right after the create the first invoice is a draft, and
  // customer-reconcile.service.ts's look for open invoices (`status=open`) does not see it yet.
  check(
    ['customers.create', 'subscriptions.create', 'invoices.list'],
    'without a card the subscription is invoiced, and its first invoice stays a draft for the first hour',
    async () => {
      const { stripe, account, runId } = target;
      const customer = await fx.connectedCustomer('invoiced');
      const price = await fx.licensedPrice();
      const subscription = await stripe.subscriptions.create(
        { customer: customer.id, items: [{ price: price.id }], collection_method: 'send_invoice', days_until_due: 30, metadata: fx.mark({ meterline_subscription_uuid: `sub-${runId}-invoiced` }) },
        { stripeAccount: account, idempotencyKey: idempotencyKey('contract', runId, 'subscription', 'invoiced') },
      );
      expect(shaped(shape.subscription, subscription, 'subscriptions.create (send_invoice)').status).toBe('active');
      const invoices = await stripe.invoices.list({ subscription: subscription.id, limit: 10 }, accountOption(account));
      expect(invoices.data).toHaveLength(1);
      const first = shaped(shape.listedInvoice, invoices.data[0], 'invoices.list (subscription)');
      expect(first).toMatchObject({ currency: 'usd', amount_paid: 0 });
      const open = await stripe.invoices.list({ customer: customer.id, status: 'open', limit: 1 }, accountOption(account));
      expect({ first: first.status, open: open.data.length }).toEqual({ first: 'draft', open: 0 });
    },
    { mismatch: SEND_INVOICE_FIRST_INVOICE_DRAFT },
  );

  // https://docs.stripe.com/api/invoices/create_preview (`customer`, `subscription`) in the
  // connected account, read as invoices.service.ts toPendingInvoice does. Meter events are
  // aggregated asynchronously ("aggregated usage ... on upcoming invoices might not immediately
  // reflect recently received meter events":
  // https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage), so the preview is
  // read again until the usage shows, within the target's budget. 1,234 requests at 0.05 cents is
  // 61.7, rounded once on the line to 62 (https://docs.stripe.com/billing/subscriptions/usage-based/pricing-models).
  check(
    ['billing.meterEvents.create', 'invoices.createPreview', 'accounts.retrieve'],
    'the invoice preview of a metered subscription shows the usage sent, as the engine reads it',
    async () => {
      const { stripe, account, runId } = target;
      const { subscription } = await fx.cardSubscription();
      const shared = await fx.sharedCustomer();
      const meter = await fx.apiMeter();
      await stripe.billing.meterEvents.create(
        { event_name: meter.event_name, payload: { stripe_customer_id: shared.id, value: '1234' }, identifier: `${runId}-preview`, timestamp: target.now() },
        { stripeAccount: account, idempotencyKey: idempotencyKey('contract', runId, 'usage', 'preview') },
      );
      const meteredPrice = await fx.meteredPrice();
      const meteredLine = async () => {
        const preview = await stripe.invoices.createPreview({ customer: shared.id, subscription: subscription.id }, { stripeAccount: account });
        shaped(shape.previewInvoice, preview, 'invoices.createPreview');
        return preview.lines.data.find((line) => line.pricing?.price_details?.price === meteredPrice.id && (line.quantity ?? 0) > 0);
      };
      const line = await eventually(target, meteredLine);
      expect(line).toMatchObject({ quantity: 1234, amount: 62 });
      expect(String(line!.pricing?.unit_amount_decimal)).toBe('0.05');
      shaped(shape.account, await stripe.accounts.retrieve(account), 'accounts.retrieve');
    },
    ASYNC_TEST_TIMEOUT_MS,
  );

  // https://docs.stripe.com/api/subscriptions/cancel: `invoice_now` issues a final invoice for
  // usage not yet invoiced, `prorate: false` credits nothing; the subscription is `canceled`
  // (subscription-workflow.ts cancel), also without `invoice_now` (its compensation, cancelQuietly).
  check(['subscriptions.create', 'subscriptions.cancel', 'subscriptions.retrieve'], 'cancel ends the subscription, with or without a final invoice', async () => {
    const { stripe, account, runId } = target;
    const customer = await fx.connectedCustomer('cancel');
    const price = await fx.licensedPrice();
    const make = (which: string) =>
      stripe.subscriptions.create(
        { customer: customer.id, items: [{ price: price.id }], collection_method: 'send_invoice', days_until_due: 30, metadata: fx.mark({ meterline_subscription_uuid: `sub-${runId}-${which}` }) },
        { stripeAccount: account, idempotencyKey: idempotencyKey('contract', runId, 'subscription', which) },
      );
    const withInvoice = await make('cancel-invoice-now');
    const cancelled = await sendPastStoredErrors(idempotencyKey('contract', runId, 'cancel', withInvoice.id), (key) =>
      stripe.subscriptions.cancel(withInvoice.id, { invoice_now: true, prorate: false }, { stripeAccount: account, idempotencyKey: key }),
    );
    expect(cancelled.status).toBe('canceled');
    expect((await stripe.subscriptions.retrieve(withInvoice.id, {}, { stripeAccount: account })).status).toBe('canceled');
    const quietly = await make('cancel-quietly');
    await stripe.subscriptions.cancel(quietly.id, { prorate: false }, { stripeAccount: account });
    expect((await stripe.subscriptions.retrieve(quietly.id, {}, { stripeAccount: account })).status).toBe('canceled');
  });

  // A change of business plan (change-plan.ts): the plan item's price is swapped in place, with
  // `proration_behavior: create_prorations`, keeping the subscription and its id
  // (https://docs.stripe.com/billing/subscriptions/change-price, https://docs.stripe.com/api/subscriptions/update).
  check(['subscriptions.create', 'subscriptions.update'], "a change of plan swaps the item's price in place, with prorations", async () => {
    const { stripe, account, runId } = target;
    const customer = await fx.connectedCustomer('change-plan');
    const price = await fx.licensedPrice();
    const dearer = await fx.dearerLicensedPrice();
    const subscription = await stripe.subscriptions.create(
      { customer: customer.id, items: [{ price: price.id }], collection_method: 'send_invoice', days_until_due: 30, metadata: fx.mark({ meterline_subscription_uuid: `sub-${runId}-change-plan` }) },
      { stripeAccount: account, idempotencyKey: idempotencyKey('contract', runId, 'subscription', 'change-plan') },
    );
    const item = subscription.items.data[0]!;
    const changed = await stripe.subscriptions.update(
      subscription.id,
      { items: [{ id: item.id, price: dearer.id }], proration_behavior: 'create_prorations', metadata: { meterline_plan_changes: '1' } },
      { stripeAccount: account, idempotencyKey: idempotencyKey('contract', runId, 'change-plan', subscription.id, 1) },
    );
    const reshaped = shaped(shape.subscription, changed, 'subscriptions.update');
    expect(reshaped.id).toBe(subscription.id);
    expect(changed.items.data.map((i) => [i.id, i.price.id])).toEqual([[item.id, dearer.id]]);
    expect(changed.metadata).toMatchObject({ meterline_plan_changes: '1' });
    await stripe.subscriptions.cancel(subscription.id, { prorate: false }, { stripeAccount: account });
  });

  // https://docs.stripe.com/api/customers/delete; a deleted customer is still retrieved, as
  // `{ id, object: 'customer', deleted: true }` (https://docs.stripe.com/api/customers/retrieve),
  // which customers.service.ts retrieveCustomer treats as gone.
  check(['customers.create', 'customers.del', 'customers.retrieve'], 'a deleted customer is retrieved as deleted', async () => {
    const { stripe, account } = target;
    const customer = await fx.connectedCustomer('deleted');
    await findInStripe('delete an orphan customer', { account }, () => stripe.customers.del(customer.id, {}, accountOption(account)));
    const reread = await stripe.customers.retrieve(customer.id, {}, accountOption(account));
    shaped(shape.deletedCustomer, reread, 'customers.retrieve (deleted)');
  });

  // An accepted meter event for a customer the account does not have is reported later as the
  // thin event v1.billing.meter.error_report_triggered (https://docs.stripe.com/api/v2/core/events/event-types);
  // its data is read with GET /v2/core/events/:id (https://docs.stripe.com/api/v2/core/events/retrieve,
  // https://docs.stripe.com/event-destinations#thin-payload) in the connected account's context,
  // as stripe.monetization.ts does, and webhooks.ts usageErrors reads each failed identifier.
  check(
    ['billing.meterEvents.create', 'v2.core.events.retrieve'],
    'a meter event for a customer the account does not have is reported, and the engine reads the report',
    async () => {
      const { stripe, account, runId } = target;
      const meter = await fx.apiMeter();
      await target.prepareMeterErrorReports();
      const identifier = `${runId}-unknown-customer`;
      await stripe.billing.meterEvents.create(
        { event_name: meter.event_name, payload: { stripe_customer_id: `cus_${runId}Nobody`, value: '1' }, identifier, timestamp: target.now() },
        { stripeAccount: account },
      );
      const eventId = await eventually(target, () => target.meterErrorReport(meter.id));
      const verifier = new StripeWebhookVerifier((_tenant, id, context) =>
        callStripe('read a Stripe event', { event: id, account: context }, () => stripe.v2.core.events.retrieve(id, {}, context ? { stripeContext: context } : {})),
      );
      const report = await verifier.usageErrors({ type: 'ignored', engineType: METER_ERROR_REPORT, id: eventId!, account, occurredAt: new Date(0) }, fx.tenant);
      expect(report?.errors).toEqual(expect.arrayContaining([{ identifier, reason: expect.stringMatching(/^meter_event_customer_not_found: /) }]));
    },
    ASYNC_TEST_TIMEOUT_MS,
  );

  // GET /v1/billing/meters/:id/event_summaries (https://docs.stripe.com/api/billing/meter-event-summary/list):
  // `start_time` and `end_time` "must be aligned with minute boundaries"; summaries are
  // "an eventually consistent view of the reported usage"
  // (https://docs.stripe.com/api/billing/meter-event-summary), so they are read again until the
  // usage shows. usage-reconcile.ts sums `aggregated_value` over the pages for one customer.
  check(['billing.meterEvents.create', 'billing.meters.listEventSummaries'], "meter event summaries count a customer's usage between minute-aligned bounds", async () => {
    const { stripe, account, runId } = target;
    const meter = await fx.apiMeter();
    const customer = await fx.connectedCustomer('summaries');
    const sentAt = target.now();
    for (const [n, value] of [[1, '5'], [2, '7']] as const) {
      await stripe.billing.meterEvents.create(
        { event_name: meter.event_name, payload: { stripe_customer_id: customer.id, value }, identifier: `${runId}-summary-${n}`, timestamp: sentAt - 120 + n },
        { stripeAccount: account },
      );
    }
    const from = Math.floor((sentAt - 3600) / 60) * 60;
    const to = Math.floor(sentAt / 60) * 60 + 60;
    const total = async () => {
      let sum = 0;
      for await (const summary of stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: from, end_time: to, limit: 100 }, { stripeAccount: account })) {
        shaped(shape.meterEventSummary, summary, 'billing.meters.listEventSummaries');
        sum += summary.aggregated_value;
      }
      return sum === 12 ? sum : undefined;
    };
    await expect(eventually(target, total)).resolves.toBe(12);
    const misaligned = await stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: from + 1, end_time: to }, { stripeAccount: account }).catch((e: unknown) => e);
    expect(misaligned).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
  }, ASYNC_TEST_TIMEOUT_MS);

  // The v2 meter event stream for a connected account (send_in_batches, usage-reporter.ts
  // reportBatch): a session made with `Stripe-Context: acct_…` (https://docs.stripe.com/context;
  // https://docs.stripe.com/api/v2/billing-meter-stream, a token valid 15 minutes), then its token
  // alone on POST /v2/billing/meter_event_stream, at most 100 events, answered `{}` and processed
  // asynchronously (https://docs.stripe.com/api/v2/billing/meter-event-stream/create). Stripe's
  // pages do not say whether the stream serves connected accounts: run live, this test is the answer.
  check(
    ['v2.billing.meterEventSession.create', 'v2.billing.meterEventStream.create', 'billing.meters.listEventSummaries'],
    "a meter event session made in the connected account (Stripe-Context) streams events into that account's meter",
    async () => {
      const { stripe, account, runId } = target;
      const meter = await fx.apiMeter();
      const customer = await fx.connectedCustomer('stream');
      const session = await stripe.v2.billing.meterEventSession.create({}, { stripeContext: account });
      expect(Date.parse(session.expires_at) - Date.parse(session.created)).toBeLessThanOrEqual(15 * 60_000);
      const sentAt = target.now();
      const events = [3, 4].map((value, n) => ({
        event_name: meter.event_name,
        identifier: `${runId}-stream-${n}`,
        payload: { stripe_customer_id: customer.id, value: String(value) },
        timestamp: new Date((sentAt - 120 + n) * 1000).toISOString(),
      }));
      await expect(stripe.v2.billing.meterEventStream.create({ events }, { apiKey: session.authentication_token })).resolves.toBeDefined();
      const from = Math.floor((sentAt - 3600) / 60) * 60;
      const to = Math.floor(sentAt / 60) * 60 + 60;
      const total = async () => {
        let sum = 0;
        for await (const summary of stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: from, end_time: to, limit: 100 }, { stripeAccount: account })) sum += summary.aggregated_value;
        return sum === 7 ? sum : undefined;
      };
      await expect(eventually(target, total)).resolves.toBe(7);
    },
    ASYNC_TEST_TIMEOUT_MS,
  );

  // An invoice's `lines` hold its first lines and `has_more`; the rest come from
  // GET /v1/invoices/:id/lines (https://docs.stripe.com/api/invoice-line-item/retrieve), paged
  // (https://docs.stripe.com/api/pagination/auto). usage-reconcile.ts reads each line's price
  // (`pricing.price_details.price`), `period` and `quantity`, and the invoice's
  // `status_transitions.finalized_at` (https://docs.stripe.com/api/invoices/object).
  check(['invoices.list', 'invoices.listLineItems'], "an invoice's lines page through listLineItems with the fields the engine reads", async () => {
    const { stripe, account } = target;
    const { subscription } = await fx.cardSubscription();
    const invoices = await stripe.invoices.list({ subscription: subscription.id, limit: 100 }, { stripeAccount: account });
    const first = invoices.data.find((invoice) => invoice.billing_reason === 'subscription_create');
    expect(first?.id).toEqual(expect.any(String));
    shaped(shape.invoiceWithLines, first, 'invoices.list');
    const paged = await stripe.invoices.listLineItems(first!.id!, { limit: 1 }, { stripeAccount: account }).autoPagingToArray({ limit: 1_000 });
    expect(paged.map((line) => line.id).sort()).toEqual(first!.lines.data.map((line) => line.id).sort());
    for (const line of paged) shaped(shape.invoiceLine, line, 'invoices.listLineItems');
    const baseFee = paged.find((line) => (line.amount ?? 0) === 200);
    expect(baseFee?.period.end).toBeGreaterThan(baseFee?.period.start ?? Infinity);
  });

  // Tiered and package usage prices as pricing.ts priceParams makes them, on the API's meter
  // (https://docs.stripe.com/api/prices/create: `billing_scheme: tiered`, `tiers_mode`, `tiers[]` with
  // `up_to` (the last `inf`), `unit_amount_decimal`, `flat_amount_decimal`; `transform_quantity`
  // with `divide_by` and `round`). A price's tiers are answered only when expanded
  // (https://docs.stripe.com/api/prices/object#price_object-tiers), as api-plans.service.ts
  // (`expand[]=tiers`) and archive.ts findPrice (`expand[]=data.tiers`) ask; priceMatches must hold
  // for what Stripe answers, or the engine would make a new price on every publish.
  check(
    ['prices.create', 'prices.retrieve', 'prices.list', 'billing.meters.list', 'billing.meters.create'],
    'graduated, volume and package prices come back with their tiers and transform_quantity as the engine compares them',
    async () => {
      const { stripe, account } = target;
      const meter = await fx.apiMeter();
      const product = await fx.apiProduct();
      const tiered = [
        [GRADUATED, 'Graduated', fx.graduatedPrice],
        [VOLUME, 'Volume', fx.volumePrice],
      ] as const;
      for (const [pricing, tier, make] of tiered) {
        const created = await make();
        // The answer itself is read, not shaped()'s copy: zod's copy of a Stripe.Decimal is an empty object.
        const read = await stripe.prices.retrieve(created.id, { expand: ['tiers'] }, { stripeAccount: account });
        shaped(shape.tieredPrice, read, `prices.retrieve (${tier}, expand tiers)`);
        expect(read).toMatchObject({ billing_scheme: 'tiered', tiers_mode: pricing.usageRate!.model, unit_amount: null, transform_quantity: null, recurring: { usage_type: 'metered', meter: meter.id } });
        // Tier 1: 1,000 calls free; tier 2: 0.15 ¢ a call and a 5.00 USD flat fee (500 ¢, also as `flat_amount`).
        expect(read.tiers?.map((t) => [t.up_to, decimal(t.unit_amount_decimal), decimal(t.flat_amount_decimal), t.flat_amount])).toEqual([
          [1000, '0', '0', 0],
          [null, '0.15', '500', 500],
        ]);
        expect(priceMatches(read, priceParams(pricing, tier), meter.id)).toBe(true);
        expect(priceMatches(read, priceParams({ ...pricing, usageRate: { ...pricing.usageRate!, tiers: [GRADUATED_TIERS[0]!, { ...GRADUATED_TIERS[1]!, flatPrice: '6.00' }] } }, tier), meter.id)).toBe(false);
        const wanted = priceParams(pricing, tier);
        const params: Stripe.PriceCreateParams = { ...wanted, product: product.id, metadata: fx.mark({ meterline_api_uuid: fx.apiUuid, meterline_tier: tier }) };
        const listed = await findPrice(stripe, params, (p) => priceMatches(p, wanted, meter.id), account);
        expect(listed?.id).toBe(created.id);
      }
      const pkg = await stripe.prices.retrieve((await fx.packagePrice()).id, { expand: ['tiers'] }, { stripeAccount: account });
      shaped(shape.tieredPrice, pkg, 'prices.retrieve (package)');
      // 2.50 USD per started package of 1,000 calls.
      expect(pkg).toMatchObject({ billing_scheme: 'per_unit', tiers_mode: null, transform_quantity: { divide_by: 1000, round: 'up' }, recurring: { usage_type: 'metered', meter: meter.id } });
      expect(decimal(pkg.unit_amount_decimal)).toBe('250');
      expect(priceMatches(pkg, priceParams(PACKAGE, 'Package'), meter.id)).toBe(true);
    },
  );

  // Refusals the engine relies on never reaching Stripe (pricing.ts builds neither), checked so a
  // change of Stripe's rules shows here: `transform_quantity` "Cannot be combined with tiers"
  // (https://docs.stripe.com/api/prices/object#price_object-transform_quantity; "Transform
  // quantities isn't compatible with tiered pricing":
  // https://docs.stripe.com/billing/subscriptions/usage-based/transform-quantities), and a tier's
  // `flat_amount_decimal` is "a decimal value representing an integer in the minor units of the
  // currency" (https://docs.stripe.com/api/prices/create#create_price-tiers-flat_amount_decimal), so
  // 500.5 ¢ is not one. Stripe documents no error code or param for either: only the refusal
  // (an invalid request, HTTP 400) is asserted.
  check(['prices.create'], 'a tiered price with transform_quantity, and a tier flat fee that is not whole minor units, are refused', async () => {
    const { stripe, account } = target;
    const meter = await fx.apiMeter();
    const product = await fx.apiProduct();
    const base: Stripe.PriceCreateParams = {
      ...priceParams(VOLUME, 'Refused'),
      product: product.id,
      recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
      metadata: fx.mark({ meterline_api_uuid: fx.apiUuid, meterline_tier: 'Refused' }),
    };
    const attempt = async (params: Stripe.PriceCreateParams) => {
      const answer = await stripe.prices.create(params, { stripeAccount: account }).catch((e: unknown) => e);
      // Accepted after all (Stripe changed): archived at the end like the run's other prices.
      if ((answer as Stripe.Price | undefined)?.object === 'price') fx.archiveLater((answer as Stripe.Price).id, account, 'price');
      return answer;
    };
    const withTransform = await attempt({ ...base, transform_quantity: { divide_by: 10, round: 'up' } });
    expect(withTransform).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((withTransform as Stripe.errors.StripeError).statusCode).toBe(400);
    const halfCent = await attempt({
      ...base,
      tiers: [{ up_to: 'inf', unit_amount_decimal: Stripe.Decimal.from('0.15'), flat_amount_decimal: Stripe.Decimal.from('500.5') }],
    });
    expect(halfCent).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((halfCent as Stripe.errors.StripeError).statusCode).toBe(400);
  });

  // subscription-workflow.ts charges a plan's setup fee with `add_invoice_items` on the create
  // (pricing.ts setupFeeItem): items "appended to the next invoice for this subscription", which
  // for a new subscription is its first (https://docs.stripe.com/api/subscriptions/create#create_subscription-add_invoice_items).
  // On the invoice it is an invoice-item line (`parent.type: invoice_item_details`,
  // https://docs.stripe.com/api/invoice-line-item/object#invoice_line_item_object-parent). The next
  // invoice is read as its preview (https://docs.stripe.com/api/invoices/create_preview), so neither
  // half waits a billing period: it has the base fee again and no setup fee.
  check(
    ['customers.create', 'subscriptions.create', 'invoices.list', 'invoices.listLineItems', 'invoices.createPreview', 'subscriptions.cancel'],
    'a setup fee (add_invoice_items) is on the first invoice and not on the next',
    async () => {
      const { stripe, account, runId } = target;
      const customer = await fx.connectedCustomer('setup-fee');
      const price = await fx.graduatedPrice();
      const product = await fx.apiProduct();
      const setupFee = setupFeeItem(GRADUATED, 'Graduated', product.id)!;
      expect(setupFee.price_data).toMatchObject({ currency: 'usd', unit_amount: 4900 });
      const subscription = await stripe.subscriptions.create(
        {
          customer: customer.id,
          items: [{ price: price.id }, baseFeeItem(GRADUATED, 'Graduated', product.id)!],
          add_invoice_items: [setupFee],
          collection_method: 'send_invoice',
          days_until_due: 30,
          metadata: fx.mark({ meterline_subscription_uuid: `sub-${runId}-setup-fee` }),
        },
        { stripeAccount: account, idempotencyKey: idempotencyKey('contract', runId, 'subscription', 'setup-fee') },
      );
      try {
        const invoices = await stripe.invoices.list({ subscription: subscription.id, limit: 10 }, accountOption(account));
        expect(invoices.data).toHaveLength(1);
        const first = shaped(shape.invoiceWithLines, invoices.data[0], 'invoices.list (with add_invoice_items)');
        expect(invoices.data[0]!.total).toBe(200 + 4900);
        const lines = await stripe.invoices.listLineItems(first.id, { limit: 100 }, accountOption(account)).autoPagingToArray({ limit: 1_000 });
        expect(lines.filter((line) => line.parent?.type === 'invoice_item_details').map((line) => [line.amount, line.quantity])).toEqual([[4900, 1]]);
        const next = await stripe.invoices.createPreview({ customer: customer.id, subscription: subscription.id }, accountOption(account));
        shaped(shape.previewInvoice, next, 'invoices.createPreview (after add_invoice_items)');
        expect(next.lines.data.filter((line) => line.parent?.type === 'invoice_item_details' || line.amount === 4900)).toEqual([]);
        expect(next.lines.data.map((line) => line.amount)).toContain(200);
      } finally {
        await stripe.subscriptions.cancel(subscription.id, { prorate: false }, accountOption(account));
      }
    },
  );

  // A graduated price billed for a known quantity on a finalized invoice: `cancel` with `invoice_now`
  // makes "a final invoice that invoices for any un-invoiced metered usage"
  // (https://docs.stripe.com/api/subscriptions/cancel#cancel_subscription-invoice_now), so neither
  // half waits a period (no test clock here; the usage is waited for as the preview test does).
  // Stripe's docs do not say the final invoice is finalized at once, so a draft one is finalized
  // (https://docs.stripe.com/api/invoices/finalize: a test step, not an engine call).
  // Graduated: "the price is calculated per tier" (https://docs.stripe.com/subscriptions/pricing-models/tiered-pricing):
  // 1,000 calls free, then 1,982 × 0.15 ¢ = 297.3 plus the 5.00 USD flat fee, rounded on the line
  // (https://docs.stripe.com/billing/subscriptions/decimal-amounts) to 797. The line layout: one
  // line per tier touched, with the tier's unit amount, and the tier's flat fee a line of its own
  // (https://docs.stripe.com/products-prices/pricing-models#graduated-pricing; Stripe's API
  // reference does not spell the layout out, a recorded Stripe invoice shows per-tier lines,
  // "… (Tier 2 at $0.036 / month)"); the local server bills it so and the Stripe engine names the
  // lines by it. Asserted loosely where Stripe's docs say nothing: a flat line's quantity is not.
  check(
    ['customers.create', 'subscriptions.create', 'billing.meterEvents.create', 'invoices.createPreview', 'subscriptions.cancel', 'invoices.list', 'invoices.listLineItems'],
    'graduated tiers on a finalized invoice: 2,982 calls are 1,000 free, then 1,982 × 0.15 ¢ plus a 5.00 USD flat fee (797 ¢), a line per tier and the flat fee a line of its own',
    async () => {
      const { stripe, account, runId } = target;
      const customer = await fx.connectedCustomer('graduated');
      const price = await fx.graduatedPrice();
      const meter = await fx.apiMeter();
      const subscription = await stripe.subscriptions.create(
        {
          customer: customer.id,
          items: [{ price: price.id }],
          collection_method: 'send_invoice',
          days_until_due: 30,
          metadata: fx.mark({ meterline_subscription_uuid: `sub-${runId}-graduated` }),
        },
        { stripeAccount: account, idempotencyKey: idempotencyKey('contract', runId, 'subscription', 'graduated') },
      );
      await stripe.billing.meterEvents.create(
        { event_name: meter.event_name, payload: { stripe_customer_id: customer.id, value: '2982' }, identifier: `${runId}-graduated`, timestamp: target.now() },
        { stripeAccount: account, idempotencyKey: idempotencyKey('contract', runId, 'usage', 'graduated') },
      );
      const ofPrice = (lines: Array<{ quantity: number | null; amount: number; pricing: Stripe.InvoiceLineItem['pricing'] }>) => {
        const mine = lines.filter((line) => line.pricing?.price_details?.price === price.id);
        return { quantity: mine.reduce((n, line) => n + (line.quantity ?? 0), 0), amount: mine.reduce((n, line) => n + line.amount, 0) };
      };
      const aggregated = async () => {
        const preview = await stripe.invoices.createPreview({ customer: customer.id, subscription: subscription.id }, accountOption(account));
        const billed = ofPrice(preview.lines.data);
        return billed.quantity === 2982 ? billed : undefined;
      };
      await expect(eventually(target, aggregated)).resolves.toEqual({ quantity: 2982, amount: 797 });

      const cancelled = await stripe.subscriptions.cancel(subscription.id, { invoice_now: true, prorate: false }, accountOption(account));
      const finalId = typeof cancelled.latest_invoice === 'string' ? cancelled.latest_invoice : cancelled.latest_invoice?.id;
      const listed = await stripe.invoices.list({ subscription: subscription.id, limit: 10 }, accountOption(account));
      const final = listed.data.find((invoice) => invoice.id === finalId);
      expect(final?.billing_reason).not.toBe('subscription_create');
      if (final?.status === 'draft') await stripe.invoices.finalizeInvoice(final.id!, {}, accountOption(account));
      const reread = (await stripe.invoices.list({ subscription: subscription.id, limit: 10 }, accountOption(account))).data.find((invoice) => invoice.id === finalId);
      const finalized = shaped(shape.invoiceWithLines, reread, 'invoices.list (final invoice)');
      expect(finalized.status_transitions.finalized_at).toEqual(expect.any(Number));
      expect(['open', 'paid']).toContain(finalized.status);
      const lines = await stripe.invoices.listLineItems(finalized.id, { limit: 100 }, accountOption(account)).autoPagingToArray({ limit: 1_000 });
      expect(ofPrice(lines)).toEqual({ quantity: 2982, amount: 797 });
      const mine = lines.filter((line) => line.pricing?.price_details?.price === price.id);
      const perTier = mine.filter((line) => line.pricing?.unit_amount_decimal !== null && line.pricing?.unit_amount_decimal !== undefined);
      expect(perTier.map((line) => [line.quantity, String(line.pricing?.unit_amount_decimal), line.amount])).toEqual([
        [1000, '0', 0],
        [1982, '0.15', 297],
      ]);
      expect(mine.filter((line) => !perTier.includes(line)).map((line) => line.amount)).toEqual([500]);
    },
    ASYNC_TEST_TIMEOUT_MS,
  );

  // Not an engine call: the operator creates the endpoint Meterline receives (README). A Connect
  // endpoint (`connect: true`) receives the connected accounts' events; its `secret` is returned
  // on create only (https://docs.stripe.com/api/webhook_endpoints/create), and with `api_version`
  // its events are rendered at that version (https://docs.stripe.com/webhooks/versioning).
  check([], 'a Connect webhook endpoint for the events Meterline reads is created with its signing secret', async () => {
    const { stripe } = target;
    const endpoint = await stripe.webhookEndpoints.create({
      url: `https://example.com/meterline-contract/${target.runId}`,
      enabled_events: [...STRIPE_WEBHOOK_EVENTS],
      connect: true,
      api_version: target.apiVersion as Stripe.WebhookEndpointCreateParams.ApiVersion,
      metadata: fx.mark({}),
    });
    cleanup.add(`delete webhook endpoint ${endpoint.id}`, () => stripe.webhookEndpoints.del(endpoint.id));
    shaped(shape.webhookEndpoint, endpoint, 'webhookEndpoints.create');
    expect(endpoint.api_version).toBe(target.apiVersion);
    expect([...endpoint.enabled_events].sort()).toEqual([...STRIPE_WEBHOOK_EVENTS].sort());
  });
}

/** Long enough for Stripe's asynchronous work in test mode (STRIPE_CONTRACT_ASYNC_BUDGET_SECONDS, default 300) and a margin. */
const ASYNC_TEST_TIMEOUT_MS = (Number(process.env.STRIPE_CONTRACT_ASYNC_BUDGET_SECONDS ?? 300) + 60) * 1000;


const FIXED: PolicyPricing = { plan: 'FIXEDRATE', currency: 'USD', billingCycle: 'month', fixedPrice: '5.00' };
/** 0.0005 USD a request ("0.05" cents), with a 2.00 USD base fee. */
const METERED: Extract<PolicyPricing, { plan: 'DYNAMICRATE' }> = { plan: 'DYNAMICRATE', currency: 'USD', billingCycle: 'month', pricePerRequest: '0.0005', fixedPrice: '2.00' };

/** Graduated and volume tiers: 1,000 calls free, then 0.0015 USD a call ("0.15" cents) and a 5.00 USD flat fee. */
const GRADUATED_TIERS: readonly PriceTier[] = [
  { upTo: 1000, unitPrice: '0', flatPrice: '0' },
  { upTo: null, unitPrice: '0.0015', flatPrice: '5.00' },
];
/** With a 2.00 USD base fee and a 49.00 USD setup fee (add_invoice_items). */
const GRADUATED: Extract<PolicyPricing, { plan: 'DYNAMICRATE' }> & { usageRate: { model: 'graduated' | 'volume'; tiers: readonly PriceTier[] } } = {
  plan: 'DYNAMICRATE',
  currency: 'USD',
  billingCycle: 'month',
  pricePerRequest: '0',
  fixedPrice: '2.00',
  setupFee: '49.00',
  usageRate: { model: 'graduated', tiers: GRADUATED_TIERS },
};
const VOLUME: typeof GRADUATED = { ...GRADUATED, usageRate: { model: 'volume', tiers: GRADUATED_TIERS } };
/** 2.50 USD per started package of 1,000 calls. */
const PACKAGE: Extract<PolicyPricing, { plan: 'DYNAMICRATE' }> = { plan: 'DYNAMICRATE', currency: 'USD', billingCycle: 'month', pricePerRequest: '0.0025', usageRate: { model: 'package', packageSize: 1000, packagePrice: '2.50' } };

/** A decimal amount as Stripe answers it (string or Stripe.Decimal), normalised ("500.0" and "500" alike). */
function decimal(value: unknown): string | undefined {
  return value === null || value === undefined ? undefined : Stripe.Decimal.from(String(value)).toString();
}

/**
 * What the run made that is still live after its clean-up, found by the run's mark: active products
 * and prices, customers (deleted ones are not listed: https://docs.stripe.com/api/customers/list),
 * active meters named for the run, webhook endpoints. Each account is listed in full, newest first.
 */
async function leftovers(target: ContractTarget): Promise<string[]> {
  const { stripe, account, runId } = target;
  const ours = (o: { metadata?: Stripe.Metadata | null }) => o.metadata?.meterline_contract_run === runId;
  const left: string[] = [];
  for (const where of [undefined, account]) {
    const options = accountOption(where);
    for await (const p of stripe.products.list({ active: true, limit: 100 }, options)) if (ours(p)) left.push(p.id);
    for await (const p of stripe.prices.list({ active: true, limit: 100 }, options)) if (ours(p)) left.push(p.id);
    for await (const c of stripe.customers.list({ limit: 100 }, options)) if (ours(c)) left.push(c.id);
    for await (const m of stripe.billing.meters.list({ status: 'active', limit: 100 }, options)) if (m.event_name.includes(runId)) left.push(m.id);
  }
  for await (const e of stripe.webhookEndpoints.list({ limit: 100 })) if (ours(e)) left.push(e.id);
  return left;
}

/** Reads `probe` until it answers, letting the target's time pass between reads, within its budget. */
async function eventually<T>(target: ContractTarget, probe: () => Promise<T | undefined>): Promise<T> {
  const step = 10;
  for (let waited = 0; ; waited += step) {
    const value = await probe();
    if (value !== undefined) return value;
    if (waited >= target.asyncBudgetSeconds) {
      throw new Error(`${target.name} did not finish its asynchronous work within ${target.asyncBudgetSeconds} s (STRIPE_CONTRACT_ASYNC_BUDGET_SECONDS)`);
    }
    await target.pass(step);
  }
}

/** The objects several tests use, each made once on first use (so no test depends on another's order). */
function fixtures(target: ContractTarget, cleanup: Cleanup) {
  const { stripe, account, runId } = target;
  const tenant = 'contract.test';
  const apiUuid = `api-${runId}`;
  const subscriber = `subscriber-${runId}`;
  const subscriptionUuid = `sub-${runId}-card`;
  const mark = (extra: Record<string, string>): Record<string, string> => ({ ...extra, meterline_contract_run: runId, meterline_tenant: tenant });
  let platformCard: string | undefined;

  const archiveLater = (objectId: string, inAccount: string | undefined, kind: 'product' | 'price' = 'product') =>
    cleanup.add(`archive ${kind} ${objectId}`, () => (kind === 'price' ? archivePrice(stripe, objectId, inAccount) : archiveProduct(stripe, objectId, inAccount)));
  const deleteLater = (customerId: string, inAccount: string | undefined) =>
    cleanup.add(`delete customer ${customerId}`, () => findInStripe('delete a customer', {}, () => stripe.customers.del(customerId, {}, accountOption(inAccount))));

  const apiProduct = once(async () => {
    const metadata = mark({ meterline_api_uuid: apiUuid });
    const key = idempotencyKey(tenant, 'api', apiUuid, account, 'product');
    const product = await sendPastStoredErrors(key, (k) => stripe.products.create({ name: `meterline-contract-${runId}`, metadata }, { stripeAccount: account, idempotencyKey: k }));
    archiveLater(product.id, account);
    return product;
  });

  const apiMeter = once(async () => {
    const meter = await ensureMeter(stripe, { account, eventName: apiMeterEventName(apiUuid), displayName: `Meterline contract ${runId} requests` });
    cleanup.add(`deactivate meter ${meter.id}`, () => stripe.billing.meters.deactivate(meter.id, {}, { stripeAccount: account }));
    return meter;
  });

  const tierPrice = async (pricing: PolicyPricing, tier: string, meterId?: string) => {
    const product = await apiProduct();
    const wanted = priceParams(pricing, tier);
    const params: Stripe.PriceCreateParams = {
      ...wanted,
      product: product.id,
      recurring: { ...wanted.recurring!, ...(meterId ? { meter: meterId } : {}) },
      metadata: mark({ meterline_api_uuid: apiUuid, meterline_tier: tier }),
    };
    const price = await sendPastStoredErrors(idempotencyKey(tenant, 'api', apiUuid, account, 'tier', tier, 'price'), (k) =>
      stripe.prices.create(params, { stripeAccount: account, idempotencyKey: k }),
    );
    archiveLater(price.id, account, 'price');
    return price;
  };
  const licensedPrice = once(() => tierPrice(FIXED, 'Gold'));
  const dearerLicensedPrice = once(() => tierPrice({ ...FIXED, fixedPrice: '9.00' }, 'Platinum'));
  const meteredPrice = once(async () => tierPrice(METERED, 'Metered', (await apiMeter()).id));
  const graduatedPrice = once(async () => tierPrice(GRADUATED, 'Graduated', (await apiMeter()).id));
  const volumePrice = once(async () => tierPrice(VOLUME, 'Volume', (await apiMeter()).id));
  const packagePrice = once(async () => tierPrice(PACKAGE, 'Package', (await apiMeter()).id));

  const platformCustomer = once(async () => {
    const customer = await stripe.customers.create(
      { email: `meterline-contract+${runId}@example.com`, description: `Customer for ${subscriber}`, metadata: mark({ meterline_subscriber: subscriber }) },
      { idempotencyKey: idempotencyKey(tenant, 'subscriber', subscriber, runId, 'platform-customer') },
    );
    deleteLater(customer.id, undefined);
    // Test setup, not an engine call: the subscriber saves a card on the platform (Stripe's test
    // card pm_card_visa: https://docs.stripe.com/testing#cards); the engine only clones it.
    const card = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    platformCard = card.id;
    return stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: card.id } });
  });

  const connectedCustomer = async (role: string) => {
    const customer = await stripe.customers.create(
      { description: `Meterline contract ${runId} ${role}`, metadata: mark({ meterline_application: `app-${runId}-${role}` }) },
      { stripeAccount: account, idempotencyKey: idempotencyKey(tenant, 'application', runId, role, account, 'shared-customer') },
    );
    deleteLater(customer.id, account);
    return customer;
  };

  const sharedCustomer = once(async () => {
    const platform = await platformCustomer();
    const customer = await stripe.customers.create(
      {
        email: platform.email!,
        description: `Shared customer for app-${runId}/${subscriber}`,
        metadata: mark({ meterline_platform_customer: platform.id, meterline_application: `app-${runId}`, meterline_provider: 'provider' }),
      },
      { stripeAccount: account, idempotencyKey: idempotencyKey(tenant, 'application', `app-${runId}`, 'provider', 'provider', account, 'shared-customer') },
    );
    deleteLater(customer.id, account);
    return customer;
  });

  const clonedCard = once(async () => {
    const platform = await platformCustomer();
    const shared = await sharedCustomer();
    const source = platformCard!;
    const created = await sendPastStoredErrors(idempotencyKey('clone', source, account, shared.id), (key) =>
      stripe.paymentMethods.create({ customer: platform.id, payment_method: source, metadata: { meterline_clone_of: source } }, { stripeAccount: account, idempotencyKey: key }),
    );
    const attached = await sendPastStoredErrors(idempotencyKey('attach', created.id, shared.id), (key) =>
      stripe.paymentMethods.attach(created.id, { customer: shared.id }, { stripeAccount: account, idempotencyKey: key }),
    );
    await stripe.customers.update(shared.id, { invoice_settings: { default_payment_method: attached.id } }, { stripeAccount: account });
    return attached;
  });

  const cardSubscription = once(async () => {
    const shared = await sharedCustomer();
    const card = await clonedCard();
    const metered = await meteredPrice();
    const product = await apiProduct();
    const params: Stripe.SubscriptionCreateParams = {
      customer: shared.id,
      items: [{ price: metered.id }, baseFeeItem(METERED, 'Metered', product.id)!],
      collection_method: 'charge_automatically',
      default_payment_method: card.id,
      metadata: mark({ meterline_subscription_uuid: subscriptionUuid, meterline_api_uuid: apiUuid, meterline_application_uuid: `app-${runId}` }),
    };
    const key = idempotencyKey(tenant, 'subscription', subscriptionUuid, 'create', 'first');
    const create = () => stripe.subscriptions.create(params, { stripeAccount: account, idempotencyKey: key });
    const subscription = await sendPastStoredErrors(key, create);
    return { subscription, create };
  });

  return {
    tenant,
    apiUuid,
    subscriber,
    subscriptionUuid,
    mark,
    archiveLater,
    apiProduct,
    apiMeter,
    licensedPrice,
    dearerLicensedPrice,
    meteredPrice,
    graduatedPrice,
    volumePrice,
    packagePrice,
    platformCustomer,
    platformCardId: () => platformCard,
    connectedCustomer,
    sharedCustomer,
    clonedCard,
    cardSubscription,
  };
}

/** A fixture made once, on first use; later callers share the same promise. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}
