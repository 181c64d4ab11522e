import type Stripe from 'stripe';
import { minimumChargeAmount } from '../core/currencies';
import { newId } from '../core/ids';
import type { AccountState } from '../state/account-state';
import type { Wire, WireInvoice } from '../wire';

export type WireBalanceTransaction = Wire<Stripe.CustomerBalanceTransaction>;

/**
 * Each customer's balance ledger (newest last). Kept beside the account's state rather than in
 * it: only the balance endpoints and invoice finalization read it.
 */
const ledgers = new WeakMap<AccountState, Map<string, WireBalanceTransaction[]>>();

export function balanceTransactionsOf(account: AccountState, customerId: string): WireBalanceTransaction[] {
  let byCustomer = ledgers.get(account);
  if (!byCustomer) {
    byCustomer = new Map();
    ledgers.set(account, byCustomer);
  }
  let ledger = byCustomer.get(customerId);
  if (!ledger) {
    ledger = [];
    byCustomer.set(customerId, ledger);
  }
  return ledger;
}

function record(
  account: AccountState,
  invoice: WireInvoice,
  type: WireBalanceTransaction['type'],
  amount: number,
  endingBalance: number,
  now: number,
): void {
  balanceTransactionsOf(account, String(invoice.customer)).push({
    id: newId('cbtxn', 14),
    object: 'customer_balance_transaction',
    amount,
    checkout_session: null,
    created: now,
    credit_note: null,
    currency: invoice.currency,
    customer: String(invoice.customer),
    customer_account: null,
    description: null,
    ending_balance: endingBalance,
    invoice: invoice.id,
    livemode: false,
    metadata: null,
    type,
  });
}

/**
 * At finalization, as Stripe does:
 *
 * 1. The customer's balance applies to the invoice: a debit (positive) adds to `amount_due`, a
 *    credit (negative) reduces it down to 0, the rest of the credit stays on the balance
 *    (`applied_to_invoice`). "The credit balance automatically applies toward the next invoice
 *    finalized to a customer": https://docs.stripe.com/billing/customer/balance
 * 2. An amount due below the currency's minimum charge is not charged: "the invoice is
 *    automatically marked paid, and we add the amount due to the customer's credit balance
 *    which is applied to the next invoice" (https://docs.stripe.com/api/invoices/object), as a
 *    debit of type `invoice_too_small` (https://docs.stripe.com/billing/customer/balance#types).
 *    The invoice's `amount_due` is then 0 ("If the invoice's total is smaller than the minimum
 *    charge amount ... the amount_due may be 0": the field's reference), so nothing is paid
 *    (`amount_paid` 0) and `ending_balance` carries the amount.
 *
 * Identity kept: total + starting_balance = amount_due + ending_balance. The caller marks an
 * invoice whose amount due is 0 paid.
 */
export function applyCustomerBalance(account: AccountState, invoice: WireInvoice, now: number): void {
  const customer = account.customers.get(String(invoice.customer));
  const starting = customer?.balance ?? 0;
  invoice.starting_balance = starting;
  let due = invoice.total + starting;
  let ending = 0;
  if (due < 0) {
    ending = due;
    due = 0;
  }
  if (customer && ending !== starting) record(account, invoice, 'applied_to_invoice', ending - starting, ending, now);
  if (due > 0 && due < minimumChargeAmount(invoice.currency)) {
    ending += due;
    if (customer) record(account, invoice, 'invoice_too_small', due, ending, now);
    due = 0;
  }
  invoice.amount_due = due;
  invoice.amount_remaining = due;
  invoice.ending_balance = ending;
  if (customer) customer.balance = ending;
}
