import { createHash } from 'node:crypto';
import { WebhookRejectedError, type BillingEvent, type InvoiceSnapshot, type WebhookVerifier } from '../../src/monetization/billing-events';
import { MonetizationError } from '../../src/monetization/monetization';
import { currencyExponent } from '../../src/domain/money';
import type { MyFatoorahClient, PaymentStatusData } from './client';
import type { InvoiceRow, MyFatoorahRepository, SubmittedStatus } from './myfatoorah.repository';
import { engineSubscriptionIdOf } from './subscriptions';
import { sign, signatureMatches, signedString, signedValue } from './signature';

/**
 * Webhook V2 deliveries (https://docs.myfatoorah.com/docs/webhook-v2): `{ Event: { Code, Name,
 * CountryIsoCode, CreationDate, Reference }, Data }`, signed in `MyFatoorah-Signature`.
 *
 * `verify` checks the signature over the documented properties (signature.ts) and reads a
 * PAYMENT_STATUS_CHANGED (code 1) into an invoice event; `confirm` then asks GetPaymentStatus
 * (MyFatoorah: "to ensure the payment response is returned from the MyFatoorah end, we encourage
 * you to call the GetPaymentStatus endpoint", https://docs.myfatoorah.com/docs/payment-inquiry) and
 * applies only what it answers, with the amounts, period and kind Meterline recorded when it
 * submitted the invoice.
 *
 * Deduplication: V2 events carry no timestamp in what is signed, and `Event.Reference` is not
 * signed, so the event id is made of the signed properties only (InvoiceId, Invoice.Status,
 * Transaction.Status, PaymentId): a replayed delivery, whatever else it changes, is the same id and
 * so a duplicate. `confirm` appends the status MyFatoorah confirmed, so a delivery applied as
 * "not confirmed" does not hide a later one that is.
 */
export class MyFatoorahWebhookVerifier implements WebhookVerifier {
  constructor(
    private readonly repository: MyFatoorahRepository,
    private readonly clientFor: (tenantDomain: string) => MyFatoorahClient,
  ) {}

  verify(input: { secret: string | undefined; rawBody: Buffer; signature: string | undefined; now: Date }): BillingEvent {
    if (!input.secret) throw new WebhookRejectedError('no_secret', 'The tenant has no MyFatoorah webhook secret key (myfatoorah_webhook_secret)');
    if (!input.signature) throw new WebhookRejectedError('missing_signature', 'The delivery has no MyFatoorah-Signature header');
    let body: unknown;
    try {
      body = JSON.parse(input.rawBody.toString('utf8'));
    } catch {
      throw new WebhookRejectedError('malformed', 'The delivery is not JSON');
    }
    const event = record(record(body)?.Event);
    const data = record(body)?.Data;
    if (!event || typeof event.Code !== 'number' || record(data) === null) {
      const v1 = record(body)?.EventType !== undefined;
      throw new WebhookRejectedError('malformed', v1 ? 'A Webhook V1 event: set the endpoint to Webhook V2 in MyFatoorah' : 'The delivery has no Event.Code and Data');
    }
    const signed = signedString(event.Code, data);
    if (signed === null) {
      throw new WebhookRejectedError('malformed', `Event code ${event.Code} (${String(event.Name)}) is not one Meterline verifies: select only "Payment Status Changed" for this endpoint`);
    }
    if (!signatureMatches(sign(signed, input.secret), input.signature)) {
      throw new WebhookRejectedError('bad_signature', 'The MyFatoorah-Signature does not match the event');
    }
    const occurredAt = dateOr(signedValueOr(data, 'Transaction.TransactionDate') ?? stringOr(event.CreationDate), input.now);
    if (event.Code !== 1) {
      return { id: eventId(['mf', String(event.Code), signed]), occurredAt, account: null, type: 'ignored', engineType: short(String(event.Name ?? event.Code)) };
    }
    const invoiceId = signedValue(data, 'Invoice.Id');
    if (invoiceId === '') throw new WebhookRejectedError('malformed', 'Data.Invoice.Id is missing');
    const invoiceStatus = signedValue(data, 'Invoice.Status').toUpperCase();
    const transactionStatus = signedValue(data, 'Transaction.Status').toUpperCase();
    const id = eventId(['mf', invoiceId, invoiceStatus, transactionStatus, signedValue(data, 'Transaction.PaymentId')]);
    const change = invoiceStatus === 'PAID' ? 'paid' : transactionStatus === 'FAILED' || transactionStatus === 'CANCELED' ? 'payment_failed' : null;
    if (change === null) return { id, occurredAt, account: null, type: 'ignored', engineType: short(`PAYMENT_STATUS_CHANGED ${invoiceStatus}/${transactionStatus}`) };
    const subscriptionUuid = signedValueOr(data, 'Invoice.UserDefinedField');
    const currency = (signedValueOr(data, 'Amount.DisplayCurrency') ?? signedValueOr(data, 'Amount.BaseCurrency') ?? '').toLowerCase();
    const total = minorOr(signedValueOr(data, 'Amount.ValueInDisplayCurrency') ?? signedValueOr(data, 'Amount.ValueInBaseCurrency'), currency);
    const created = dateOr(signedValueOr(data, 'Invoice.CreationDate'), occurredAt);
    const invoice: InvoiceSnapshot = {
      engineInvoiceId: invoiceId,
      engineSubscriptionId: subscriptionUuid ? engineSubscriptionIdOf(subscriptionUuid) : null,
      subscriptionUuid,
      status: change === 'paid' ? 'PAID' : 'OPEN',
      currency,
      total,
      amountDue: total,
      amountPaid: change === 'paid' ? total : 0n,
      amountRemaining: change === 'paid' ? 0n : total,
      periodStart: created,
      periodEnd: created,
      hostedInvoiceUrl: null,
      billingReason: null,
    };
    const failure = change === 'payment_failed' ? (signedValueOr(data, 'Transaction.Error.Message') ?? 'the payment failed') : null;
    return { id, occurredAt, account: null, type: 'invoice', change, invoice, failure };
  }

  /**
   * The event as MyFatoorah's GetPaymentStatus confirms it, for an invoice Meterline submitted:
   * Paid → paid; Canceled (expired) → voided; Pending → a failed payment only when the answer
   * shows that transaction failed, else nothing (a delivery saying Paid for an invoice still
   * Pending changes nothing). An invoice Meterline did not submit is ignored, unless it names a
   * subscription Meterline bills (its submission not yet recorded): then a MonetizationError, so
   * the delivery is answered 502 and comes again.
   */
  async confirm(event: BillingEvent, tenantDomain: string): Promise<BillingEvent> {
    if (event.type !== 'invoice') return event;
    const mfInvoiceId = event.invoice.engineInvoiceId;
    const recorded = await this.repository.invoiceByMfId(tenantDomain, mfInvoiceId);
    if (!recorded) {
      const named = event.invoice.subscriptionUuid ? await this.repository.subscription(event.invoice.subscriptionUuid) : undefined;
      if (named && named.tenantDomain === tenantDomain) {
        throw new MonetizationError('ENGINE_UNAVAILABLE', `MyFatoorah invoice ${mfInvoiceId} of subscription ${named.subscriptionUuid} is not recorded yet; deliver again`);
      }
      return ignored(event, 'unrecorded', 'PAYMENT_STATUS_CHANGED of an invoice Meterline did not submit');
    }
    const status = await this.clientFor(tenantDomain).paymentStatus(mfInvoiceId, 'InvoiceId');
    if (!status) return ignored(event, 'unknown', 'PAYMENT_STATUS_CHANGED of an invoice GetPaymentStatus does not know');
    const confirmed = confirmedChange(event, status);
    if (confirmed === null) {
      return ignored(event, `not-confirmed-${status.InvoiceStatus.toLowerCase()}`, `PAYMENT_STATUS_CHANGED ${event.change} not confirmed: GetPaymentStatus says ${status.InvoiceStatus}`);
    }
    const settled: SubmittedStatus = confirmed.change === 'paid' ? 'PAID' : confirmed.change === 'voided' ? 'VOID' : 'OPEN';
    await this.repository.advanceInvoiceStatus(recorded.invoiceId, settled);
    return {
      id: eventId([event.id, status.InvoiceStatus.toLowerCase()]),
      occurredAt: confirmed.at ?? event.occurredAt,
      account: null,
      type: 'invoice',
      change: confirmed.change,
      invoice: snapshotOf(recorded, settled),
      failure: confirmed.change === 'payment_failed' ? confirmed.failure : null,
    };
  }

  /**
   * A recorded OPEN invoice as GetPaymentStatus answers it now, without a delivery (the sweep of
   * invoices past their expiry, about which MyFatoorah sends nothing): Paid → paid, Canceled →
   * voided, as `confirm` applies them; null while it is Pending or unknown. The event id names the
   * invoice and the status, so sweeping it again, or a webhook saying the same, changes nothing twice.
   */
  async confirmRecorded(recorded: InvoiceRow, client: MyFatoorahClient): Promise<BillingEvent | null> {
    const status = await client.paymentStatus(recorded.mfInvoiceId, 'InvoiceId');
    if (!status) return null;
    const invoiceStatus = status.InvoiceStatus.toLowerCase();
    const change = invoiceStatus === 'paid' ? 'paid' : invoiceStatus === 'canceled' || invoiceStatus === 'cancelled' || invoiceStatus === 'expired' ? 'voided' : null;
    if (change === null) return null;
    const settled: SubmittedStatus = change === 'paid' ? 'PAID' : 'VOID';
    await this.repository.advanceInvoiceStatus(recorded.invoiceId, settled);
    const success = (status.InvoiceTransactions ?? []).find((t) => /^succ/i.test(t.TransactionStatus ?? ''));
    const at = change === 'paid' && success?.TransactionDate ? dateOr(success.TransactionDate, null) : null;
    return {
      id: eventId(['mf', recorded.mfInvoiceId, 'status', invoiceStatus]),
      occurredAt: at ?? recorded.expiresAt ?? recorded.createdAt,
      account: null,
      type: 'invoice',
      change,
      invoice: snapshotOf(recorded, settled),
      failure: null,
    };
  }
}

/** What GetPaymentStatus confirms of the event, or null when it confirms nothing. */
function confirmedChange(
  event: Extract<BillingEvent, { type: 'invoice' }>,
  status: PaymentStatusData,
): { change: 'paid' | 'voided' | 'payment_failed'; at: Date | null; failure: string | null } | null {
  const transactions = status.InvoiceTransactions ?? [];
  const invoiceStatus = status.InvoiceStatus.toLowerCase();
  if (invoiceStatus === 'paid') {
    // "Succss" is how MyFatoorah spells a successful transaction (https://docs.myfatoorah.com/docs/payment-inquiry).
    const success = transactions.find((t) => /^succ/i.test(t.TransactionStatus ?? ''));
    return { change: 'paid', at: success?.TransactionDate ? dateOr(success.TransactionDate, null) : null, failure: null };
  }
  if (invoiceStatus === 'canceled' || invoiceStatus === 'cancelled' || invoiceStatus === 'expired') return { change: 'voided', at: null, failure: null };
  if (event.change !== 'payment_failed') return null;
  // The PaymentId the delivery named (in its id, unless a hashed one): that transaction must have failed.
  const paymentId = event.id.startsWith(HASHED) ? null : event.id.split(':').slice(4).join(':');
  const failed = transactions.find((t) => (paymentId === null || (t.PaymentId ?? '') === paymentId) && /^fail|^cancel/i.test(t.TransactionStatus ?? ''));
  return failed ? { change: 'payment_failed', at: failed.TransactionDate ? dateOr(failed.TransactionDate, null) : null, failure: failed.Error || event.failure } : null;
}

function snapshotOf(row: InvoiceRow, status: SubmittedStatus): InvoiceSnapshot {
  const paid = status === 'PAID' ? row.total : 0n;
  return {
    engineInvoiceId: row.mfInvoiceId,
    engineSubscriptionId: engineSubscriptionIdOf(row.subscriptionUuid),
    subscriptionUuid: row.subscriptionUuid,
    status,
    currency: row.currency,
    total: row.total,
    amountDue: row.total,
    amountPaid: paid,
    amountRemaining: status === 'VOID' ? 0n : row.total - paid,
    periodStart: row.periodStart,
    periodEnd: row.periodEnd,
    hostedInvoiceUrl: row.invoiceUrl,
    invoicePdfUrl: null,
    billingReason: row.kind,
  };
}

function ignored(event: BillingEvent, why: string, engineType: string): BillingEvent {
  return { id: eventId([event.id, why]), occurredAt: event.occurredAt, account: null, type: 'ignored', engineType: short(engineType) };
}

const HASHED = 'mf:sha256:';

/**
 * An event id from its parts joined by colons; one that would not fit Meterline's record of
 * deliveries (255 characters: long values sent by MyFatoorah) is their SHA-256 instead, as unique.
 */
function eventId(parts: readonly string[]): string {
  const id = parts.join(':');
  return id.length <= 200 ? id : `${HASHED}${createHash('sha256').update(id, 'utf8').digest('hex')}`;
}

/** An event type as recorded (at most 100 characters). */
function short(text: string): string {
  return text.length <= 100 ? text : `${text.slice(0, 99)}…`;
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function stringOr(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function signedValueOr(data: unknown, path: string): string | null {
  const value = signedValue(data, path);
  return value === '' ? null : value;
}

function dateOr<T extends Date | null>(text: string | null, fallback: T): Date | T {
  if (text === null) return fallback;
  const parsed = new Date(text);
  return Number.isNaN(parsed.getTime()) ? fallback : parsed;
}

/** A major-unit amount ("20", "4.540") in minor units of the currency; 0 when absent or not exact. */
function minorOr(text: string | null, currency: string): bigint {
  if (text === null || currency === '') return 0n;
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!match) return 0n;
  const exponent = currencyExponent(currency);
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  if (fraction.length > exponent) return 0n;
  return BigInt(`${match[1]}${fraction.padEnd(exponent, '0')}`);
}
