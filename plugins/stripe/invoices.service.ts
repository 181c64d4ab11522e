import type Stripe from 'stripe';
import type { ApiRef, SubscriptionRef } from '../../src/domain/model';
import { currencyExponent, formatDecimal, parseDecimal } from '../../src/domain/money';
import { MonetizationError, type ApiRevenue, type InvoiceLine, type PendingInvoice } from '../../src/monetization/monetization';
import type { StripeClients } from './stripe.clients';
import { callStripe } from './stripe.errors';
import type { MonetizedSubscriptionRow, StripeRepository } from './stripe.repository';

/**
 * What subscribers owe and what publishers earned: the pending invoice of a subscription from
 * Stripe's invoice preview (the current period, metered usage included), and the revenue of an
 * API from its subscriptions' paid invoices, each read in the account the subscription lives in.
 */
export class InvoicesService {
  constructor(
    private readonly clients: StripeClients,
    private readonly repository: StripeRepository,
  ) {}

  async pending(subscription: SubscriptionRef): Promise<PendingInvoice> {
    const { row, account } = await this.monetized(subscription);
    const stripe = this.clients.forTenant(subscription.api.tenant.domain);
    const preview = await callStripe('preview the invoice', { account, subscription: subscription.uuid }, () =>
      stripe.invoices.createPreview({ customer: row.sharedCustomerId, subscription: row.stripeSubscriptionId }, { stripeAccount: account }),
    );
    const connected = await callStripe('retrieve the connected account', { account }, () => stripe.accounts.retrieve(account));
    // The subscription's prices say what each line is (a fee in advance, metered calls, tiers).
    const current = await callStripe('retrieve the subscription', { account, subscription: subscription.uuid }, () =>
      stripe.subscriptions.retrieve(row.stripeSubscriptionId, {}, { stripeAccount: account }),
    );
    const prices = new Map(current.items.data.map((item) => [item.price.id, item.price]));
    // A tiered price's tiers come only when asked (`expand[]=tiers`); its lines are named by them.
    for (const price of prices.values()) {
      if (price.billing_scheme !== 'tiered' || price.tiers) continue;
      const withTiers = await callStripe('retrieve a price', { account, price: price.id }, () =>
        stripe.prices.retrieve(price.id, { expand: ['tiers'] }, { stripeAccount: account }),
      );
      prices.set(price.id, withTiers);
    }
    return toPendingInvoice(preview, connected, subscription.api.name, prices);
  }

  /**
   * What the API's paid invoices collected, per currency and subscription (`amount_paid`), and
   * what they carried: an invoice whose amount due was below Stripe's minimum charge is marked
   * paid with nothing charged (`amount_paid` 0) and its amount becomes a debit on the customer's
   * balance, collected with the customer's next invoice (https://docs.stripe.com/api/invoices/object,
   * https://docs.stripe.com/billing/customer/balance). Each invoice's part is read from its own
   * balances (see `balanceMovement`), so nothing is counted twice.
   */
  async revenue(api: ApiRef): Promise<ApiRevenue> {
    const apiId = await this.repository.apiId(api.uuid);
    if (apiId === undefined) throw new MonetizationError('NOT_FOUND', `API ${api.uuid} does not exist`);
    const rows = await this.repository.monetizedSubscriptionsOfApi(apiId);
    const result: Required<ApiRevenue> = { byCurrency: {}, subscriptions: [], carriedToBalance: {}, collectedFromBalance: {} };
    if (rows.length === 0) return result;
    const stripe = this.clients.forTenant(api.tenant.domain);
    const add = (totals: Record<string, bigint>, currency: string, amount: bigint) => {
      if (amount !== 0n) totals[currency] = (totals[currency] ?? 0n) + amount;
    };
    for (const row of rows) {
      const account = await this.repository.accountOf(row);
      if (!account) continue;
      const paid = await callStripe('list paid invoices', { account }, async () => {
        const totals = new Map<string, bigint>();
        for await (const invoice of stripe.invoices.list(
          { subscription: row.stripeSubscriptionId, status: 'paid', limit: 100 },
          { stripeAccount: account },
        )) {
          totals.set(invoice.currency, (totals.get(invoice.currency) ?? 0n) + BigInt(invoice.amount_paid));
          const movement = balanceMovement(invoice);
          add(result.carriedToBalance, invoice.currency, movement.carried);
          add(result.collectedFromBalance, invoice.currency, movement.collected);
        }
        return totals;
      });
      for (const [currency, amount] of paid) {
        result.byCurrency[currency] = (result.byCurrency[currency] ?? 0n) + amount;
        result.subscriptions.push({ subscriptionUuid: row.subscriptionUuid ?? row.stripeSubscriptionId, currency, amount });
      }
    }
    return result;
  }

  private async monetized(subscription: SubscriptionRef): Promise<{ row: MonetizedSubscriptionRow; account: string }> {
    const billed = await this.repository.billedSubscription(subscription.api.uuid, subscription.application.uuid);
    if (!billed) throw new MonetizationError('NOT_MONETIZED', `subscription ${subscription.uuid} is not billed`, { subscription: subscription.uuid });
    return billed;
  }
}

function toPendingInvoice(invoice: Stripe.Invoice, account: Stripe.Account, apiName: string, prices: ReadonlyMap<string, Stripe.Price>): PendingInvoice {
  const tax = (invoice.total_taxes ?? []).reduce((sum, t) => sum + BigInt(t.amount), 0n);
  return {
    invoiceId: invoice.id ?? null,
    description: invoice.description,
    currency: invoice.currency,
    accountName: account.business_profile?.name ?? account.settings?.dashboard?.display_name ?? invoice.account_name ?? null,
    accountCountry: account.country ?? invoice.account_country ?? null,
    customerEmail: invoice.customer_email,
    periodStart: fromUnix(invoice.period_start),
    periodEnd: fromUnix(invoice.period_end),
    servicePeriod: servicePeriod(invoice),
    dueDate: invoice.due_date === null ? null : fromUnix(invoice.due_date),
    nextPaymentAttempt: invoice.next_payment_attempt === null ? null : fromUnix(invoice.next_payment_attempt),
    paid: invoice.status === 'paid',
    subtotal: BigInt(invoice.subtotal),
    tax,
    total: BigInt(invoice.total),
    amountDue: BigInt(invoice.amount_due),
    amountPaid: BigInt(invoice.amount_paid),
    amountRemaining: BigInt(invoice.amount_remaining),
    lines: withTierPlaces(invoice.lines.data, prices).map(({ line, tier }) => toLine(line, apiName, invoice.currency, prices, tier)),
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
  };
}

function toLine(line: Stripe.InvoiceLineItem, apiName: string, currency: string, prices: ReadonlyMap<string, Stripe.Price>, tier: TierPlace | undefined): InvoiceLine {
  const unit = line.pricing?.unit_amount_decimal;
  const price = priceOf(line, prices);
  return {
    description: describeLine(line, price, apiName, currency, tier),
    apiName,
    quantity: line.quantity ?? 0,
    unitAmountDecimal: unit === null || unit === undefined ? null : String(unit),
    amount: BigInt(line.amount),
  };
}

function priceOf(line: Pick<Stripe.InvoiceLineItem, 'pricing'>, prices: ReadonlyMap<string, Stripe.Price>): Stripe.Price | undefined {
  const priceId = line.pricing?.price_details?.price;
  return typeof priceId === 'string' ? prices.get(priceId) : priceId;
}

/** Where a line of a tiered price stands: the calls of its tier it bills ("calls 1,001–2,982"), or that tier's flat fee. */
export interface TierPlace {
  first: bigint;
  last: bigint | null;
  flat: boolean;
  /** The tier's unit price in minor units ("0.1"), and its flat amount. */
  unitAmountDecimal: string;
  flatAmountDecimal: string;
}

type TierLine = Pick<Stripe.InvoiceLineItem, 'quantity' | 'pricing'>;

/**
 * The tier of each line of a graduated price. Stripe bills such a price as one line per tier
 * touched and a tier's flat fee as a line of its own (https://docs.stripe.com/products-prices/pricing-models#graduated-pricing);
 * lines carry no tier number, so a price's unit lines (a unit amount) take its tiers in order and
 * its flat lines (no unit amount) the touched tiers that have a flat amount, in order. A volume
 * price's one line stands in the tier its total falls in. Other lines: no place.
 */
export function withTierPlaces<L extends TierLine>(lines: readonly L[], prices: ReadonlyMap<string, Pick<Stripe.Price, 'billing_scheme' | 'tiers_mode' | 'tiers'>>): Array<{ line: L; tier: TierPlace | undefined }> {
  const places = new Map<L, TierPlace>();
  const byPrice = new Map<string, L[]>();
  for (const line of lines) {
    const id = line.pricing?.price_details?.price;
    const key = typeof id === 'string' ? id : id?.id;
    if (key !== undefined) byPrice.set(key, [...(byPrice.get(key) ?? []), line]);
  }
  for (const [priceId, mine] of byPrice) {
    const price = prices.get(priceId);
    const tiers = price?.billing_scheme === 'tiered' ? (price.tiers ?? []) : [];
    if (tiers.length === 0) continue;
    const bounds = tiers.map((tier, i) => ({
      first: BigInt(i === 0 ? 0 : (tiers[i - 1]!.up_to ?? 0)) + 1n,
      upTo: tier.up_to === null ? null : BigInt(tier.up_to),
      unitAmountDecimal: decimalText(tier.unit_amount_decimal, tier.unit_amount),
      flatAmountDecimal: decimalText(tier.flat_amount_decimal, tier.flat_amount),
    }));
    if (price!.tiers_mode === 'volume') {
      for (const line of mine) {
        const quantity = BigInt(line.quantity ?? 0);
        const tier = bounds.find((b) => b.upTo === null || quantity <= b.upTo) ?? bounds[bounds.length - 1]!;
        places.set(line, { first: tier.first, last: tier.upTo, flat: false, unitAmountDecimal: tier.unitAmountDecimal, flatAmountDecimal: tier.flatAmountDecimal });
      }
      continue;
    }
    const units = mine.filter((line) => line.pricing?.unit_amount_decimal !== null && line.pricing?.unit_amount_decimal !== undefined);
    const flats = mine.filter((line) => !units.includes(line));
    const touched: TierPlace[] = [];
    units.forEach((line, i) => {
      const tier = bounds[i];
      if (!tier) return;
      const place = { first: tier.first, last: tier.first + BigInt(line.quantity ?? 0) - 1n, flat: false, unitAmountDecimal: tier.unitAmountDecimal, flatAmountDecimal: tier.flatAmountDecimal };
      places.set(line, place);
      touched.push(place);
    });
    const withFlat = touched.filter((place) => parseDecimal(place.flatAmountDecimal).digits !== 0n);
    flats.forEach((line, i) => {
      const place = withFlat[i];
      if (place) places.set(line, { ...place, flat: true });
    });
  }
  return lines.map((line) => ({ line, tier: places.get(line) }));
}

function decimalText(value: unknown, integer: number | null): string {
  return value === null || value === undefined ? String(integer ?? 0) : String(value);
}

/**
 * How an invoice moved the customer's debit balance (what the customer owes beyond their invoices):
 * `carried` is what it added (its own amount, below the minimum charge, left for a later invoice),
 * `collected` what it took off and charged. Credits (negative balances) are not revenue and are
 * left out: Stripe keeps total + starting_balance = amount_due + ending_balance.
 */
export function balanceMovement(invoice: Pick<Stripe.Invoice, 'starting_balance' | 'ending_balance'>): { carried: bigint; collected: bigint } {
  const before = BigInt(Math.max(0, invoice.starting_balance));
  const after = BigInt(Math.max(0, invoice.ending_balance ?? 0));
  return after >= before ? { carried: after - before, collected: 0n } : { carried: 0n, collected: before - after };
}

function fromUnix(seconds: number): Date {
  return new Date(seconds * 1000);
}

/**
 * The period an invoice pays for: from its lines' earliest start to their latest end. Stripe's
 * invoice `period_start`/`period_end` is the subscription period the invoice closes, so a
 * subscription's first invoice (`subscription_create`) has period_start == period_end while its
 * in-advance fee line pays for the whole first cycle; each line's `period` is the service it bills
 * (https://docs.stripe.com/api/invoices/object#invoice_object-period_start,
 * https://docs.stripe.com/api/invoice-line-item/object#invoice_line_item_object-period).
 * Without lines: the invoice's own period.
 */
export function servicePeriod(invoice: Pick<Stripe.Invoice, 'period_start' | 'period_end'> & { lines?: { data: ReadonlyArray<{ period: { start: number; end: number } }> } | null }): {
  start: Date;
  end: Date;
} {
  const lines = invoice.lines?.data ?? [];
  if (lines.length === 0) return { start: fromUnix(invoice.period_start), end: fromUnix(invoice.period_end) };
  return {
    start: fromUnix(Math.min(...lines.map((line) => line.period.start))),
    end: fromUnix(Math.max(...lines.map((line) => line.period.end))),
  };
}

/**
 * What a line bought, for people, from its price (the subscription's) and the API's name rather
 * than Stripe's product name, in the words of Meterline's own rating (src/rating/rate.ts):
 * "Hello API · 2,982 calls × 0.002 USD", "Hello API · monthly fee, in advance for 30 Nov – 30 Dec",
 * "Hello API · setup fee". A proration (a plan change within a period) or a line whose price is
 * not the subscription's keeps Stripe's own description, after the API's name.
 */
export function describeLine(
  line: Pick<Stripe.InvoiceLineItem, 'description' | 'quantity' | 'period'> & {
    parent?: { type: string; invoice_item_details?: { proration: boolean } | null; subscription_item_details?: { proration: boolean } | null } | null;
    pricing?: { unit_amount_decimal: unknown } | null;
  },
  price: (Pick<Stripe.Price, 'recurring' | 'billing_scheme' | 'tiers_mode' | 'transform_quantity'> & { unit_amount_decimal: unknown }) | undefined,
  apiName: string,
  currency: string,
  tier?: TierPlace,
): string {
  const named = (what: string) => `${apiName} · ${what}`;
  const quantity = BigInt(line.quantity ?? 0);
  const details = line.parent?.type === 'invoice_item_details' ? line.parent.invoice_item_details : null;
  if (details && !details.proration) return named('setup fee');
  const proration = details?.proration || line.parent?.subscription_item_details?.proration;
  if (!price?.recurring || proration) return named(line.description ?? 'charge');
  if (price.recurring.usage_type === 'licensed') {
    return named(`${CYCLE_WORDS[price.recurring.interval]} fee, in advance for ${dayRange(line.period.start, line.period.end)}`);
  }
  if (price.billing_scheme === 'tiered') {
    if (!tier) return named(`${calls(quantity)}, ${price.tiers_mode === 'volume' ? 'volume' : 'graduated'} tiers`);
    const money = (minor: string) => `${majorUnitPrice(minor, currency)} ${currency.toUpperCase()}`;
    const hasFlat = parseDecimal(tier.flatAmountDecimal).digits !== 0n;
    if (price.tiers_mode === 'volume') {
      // As rating words a volume line: every call at the tier's price (and its flat fee), then the tier.
      const unitZero = parseDecimal(tier.unitAmountDecimal).digits === 0n;
      const what = !hasFlat ? `${calls(quantity)} × ${money(tier.unitAmountDecimal)}` : unitZero
        ? `${calls(quantity)}, flat fee ${money(tier.flatAmountDecimal)}`
        : `${calls(quantity)} × ${money(tier.unitAmountDecimal)} + flat fee ${money(tier.flatAmountDecimal)}`;
      return named(`${what} (volume tier: ${callRange(tier.first, tier.last)})`);
    }
    if (tier.flat) return named(`flat fee for ${callRange(tier.first, tier.last)}`);
    return named(`${callRange(tier.first, tier.last)} × ${money(tier.unitAmountDecimal)}`);
  }
  const unit = price.unit_amount_decimal ?? line.pricing?.unit_amount_decimal ?? null;
  if (unit === null || unit === undefined) return named(calls(quantity));
  const money = `${majorUnitPrice(String(unit), currency)} ${currency.toUpperCase()}`;
  const packageSize = price.transform_quantity?.divide_by;
  if (packageSize && packageSize > 1) {
    const size = BigInt(packageSize);
    const packages = price.transform_quantity!.round === 'down' ? quantity / size : (quantity + size - 1n) / size;
    return named(`${calls(quantity)} in ${grouped(packages)} ${packages === 1n ? 'package' : 'packages'} of ${grouped(size)} × ${money}`);
  }
  return named(`${calls(quantity)} × ${money}`);
}

const CYCLE_WORDS: Record<Stripe.Price.Recurring.Interval, string> = { day: 'daily', week: 'weekly', month: 'monthly', year: 'yearly' };
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function grouped(value: bigint): string {
  return value.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** As src/rating/describe.ts words it (a test keeps the two equal): "calls 1,001–10,000", "call 1,001", "calls 10,001 and more". */
function callRange(first: bigint, last: bigint | null): string {
  if (last === first) return `call ${grouped(first)}`;
  return last === null ? `calls ${grouped(first)} and more` : `calls ${grouped(first)}–${grouped(last)}`;
}

function calls(value: bigint): string {
  return `${grouped(value)} ${value === 1n ? 'call' : 'calls'}`;
}

/** UTC days, "30 Nov – 30 Dec", with the years when they differ. */
function dayRange(startSeconds: number, endSeconds: number): string {
  const [start, end] = [fromUnix(startSeconds), fromUnix(endSeconds)];
  const withYear = start.getUTCFullYear() !== end.getUTCFullYear();
  const day = (date: Date) => `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}${withYear ? ` ${date.getUTCFullYear()}` : ''}`;
  return `${day(start)} – ${day(end)}`;
}

/**
 * Stripe's unit price in (possibly fractional) minor units, "0.2" cents, as the major-unit price
 * the policy was priced in, "0.002" (exact: the decimal point moves), with at least the
 * currency's decimals ("1.00").
 */
function majorUnitPrice(minorUnitDecimal: string, currency: string): string {
  const exponent = currencyExponent(currency);
  const minor = parseDecimal(minorUnitDecimal);
  const plain = formatDecimal({ digits: minor.digits, scale: minor.scale + exponent });
  const decimals = plain.includes('.') ? plain.length - plain.indexOf('.') - 1 : 0;
  if (decimals >= exponent) return plain;
  return `${plain}${decimals === 0 ? '.' : ''}${'0'.repeat(exponent - decimals)}`;
}
