import type { Account } from './accounts';
import type { Clock } from './clock';
import type { Invoice, Transaction } from './invoices';
import { toMajorString } from './money';
import { signWebhookEvent } from './signature';

/**
 * Webhook V2 (https://docs.myfatoorah.com/docs/webhook-v2): a JSON body `{ Event, Data }`, the
 * `MyFatoorah-Signature` header (secret key mandatory in V2), and, when the endpoint does not answer
 * 2xx, the retries configured on the account (at most 5, at most 180 seconds apart).
 */
export interface WebhookEventV2 {
  Event: { Code: number; Name: string; CountryIsoCode: string; CreationDate: string; Reference: string };
  Data: Record<string, unknown>;
}

/**
 * PAYMENT_STATUS_CHANGED (Code 1), shaped as https://docs.myfatoorah.com/docs/webhook-v2-payment-status-data-model:
 * Data.Invoice, Data.Transaction, Data.Customer, Data.Amount, Data.Suppliers. Ids are strings there;
 * statuses are upper case (Invoice PAID / PENDING, Transaction SUCCESS / FAILED).
 */
export function paymentStatusChanged(invoice: Invoice, transaction: Transaction, reference: string, at: Date): WebhookEventV2 {
  const value = toMajorString(invoice.value, invoice.decimals);
  return {
    // webhook-v2: Event.CreationDate is ISO 8601 "yyyy-MM-ddTHH:mm:ssZ", in UTC.
    Event: { Code: 1, Name: 'PAYMENT_STATUS_CHANGED', CountryIsoCode: invoice.account.country, CreationDate: `${at.toISOString().slice(0, 19)}Z`, Reference: reference },
    Data: {
      Invoice: {
        Id: String(invoice.id),
        Status: invoice.paid ? 'PAID' : 'PENDING',
        Reference: invoice.reference,
        CreationDate: invoice.createdAt.toISOString(),
        ExpirationDate: invoice.expiresAt.toISOString(),
        ExternalIdentifier: invoice.customerReference,
        UserDefinedField: invoice.userDefinedField,
        MetaData: null,
      },
      Transaction: {
        Id: transaction.transactionId,
        Status: transaction.status === 'Succss' ? 'SUCCESS' : 'FAILED',
        PaymentMethod: transaction.gateway,
        PaymentId: transaction.paymentId,
        ReferenceId: transaction.referenceId,
        TrackId: transaction.trackId,
        AuthorizationId: transaction.authorizationId,
        TransactionDate: transaction.at.toISOString(),
        ECI: '',
        IP: { Address: '127.0.0.1', Country: invoice.account.country },
        Error: { Code: transaction.errorCode, Message: transaction.error ?? '' },
        Card: null,
      },
      Customer: { Reference: invoice.customerReference, Name: invoice.customerName, Mobile: invoice.customerMobile, Email: invoice.customerEmail },
      Amount: {
        BaseCurrency: invoice.currency,
        ValueInBaseCurrency: value,
        ServiceCharge: '0',
        ServiceChargeVAT: '0',
        ReceivableAmount: value,
        DisplayCurrency: invoice.currency,
        ValueInDisplayCurrency: value,
        PayCurrency: invoice.currency,
        ValueInPayCurrency: value,
      },
      Suppliers: [],
    },
  };
}

export interface DeliveryAttempt {
  at: string;
  /** The endpoint's HTTP status; null when it did not answer (refused, reset, timed out). */
  status: number | null;
  error: string | null;
}

export interface DeliveryRecord {
  reference: string;
  eventName: string;
  invoiceId: string | null;
  url: string;
  body: WebhookEventV2;
  signature: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: DeliveryAttempt[];
  /** When the next attempt is due (ISO, server clock); null once delivered or given up. */
  nextAttemptAt: string | null;
}

interface Delivery extends Omit<DeliveryRecord, 'nextAttemptAt'> {
  retries: number;
  retryDelaySeconds: number;
  nextAtMs: number | null;
  inFlight: Promise<void> | null;
}

/** Seconds the server waits for the endpoint to answer one attempt (ours; MyFatoorah does not document it). */
export const DELIVERY_TIMEOUT_MS = 10_000;

export class WebhookDispatcher {
  private readonly queue: Delivery[] = [];
  private paused = false;
  private nextReference = 1;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly clock: Clock) {}

  /** Starts the background loop that attempts due deliveries (real time passes in wall mode; retries fall due). */
  start(intervalMs = 100): void {
    this.timer = setInterval(() => this.runDue(), intervalMs);
    this.timer.unref();
  }

  newReference(): string {
    return `WH-${String(this.nextReference++).padStart(6, '0')}`;
  }

  /** Queues an event for the account's endpoint and starts its first attempt; false when the account has no endpoint. */
  send(account: Account, event: WebhookEventV2): boolean {
    if (!account.webhook.url || this.closed) return false;
    const invoice = event.Data.Invoice as { Id?: string } | undefined;
    this.queue.push({
      reference: event.Event.Reference,
      eventName: event.Event.Name,
      invoiceId: invoice?.Id ?? null,
      url: account.webhook.url,
      body: event,
      signature: signWebhookEvent(event, account.webhook.secret),
      state: 'pending',
      attempts: [],
      retries: account.webhook.retries,
      retryDelaySeconds: account.webhook.retryDelaySeconds,
      nextAtMs: this.clock.nowMs(),
      inFlight: null,
    });
    this.runDue();
    return true;
  }

  /** Starts every due attempt (not while paused). */
  runDue(): void {
    if (this.paused || this.closed) return;
    const now = this.clock.nowMs();
    for (const delivery of this.queue) {
      if (delivery.state === 'pending' && !delivery.inFlight && delivery.nextAtMs !== null && delivery.nextAtMs <= now) {
        delivery.inFlight = this.attempt(delivery).finally(() => {
          delivery.inFlight = null;
        });
      }
    }
  }

  /** Resolves when no attempt is due or under way (a failed attempt's retry lies in the future: advance the clock for it). */
  async flush(): Promise<void> {
    for (;;) {
      this.runDue();
      const inFlight = this.queue.map((d) => d.inFlight).filter((p): p is Promise<void> => p !== null);
      if (inFlight.length === 0) return;
      await Promise.all(inFlight);
    }
  }

  private async attempt(delivery: Delivery): Promise<void> {
    const at = this.clock.now().toISOString();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const response = await fetch(delivery.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'MyFatoorah-Signature': delivery.signature },
        body: JSON.stringify(delivery.body),
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      status = response.status;
      await response.arrayBuffer().catch(() => undefined);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    delivery.attempts.push({ at, status, error });
    if (status !== null && status >= 200 && status < 300) {
      delivery.state = 'delivered';
      delivery.nextAtMs = null;
    } else if (delivery.attempts.length <= delivery.retries) {
      delivery.nextAtMs = this.clock.nowMs() + delivery.retryDelaySeconds * 1000;
    } else {
      delivery.state = 'failed';
      delivery.nextAtMs = null;
    }
  }

  deliveries(): DeliveryRecord[] {
    return this.queue.map(({ retries: _r, retryDelaySeconds: _d, nextAtMs, inFlight: _f, ...record }) => ({
      ...record,
      attempts: [...record.attempts],
      nextAttemptAt: nextAtMs === null ? null : new Date(nextAtMs).toISOString(),
    }));
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.runDue();
  }

  /** Sends an event again (same body, signature and Event.Reference, as a retry is); returns how many deliveries were queued. */
  replay(reference: string): number {
    const originals = this.queue.filter((d) => d.reference === reference);
    for (const original of originals) {
      this.queue.push({ ...original, state: 'pending', attempts: [], nextAtMs: this.clock.nowMs(), inFlight: null });
    }
    this.runDue();
    return originals.length;
  }

  reset(): void {
    this.queue.length = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.all(this.queue.map((d) => d.inFlight).filter((p): p is Promise<void> => p !== null));
  }
}
