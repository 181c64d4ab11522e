import type { RetrySettings } from './billing/dunning';
import type { FailNextInput } from './billing/payments';
import type { FaultRule, HeldRequests } from './faults/faults';
import type { RequestMatcher } from './faults/match';
import type { RateLimitConfig } from './faults/rate-limit';
import type { LoggedRequest } from './request-log';
import type { DeliveryRecord, PendingDelivery } from './webhooks/dispatcher';
import type { WireInvoice } from './wire';

/**
 * The test-only controls of a running server, in process. (The same controls
 * are exposed over HTTP under `/_test/`; see controls/http-controls.ts.)
 */
export interface StripeServerControls {
  clock: {
    /** Simulated time, Unix seconds. */
    now(): number;
    /** Moves time forward, rolling subscription periods on the way; returns the new time. */
    advance(seconds: number): number;
    /** Moves time forward to a Unix time (never backwards); returns it. */
    advanceTo(unixSeconds: number): number;
  };
  webhooks: {
    /** Resolves when every queued delivery has been attempted (paused deliveries stay queued). */
    flush(): Promise<void>;
    deliveries(): DeliveryRecord[];
    pending(): PendingDelivery[];
    pause(): void;
    resume(): void;
    /** Reorders pending deliveries: by event ids (listed first, in that order) or a comparator. */
    reorder(order: string[] | ((a: PendingDelivery, b: PendingDelivery) => number)): void;
    /** Queues an attempted event again (to every endpoint it went to, or one); returns how many. */
    replay(eventId: string, endpointId?: string): number;
    discardPending(): void;
  };
  requests: {
    list(filter?: (entry: LoggedRequest) => boolean): LoggedRequest[];
    reset(): void;
  };
  faults: {
    /** Adds a fault rule; returns its id. */
    add(rule: FaultRule): number;
    remove(id: number): void;
    /** Removes all rules and restarts the fault PRNG (optionally with a new seed). Also lifts rate limits. */
    clear(seed?: number): void;
    /** Replaces the rate limits (an empty object lifts them). */
    rateLimit(config: RateLimitConfig): void;
    /** Holds matching requests, unhandled, until `release()` (see FaultKind `hold`). */
    hold(match?: RequestMatcher): HeldRequests;
  };
  payments: {
    failNext(input: FailNextInput): void;
    /** The customer completes the 3-D Secure authentication an open invoice's payment waits for: it is paid. */
    completeAuthentication(accountId: string, invoiceId: string): void;
  };
  billing: {
    /** Seconds until a meter event counts in previews and invoices (default 30: Stripe aggregates asynchronously). */
    aggregationDelaySeconds(): number;
    /** 0 makes aggregation immediate, for tests that are not about it. */
    setAggregationDelay(seconds: number): void;
    /**
     * Ends the retries of an open invoice whose payment failed, with the outcome the account's
     * settings give (default: the subscription is cancelled, the invoice left open); billing/dunning.ts.
     */
    exhaustRetries(accountId: string, invoiceId: string, settings?: RetrySettings): void;
  };
  /** The platform account id a secret key maps to (stable for the key). */
  accountIdForKey(secretKey: string): string;
  /** An invoice by account and id, for the hosted invoice page. */
  invoice(accountId: string, invoiceId: string): WireInvoice | undefined;
  /** Forgets all accounts, objects, requests, deliveries, faults and limits (the clock stays). */
  reset(): void;
}
