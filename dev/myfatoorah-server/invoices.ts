import { COUNTRIES, CURRENCY_DECIMALS, type Account } from './accounts';
import type { Clock } from './clock';

/**
 * Invoices as MyFatoorah keeps them (https://docs.myfatoorah.com/docs/payment-inquiry): an invoice
 * may have several transactions; it is "Paid" once one transaction succeeded and "Pending" while
 * every transaction is in progress or failed. Past its expiry an unpaid invoice can no longer be
 * paid; GetPaymentStatus then answers "Canceled" (InvoiceStatus is one of "Pending", "Paid",
 * "Canceled": https://docs.myfatoorah.com/docs/get-payment-status).
 */
export type InvoiceStatus = 'Pending' | 'Paid' | 'Canceled';

/**
 * A payment attempt. GetPaymentStatus spells a successful transaction "Succss" (sic:
 * https://docs.myfatoorah.com/docs/payment-inquiry, "with 'Succss' status"); the V2 webhook says
 * "SUCCESS" / "FAILED" (https://docs.myfatoorah.com/docs/webhook-v2-payment-status-data-model).
 */
export interface Transaction {
  transactionId: string;
  paymentId: string;
  status: 'Succss' | 'Failed';
  at: Date;
  gateway: string;
  referenceId: string;
  trackId: string;
  authorizationId: string;
  error: string | null;
  errorCode: string;
}

export interface InvoiceItem {
  ItemName: string;
  Quantity: number;
  /** Minor units of the invoice currency. */
  unitPrice: bigint;
}

export interface Invoice {
  id: number;
  /** The key in the invoice URL. */
  key: string;
  /** MyFatoorah's own reference ("2026000001"). */
  reference: string;
  account: Account;
  createdAt: Date;
  expiresAt: Date;
  /** Minor units of `currency`. */
  value: bigint;
  currency: string;
  decimals: number;
  customerName: string;
  customerEmail: string | null;
  customerMobile: string | null;
  customerReference: string | null;
  userDefinedField: string | null;
  callBackUrl: string | null;
  errorUrl: string | null;
  language: string;
  notificationOption: string;
  items: InvoiceItem[];
  paid: boolean;
  transactions: Transaction[];
}

export interface NewInvoice extends Omit<Invoice, 'id' | 'key' | 'reference' | 'createdAt' | 'paid' | 'transactions' | 'decimals'> {}

export class InvoiceStore {
  private readonly byId = new Map<number, Invoice>();
  private nextId = 600001;
  private nextPayment = 1;

  constructor(private readonly clock: Clock) {}

  create(input: NewInvoice): Invoice {
    const id = this.nextId++;
    const now = this.clock.now();
    const invoice: Invoice = {
      ...input,
      id,
      key: `0106${String(id).padStart(10, '0')}`,
      reference: `${now.getUTCFullYear()}${String(id).padStart(6, '0')}`,
      createdAt: now,
      decimals: CURRENCY_DECIMALS[input.currency] ?? 3,
      paid: false,
      transactions: [],
    };
    this.byId.set(id, invoice);
    return invoice;
  }

  get(id: number): Invoice | undefined {
    return this.byId.get(id);
  }

  all(): Invoice[] {
    return [...this.byId.values()];
  }

  byKey(key: string): Invoice | undefined {
    return this.all().find((invoice) => invoice.key === key);
  }

  status(invoice: Invoice): InvoiceStatus {
    if (invoice.paid) return 'Paid';
    return this.clock.nowMs() >= invoice.expiresAt.getTime() ? 'Canceled' : 'Pending';
  }

  /**
   * An invoice of the account by GetPaymentStatus's key. CustomerReference is not unique at
   * MyFatoorah (SendPayment takes no idempotency key and never refuses a repeated reference): the
   * newest invoice with the reference answers.
   */
  find(account: Account, keyType: 'invoiceid' | 'paymentid' | 'customerreference', key: string): Invoice | undefined {
    const mine = this.all().filter((invoice) => invoice.account.token === account.token);
    if (keyType === 'invoiceid') return mine.find((invoice) => String(invoice.id) === key);
    if (keyType === 'paymentid') return mine.find((invoice) => invoice.transactions.some((t) => t.paymentId === key));
    return mine.filter((invoice) => invoice.customerReference === key).pop();
  }

  /** Records a payment attempt; a successful one pays the invoice. */
  attempt(invoice: Invoice, outcome: 'Succss' | 'Failed', gateway: string, error: string | null): Transaction {
    const n = this.nextPayment++;
    const now = this.clock.now();
    const transaction: Transaction = {
      transactionId: String(700000 + n),
      // PaymentIds are long digit strings at MyFatoorah ("07076127942302114071").
      paymentId: `0707${String(invoice.id).padStart(8, '0')}${String(n).padStart(8, '0')}`,
      status: outcome,
      at: now,
      gateway,
      referenceId: String(100000000000 + n),
      trackId: `${now.toISOString().slice(0, 10)}_${n}`,
      authorizationId: outcome === 'Succss' ? String(100000 + n) : '',
      error: error,
      errorCode: outcome === 'Failed' ? 'MF020' : '',
    };
    invoice.transactions.push(transaction);
    if (outcome === 'Succss') invoice.paid = true;
    return transaction;
  }

  reset(): void {
    this.byId.clear();
  }
}

export function countryCurrency(account: Account): string {
  return COUNTRIES[account.country].currency;
}
