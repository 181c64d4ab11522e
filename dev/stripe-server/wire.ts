import type Stripe from 'stripe';

/**
 * The JSON shape of a Stripe object as it travels over the wire.
 *
 * The SDK's types describe objects *after* the SDK has coerced them: decimal
 * strings such as `unit_amount_decimal` become `Stripe.Decimal` instances. The
 * server emits plain JSON, so those fields are strings here. Everything else is
 * the SDK's own type, which keeps the compiler checking our field names.
 */
export type Wire<T> = T extends Stripe.Decimal
  ? string
  : T extends string | number | boolean | null | undefined
    ? T
    : T extends Array<infer U>
      ? Array<Wire<U>>
      : T extends object
        ? { [K in keyof T]: Wire<T[K]> }
        : T;

export type WireProduct = Wire<Stripe.Product>;
export type WirePrice = Wire<Stripe.Price>;
export type WireCustomer = Wire<Stripe.Customer>;
export type WirePaymentMethod = Wire<Stripe.PaymentMethod>;
export type WireSubscription = Wire<Stripe.Subscription>;
export type WireSubscriptionItem = Wire<Stripe.SubscriptionItem>;
export type WireInvoice = Wire<Stripe.Invoice>;
export type WireInvoiceLine = Wire<Stripe.InvoiceLineItem>;
export type WireMeter = Wire<Stripe.Billing.Meter>;
export type WireMeterEvent = Wire<Stripe.Billing.MeterEvent>;
export type WireMeterEventSummary = Wire<Stripe.Billing.MeterEventSummary>;
export type WireWebhookEndpoint = Wire<Stripe.WebhookEndpoint>;
export type WireAccount = Wire<Stripe.Account>;

/** An event as delivered; `data.object` is a snapshot of any wire object. */
export interface WireEvent {
  id: string;
  object: 'event';
  account?: string;
  api_version: string;
  created: number;
  data: { object: unknown; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null } | null;
  type: string;
}

/** Stripe's list envelope. */
export interface WireList<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
}
