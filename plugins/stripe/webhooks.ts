import Stripe from 'stripe';
import { z } from 'zod';
import {
  WebhookRejectedError,
  type BillingEvent,
  type InvoiceSnapshot,
  type InvoiceStatus,
  type UsageErrorReport,
  type WebhookVerifier,
} from '../../src/monetization/billing-events';
import { SIGNATURE_HEADER, WEBHOOK_SECRET_KEY } from './capabilities';
import { balanceMovement, servicePeriod } from './invoices.service';
import { fieldName } from '../../src/validation/issues';

/** Stripe's default: a delivery signed more than 5 minutes from now is refused. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const INVOICE_STATUS: Record<Stripe.Invoice.Status, InvoiceStatus> = {
  draft: 'DRAFT',
  open: 'OPEN',
  paid: 'PAID',
  void: 'VOID',
  uncollectible: 'UNCOLLECTIBLE',
};

const INVOICE_CHANGES = {
  'invoice.finalized': 'finalized',
  'invoice.paid': 'paid',
  'invoice.voided': 'voided',
  'invoice.marked_uncollectible': 'marked_uncollectible',
  'invoice.payment_failed': 'payment_failed',
  // The payment awaits the customer's authentication (3-D Secure): not paid, like a failure
  // ("Sent when the invoice requires customer authentication",
  // https://docs.stripe.com/billing/subscriptions/event-destinations).
  'invoice.payment_action_required': 'payment_failed',
} as const;

const SUBSCRIPTION_EVENTS = ['customer.subscription.updated', 'customer.subscription.deleted'] as const;

/**
 * The events this engine reads: what a tenant admin selects on the Stripe webhook endpoint
 * (README, "Invoices, webhooks and access"); every other event is acknowledged and ignored.
 */
export const STRIPE_WEBHOOK_EVENTS: readonly Stripe.WebhookEndpointCreateParams.EnabledEvent[] = [
  ...(Object.keys(INVOICE_CHANGES) as Array<keyof typeof INVOICE_CHANGES>),
  ...SUBSCRIPTION_EVENTS,
];

/** 9999-12-31T23:59:59Z: the last second a JavaScript Date and every database here can hold. */
const LAST_UNIX_SECOND = 253_402_300_799;
const unixSeconds = z.int().min(0).max(LAST_UNIX_SECOND);
const minorUnits = z.int();
const nonEmpty = z.string().min(1);

const subscriptionRef = z.union([nonEmpty, z.object({ id: nonEmpty })]);
const metadataSchema = z.record(z.string(), z.string());
const subscriptionDetails = z.object({ subscription: subscriptionRef.nullish(), metadata: metadataSchema.nullish() });

/**
 * The parts of a Stripe event Meterline reads, checked before any is used (Stripe adds fields
 * over time, so unknown ones are allowed and dropped).
 *
 * Stripe renders an event's object at the receiving endpoint's API version, or the account's
 * default when the endpoint has none (https://docs.stripe.com/webhooks/versioning), which need not
 * be the version this engine's SDK is pinned to. So the fields read are read in every shape they
 * have had: the invoice's subscription is under `parent.subscription_details` from 2025-03-31.basil
 * on and top-level `subscription`/`subscription_details` before
 * (https://docs.stripe.com/changelog/basil/2025-03-31/adds-new-parent-field-to-invoicing-objects).
 * The other fields read (amounts, status, periods, `hosted_invoice_url`, `invoice_pdf`, `billing_reason`,
 * `last_finalization_error`; a subscription's `id` and `status`) kept their shape. Reading both
 * shapes, rather than re-reading each object at the pinned version, needs no API call per event.
 */
const eventSchema = z.object({
  id: nonEmpty,
  type: nonEmpty,
  created: unixSeconds,
  account: nonEmpty.nullish(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

const invoiceSchema = z.object({
  id: nonEmpty,
  currency: z.string().regex(/^[a-z]{3}$/i, 'expected a three-letter currency code'),
  status: z.enum(['draft', 'open', 'paid', 'void', 'uncollectible']).nullish(),
  total: minorUnits,
  amount_due: minorUnits,
  amount_paid: minorUnits,
  amount_remaining: minorUnits,
  starting_balance: z.number().int().nullish(),
  /** Null until the invoice is finalized. */
  ending_balance: z.number().int().nullish(),
  period_start: unixSeconds,
  period_end: unixSeconds,
  hosted_invoice_url: z.string().nullish(),
  invoice_pdf: z.string().nullish(),
  /**
   * The lines' service periods (the invoice's first page of lines, which the event carries): the
   * period the invoice pays for. Lines in any other shape are ignored (the invoice's own period is
   * shown), never a reason to refuse the delivery.
   */
  lines: z
    .object({ data: z.array(z.object({ period: z.object({ start: unixSeconds, end: unixSeconds }) })) })
    .nullish()
    .catch(null),
  billing_reason: z.string().nullish(),
  last_finalization_error: z.object({ message: z.string().nullish() }).nullish(),
  /** From 2025-03-31.basil on. */
  parent: z.object({ subscription_details: subscriptionDetails.nullish() }).nullish(),
  /** Before 2025-03-31.basil (an endpoint on an older version still gets these). */
  subscription: subscriptionRef.nullish(),
  subscription_details: z.object({ metadata: metadataSchema.nullish() }).nullish(),
});

const subscriptionSchema = z.object({ id: nonEmpty, status: nonEmpty });

/**
 * Statuses in which a Stripe subscription has ended, whichever event announced them: Stripe moves
 * an `incomplete` subscription whose first invoice stays unpaid for 23 hours to the terminal
 * `incomplete_expired` with `customer.subscription.updated`
 * (https://docs.stripe.com/billing/subscriptions/overview#payment-status), and cancels one after
 * its retries are exhausted when the account's settings say so
 * (https://docs.stripe.com/billing/revenue-recovery/smart-retries). Both are reported as deleted.
 */
const ENDED_STATUSES = new Set(['canceled', 'incomplete_expired']);

/**
 * Stripe's report of meter events it accepted and then found invalid ("Occurs when a Meter has
 * invalid async usage events": https://docs.stripe.com/api/v2/core/events/event-types), e.g. for a
 * customer the account does not have or an inactive meter. A thin event: the delivery is only the
 * notification (`context`: the connected account), its data is read from `GET /v2/core/events/:id`
 * (https://docs.stripe.com/event-destinations#thin-payload).
 */
export const METER_ERROR_REPORT = 'v1.billing.meter.error_report_triggered';

const thinEventSchema = z.object({
  id: nonEmpty,
  object: z.literal('v2.core.event'),
  type: nonEmpty,
  created: z.iso.datetime({ offset: true }),
  context: nonEmpty.nullish(),
});

/**
 * The data of a meter error report (stripe-node's V1BillingMeterErrorReportTriggeredEvent.Data):
 * one meter's errors over a validation window, counted by code, each code with a few samples.
 */
const meterErrorReportSchema = z.object({
  data: z.object({
    reason: z.object({
      error_types: z.array(
        z.object({
          code: nonEmpty,
          error_count: z.int().min(0).nullish(),
          sample_errors: z.array(z.object({ error_message: z.string(), request: z.object({ identifier: nonEmpty }) })),
        }),
      ),
    }),
    validation_start: z.string().nullish(),
    validation_end: z.string().nullish(),
  }),
});

/** Reads a thin event's full form (with its data) in the tenant's platform account, for `context`. */
export type ThinEventFetcher = (tenantDomain: string, id: string, context: string | null) => Promise<unknown>;

/**
 * Verifies a Stripe webhook delivery on its raw bytes with the tenant's signing secret (before
 * anything in it is read), checks the fields Meterline reads, and turns it into a Meterline
 * billing event. A signed delivery that is not a well-formed Stripe event is refused as
 * `malformed`, naming the first bad field.
 */
export class StripeWebhookVerifier implements WebhookVerifier {
  /** `fetchEvent` reads a thin event's data; without it, meter error reports are ignored. */
  constructor(private readonly fetchEvent?: ThinEventFetcher) {}

  /**
   * A meter error report's failed usage, by the identifier each meter event was sent with. Stripe
   * groups a meter's errors per validation window and lists only samples of each code
   * (https://docs.stripe.com/api/v2/core/events/object, example `data`), so a report may count more
   * errors than it names: each named one is returned with its code and message, and, when its code
   * counted more, with that count and window, so the reason shown for the record says how many
   * went unnamed; `unnamed` totals them (`meterline reconcile usage` finds their records).
   */
  async usageErrors(event: BillingEvent, tenantDomain: string): Promise<UsageErrorReport | null> {
    if (event.type !== 'ignored' || event.engineType !== METER_ERROR_REPORT || !this.fetchEvent) return null;
    const full = read(meterErrorReportSchema, await this.fetchEvent(tenantDomain, event.id, event.account), `the ${METER_ERROR_REPORT} event`);
    const { reason, validation_start: from, validation_end: to } = full.data;
    const window = from && to ? ` from ${from} to ${to}` : '';
    let unnamed = 0;
    const errors = reason.error_types.flatMap((type) => {
      const named = new Set(type.sample_errors.map((sample) => sample.request.identifier)).size;
      const counted = Math.max(type.error_count ?? 0, named);
      unnamed += counted - named;
      const note = counted > named ? ` (Stripe counted ${counted} ${type.code} errors on this meter${window} and named only ${named}: the other ${counted - named} are not identified)` : '';
      return type.sample_errors.map((sample) => ({ identifier: sample.request.identifier, reason: `${type.code}: ${sample.error_message}${note}` }));
    });
    return { id: event.id, occurredAt: event.occurredAt, account: event.account, errors, ...(unnamed > 0 ? { unnamed } : {}) };
  }

  verify(input: { secret: string | undefined; rawBody: Buffer; signature: string | undefined; now: Date }): BillingEvent {
    const { secret, rawBody, signature, now } = input;
    if (!secret) throw new WebhookRejectedError('no_secret', `the tenant has no ${WEBHOOK_SECRET_KEY} configured`);
    if (!signature) throw new WebhookRejectedError('missing_signature', `the ${SIGNATURE_HEADER} header is missing`);
    const signedAt = signedTimestamp(signature);
    if (signedAt === undefined) throw new WebhookRejectedError('bad_signature', `the ${SIGNATURE_HEADER} header has no timestamp`);
    const nowSeconds = Math.floor(now.getTime() / 1000);
    if (Math.abs(nowSeconds - signedAt) > SIGNATURE_TOLERANCE_SECONDS) {
      throw new WebhookRejectedError('stale', `the delivery was signed ${nowSeconds - signedAt} s ago, beyond the ${SIGNATURE_TOLERANCE_SECONDS} s tolerance`);
    }
    // The signature is checked by itself (constructEvent refuses thin events), then the body parsed.
    try {
      Stripe.webhooks.signature!.verifyHeader(rawBody, signature, secret, SIGNATURE_TOLERANCE_SECONDS, undefined, nowSeconds);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
        throw new WebhookRejectedError('bad_signature', `the ${SIGNATURE_HEADER} does not match the body and the tenant secret`);
      }
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawBody.toString('utf8'));
    } catch {
      throw new WebhookRejectedError('malformed', 'the delivery is not JSON');
    }
    return toBillingEvent(parsed);
  }
}

function signedTimestamp(header: string): number | undefined {
  const part = header.split(',').find((p) => p.trim().startsWith('t='));
  const value = part ? Number(part.trim().slice(2)) : NaN;
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Parses `input` with `schema`, or refuses the delivery naming the first bad field. */
function read<T>(schema: z.ZodType<T>, input: unknown, what: string, prefix: readonly PropertyKey[] = []): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = fieldName([...prefix, ...issue.path], '');
  throw new WebhookRejectedError('malformed', `${what}${path ? ` field ${path}` : ''} is invalid: ${issue.message}`);
}

function toBillingEvent(input: unknown): BillingEvent {
  if (typeof input === 'object' && input !== null && (input as { object?: unknown }).object === 'v2.core.event') {
    // A thin event: nothing but its identity is in the delivery (see usageErrors).
    const thin = read(thinEventSchema, input, 'the Stripe thin event');
    return { id: thin.id, occurredAt: new Date(thin.created), account: thin.context ?? null, type: 'ignored', engineType: thin.type };
  }
  const event = read(eventSchema, input, 'the Stripe event');
  const base = { id: event.id, occurredAt: new Date(event.created * 1000), account: event.account ?? null };
  const object = event.data.object;
  if (event.type in INVOICE_CHANGES) {
    const invoice = read(invoiceSchema, object, `the ${event.type} event's`, ['data', 'object']);
    return {
      ...base,
      type: 'invoice',
      change: INVOICE_CHANGES[event.type as keyof typeof INVOICE_CHANGES],
      invoice: toSnapshot(invoice),
      failure:
        event.type === 'invoice.payment_action_required'
          ? "the payment awaits the customer's authentication (3-D Secure)"
          : event.type === 'invoice.payment_failed'
            ? (invoice.last_finalization_error?.message ?? 'the payment failed')
            : null,
    };
  }
  if ((SUBSCRIPTION_EVENTS as readonly string[]).includes(event.type)) {
    const subscription = read(subscriptionSchema, object, `the ${event.type} event's`, ['data', 'object']);
    return {
      ...base,
      type: 'subscription',
      change: event.type === 'customer.subscription.deleted' || ENDED_STATUSES.has(subscription.status) ? 'deleted' : 'updated',
      engineSubscriptionId: subscription.id,
      status: subscription.status,
    };
  }
  return { ...base, type: 'ignored', engineType: event.type };
}

function toSnapshot(invoice: z.infer<typeof invoiceSchema>): InvoiceSnapshot {
  const details = invoice.parent?.subscription_details;
  const subscription = details?.subscription ?? invoice.subscription ?? null;
  const metadata = details?.metadata ?? invoice.subscription_details?.metadata;
  return {
    engineInvoiceId: invoice.id,
    engineSubscriptionId: typeof subscription === 'string' ? subscription : (subscription?.id ?? null),
    subscriptionUuid: metadata?.meterline_subscription_uuid ?? null,
    status: INVOICE_STATUS[invoice.status ?? 'draft'],
    currency: invoice.currency.toLowerCase(),
    total: BigInt(invoice.total),
    amountDue: BigInt(invoice.amount_due),
    amountPaid: BigInt(invoice.amount_paid),
    amountRemaining: BigInt(invoice.amount_remaining),
    ...periodOf(invoice),
    hostedInvoiceUrl: invoice.hosted_invoice_url ?? null,
    invoicePdfUrl: invoice.invoice_pdf ?? null,
    billingReason: invoice.billing_reason ?? null,
    ...balanceOf(invoice),
  };
}

/** The service period the invoice pays for (its lines'), not Stripe's invoice period: see `servicePeriod`. */
function periodOf(invoice: z.infer<typeof invoiceSchema>): Pick<InvoiceSnapshot, 'periodStart' | 'periodEnd'> {
  const { start, end } = servicePeriod(invoice);
  return { periodStart: start, periodEnd: end };
}

/** What a final invoice did with the customer's balance (a draft has not done it yet). */
function balanceOf(invoice: z.infer<typeof invoiceSchema>): Pick<InvoiceSnapshot, 'carriedToBalance' | 'collectedFromBalance'> {
  if (invoice.status === 'draft' || invoice.ending_balance == null || invoice.starting_balance == null) return {};
  const { carried, collected } = balanceMovement({ starting_balance: invoice.starting_balance, ending_balance: invoice.ending_balance });
  return { carriedToBalance: carried, collectedFromBalance: collected };
}
