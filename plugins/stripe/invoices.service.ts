import type Stripe from 'stripe';
import type { ApiRef, SubscriptionRef } from '../../src/domain/model';
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
    return toPendingInvoice(preview, connected, subscription.api.name);
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

function toPendingInvoice(invoice: Stripe.Invoice, account: Stripe.Account, apiName: string): PendingInvoice {
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
    dueDate: invoice.due_date === null ? null : fromUnix(invoice.due_date),
    nextPaymentAttempt: invoice.next_payment_attempt === null ? null : fromUnix(invoice.next_payment_attempt),
    paid: invoice.status === 'paid',
    subtotal: BigInt(invoice.subtotal),
    tax,
    total: BigInt(invoice.total),
    amountDue: BigInt(invoice.amount_due),
    amountPaid: BigInt(invoice.amount_paid),
    amountRemaining: BigInt(invoice.amount_remaining),
    lines: invoice.lines.data.map((line) => toLine(line, apiName)),
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
  };
}

function toLine(line: Stripe.InvoiceLineItem, apiName: string): InvoiceLine {
  const unit = line.pricing?.unit_amount_decimal;
  return {
    description: line.description ?? apiName,
    apiName,
    quantity: line.quantity ?? 0,
    unitAmountDecimal: unit === null || unit === undefined ? null : String(unit),
    amount: BigInt(line.amount),
  };
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
