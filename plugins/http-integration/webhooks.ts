import { WebhookRejectedError, type BillingEvent, type InvoiceSnapshot, type InvoiceStatus, type WebhookVerifier } from '../../src/monetization/billing-events';
import type { HttpIntegrationRepository } from './http-integration.repository';
import { sign, signatureMatches } from './signature';

/** Standard Webhooks' tolerance: a timestamp more than 5 minutes from now is refused (replay protection). */
export const TOLERANCE_MS = 5 * 60_000;

const CHANGES = {
  'invoice.finalized': 'finalized',
  'invoice.paid': 'paid',
  'invoice.payment_failed': 'payment_failed',
  'invoice.voided': 'voided',
  'invoice.marked_uncollectible': 'marked_uncollectible',
} as const;
type InboundType = keyof typeof CHANGES;

const STATUSES: readonly InvoiceStatus[] = ['DRAFT', 'OPEN', 'PAID', 'VOID', 'UNCOLLECTIBLE'];

/**
 * The integration's invoice events (docs/custom-billing.md, "Inbound"), Standard Webhooks signed
 * with the tenant's `integration_inbound_secret`: the signature over `webhook-id`,
 * `webhook-timestamp` and the raw body is checked before anything is read, and a timestamp
 * further than 5 minutes from now is stale. The event id is the `webhook-id` (the core
 * deduplicates by it). `confirm` records the invoice for the API's revenue.
 */
export class IntegrationWebhookVerifier implements WebhookVerifier {
  constructor(private readonly repository: HttpIntegrationRepository) {}

  verify(input: { secret: string | undefined; rawBody: Buffer; signature: string | undefined; now: Date; header?: (name: string) => string | undefined }): BillingEvent {
    if (!input.secret) throw new WebhookRejectedError('no_secret', 'The tenant has no integration_inbound_secret');
    const id = input.header?.('webhook-id');
    const timestamp = input.header?.('webhook-timestamp');
    if (!input.signature || !id || !timestamp) throw new WebhookRejectedError('missing_signature', 'The delivery needs webhook-id, webhook-timestamp and webhook-signature headers');
    if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookRejectedError('malformed', 'webhook-timestamp is not unix seconds');
    const body = input.rawBody.toString('utf8');
    if (!signatureMatches(input.signature, sign(input.secret, id, Number(timestamp), body))) {
      throw new WebhookRejectedError('bad_signature', 'The webhook-signature does not match the delivery');
    }
    if (Math.abs(input.now.getTime() - Number(timestamp) * 1000) > TOLERANCE_MS) {
      throw new WebhookRejectedError('stale', 'The webhook-timestamp is more than 5 minutes from now');
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new WebhookRejectedError('malformed', 'The delivery is not JSON');
    }
    const event = record(parsed);
    const type = event?.type;
    const occurredAt = dateOf(event?.timestamp, 'timestamp');
    if (typeof type !== 'string' || !(type in CHANGES)) {
      return { id, occurredAt, account: null, type: 'ignored', engineType: String(type).slice(0, 100) };
    }
    const invoice = record(record(event?.data)?.invoice);
    if (!invoice) throw new WebhookRejectedError('malformed', 'data.invoice is missing');
    const snapshot: InvoiceSnapshot = {
      engineInvoiceId: text(invoice.id, 'data.invoice.id'),
      engineSubscriptionId: text(invoice.subscriptionId, 'data.invoice.subscriptionId'),
      subscriptionUuid: optionalText(invoice.meterlineSubscriptionId),
      status: statusOf(invoice.status),
      currency: text(invoice.currency, 'data.invoice.currency').toLowerCase(),
      total: minor(invoice.total, 'total'),
      amountDue: minor(invoice.amountDue, 'amountDue'),
      amountPaid: minor(invoice.amountPaid, 'amountPaid'),
      amountRemaining: minor(invoice.amountRemaining, 'amountRemaining'),
      periodStart: dateOf(invoice.periodStart, 'data.invoice.periodStart'),
      periodEnd: dateOf(invoice.periodEnd, 'data.invoice.periodEnd'),
      hostedInvoiceUrl: optionalText(invoice.hostedInvoiceUrl),
      invoicePdfUrl: optionalText(invoice.invoicePdfUrl),
      billingReason: optionalText(invoice.billingReason),
    };
    const failure = CHANGES[type as InboundType] === 'payment_failed' ? (optionalText(invoice.failureReason) ?? 'the payment failed') : null;
    return { id, occurredAt, account: null, type: 'invoice', change: CHANGES[type as InboundType], invoice: snapshot, failure };
  }

  /** Records the invoice of a subscription this engine bills (for `getTotalRevenue`); the event is applied as it is. */
  async confirm(event: BillingEvent, tenantDomain: string): Promise<BillingEvent> {
    if (event.type !== 'invoice') return event;
    const { invoice } = event;
    const subscriptionUuid = invoice.subscriptionUuid;
    if (!subscriptionUuid) return event;
    const billed = await this.repository.subscription(subscriptionUuid);
    if (billed && billed.tenantDomain === tenantDomain && billed.externalSubscriptionId === invoice.engineSubscriptionId) {
      await this.repository.recordInvoice({ tenantDomain, invoiceId: invoice.engineInvoiceId, subscriptionUuid, currency: invoice.currency, status: invoice.status, amountPaid: invoice.amountPaid });
    }
    return event;
  }
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new WebhookRejectedError('malformed', `${field} must be a non-empty string`);
  return value;
}

function optionalText(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** Minor units as a string of digits (amounts are never JSON numbers: exact whatever their size). */
function minor(value: unknown, field: string): bigint {
  if (typeof value !== 'string' || !/^-?\d{1,20}$/.test(value)) throw new WebhookRejectedError('malformed', `data.invoice.${field} must be minor units as a string of digits`);
  return BigInt(value);
}

function dateOf(value: unknown, field: string): Date {
  const parsed = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(parsed.getTime())) throw new WebhookRejectedError('malformed', `${field} must be an ISO-8601 time`);
  return parsed;
}

function statusOf(value: unknown): InvoiceStatus {
  const status = typeof value === 'string' ? value.toUpperCase() : '';
  const found = STATUSES.find((s) => s === status);
  if (!found) throw new WebhookRejectedError('malformed', `data.invoice.status must be one of ${STATUSES.map((s) => s.toLowerCase()).join(', ')}`);
  return found;
}
