/**
 * What a billing engine tells the engine-neutral core about itself, so the core decides by the
 * engine's declared values and never by an engine's name or constants. Declared on the engine's
 * factory (config validation and log scrubbing need them before the engine is built) and
 * repeated on the engine it builds.
 */
export interface EngineCapabilities {
  /** The time limits the engine puts on usage reports (ingestion and the usage publisher obey them). */
  readonly usage: UsageTimeLimits;
  /**
   * The per-tenant secrets the engine reads, each a key of `[tenants.monetization_info]` (beside
   * the core's `billing_engine_platform_account_key`). The core accepts exactly these keys there,
   * names them in its errors, and redacts them in logs.
   */
  readonly tenantSecrets: readonly TenantSecret[];
  /** How the engine's pushed events (webhooks) are signed; null for an engine that pushes none. */
  readonly webhooks: WebhookSignatureScheme | null;
  /**
   * Whether an invoice is the one that starts a subscription (its first payment, which
   * `hold_until_paid` waits for), told by the engine's own reason for issuing it
   * (`InvoiceSnapshot.billingReason`, as recorded).
   */
  isFirstPaymentInvoice(billingReason: string | null): boolean;
  /**
   * The engine's rules on a policy's prices: the currencies it charges in and the amounts it can
   * charge there. The core applies them when a policy is created or updated, before the engine is
   * called, and answers 400 naming the field. Absent: every price the core accepts is accepted.
   */
  checkPrice?(price: PriceToCheck): PriceProblem | null;
  /**
   * Who makes invoices: 'engine' (Stripe Billing: the engine's subscriptions invoice themselves) or
   * 'meterline' (the engine only collects payment: Meterline rates usage and issues invoices, which
   * it hands the engine with `Monetization.submitInvoice`). Absent: 'engine'.
   */
  readonly invoicing?: 'engine' | 'meterline';
}

/** One price of a policy, as the policy holds it (already exact in the currency's decimals). */
export interface PriceToCheck {
  /** Lower-case ISO 4217 code. */
  readonly currency: string;
  /** `fixed`: charged as it is each cycle; `per_unit`: a rate multiplied by usage. */
  readonly kind: 'fixed' | 'per_unit';
  /** Major-unit exact decimal string ("10.50"). */
  readonly amount: string;
}

/** Why the engine cannot charge a price: in this currency at all, or this amount in it. */
export interface PriceProblem {
  readonly on: 'currency' | 'amount';
  readonly message: string;
}

export interface UsageTimeLimits {
  /** How far in the past a usage report's time may lie: the engine refuses older usage. */
  readonly backdatingLimitMs: number;
  /** How far ahead of the engine's clock a usage report's time may lie. */
  readonly futureToleranceMs: number;
  /**
   * How long the engine remembers a usage identifier: re-sending within this time never bills
   * twice; after it, a re-send might.
   */
  readonly identifierMemoryMs: number;
  /**
   * How long after a billing period ends the engine still puts usage of that period on the
   * period's invoice (the invoice stays a draft meanwhile). Usage of a period that arrives later
   * is never invoiced, so the usage publisher sends each period's last window within this time
   * and reports a window it could not. `Infinity`: the engine never closes a period to usage.
   */
  readonly periodUsageGraceMs: number;
}

export interface TenantSecret {
  /** The key under `[tenants.monetization_info]`, e.g. `example_webhook_secret`. */
  readonly key: string;
  /** What it is, for people (errors, docs). */
  readonly description: string;
}

export interface WebhookSignatureScheme {
  /** Request headers that carry a delivery's signature, the first present one wins (case-insensitive). */
  readonly signatureHeaders: readonly string[];
  /** The tenant secret (one of `tenantSecrets`' keys) the engine verifies deliveries with. */
  readonly secret: string;
  /**
   * Further tenant secrets (of `tenantSecrets`) a delivery may be signed with, when the engine
   * sends some events from another destination with its own secret; tried after `secret`.
   */
  readonly otherSecrets?: readonly string[];
}

/** A duration for people: whole days when it is whole days, else whole hours, else minutes. */
export function describeDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} days`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  return `${Math.round(ms / 60_000)} minutes`;
}
