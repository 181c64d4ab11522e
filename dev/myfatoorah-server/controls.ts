import type { Account, AccountConfig, WebhookSettings } from './accounts';
import type { FaultRule } from './faults';
import type { DeliveryRecord } from './webhooks';

export interface LoggedRequest {
  method: string;
  path: string;
  /** The token's account, when the token was known. */
  token: string | null;
  body: unknown;
  status: number;
}

/** What a payment attempt made (the PaymentId MyFatoorah passes to the CallBackUrl as `paymentId`). */
export interface AttemptResult {
  invoiceId: number;
  paymentId: string;
  /** Event.Reference of the webhook sent, null when the account has no webhook endpoint. */
  webhookReference: string | null;
}

/**
 * The test-only controls of a running server, in process. The same controls are served over HTTP
 * under `/_test/` (http-controls.ts) for the demo and manual runs.
 */
export interface MyFatoorahServerControls {
  clock: {
    now(): Date;
    /** Moves time forward; due webhook retries are then attempted. */
    advance(seconds: number): Date;
    advanceTo(date: Date): Date;
  };
  accounts: {
    /** Adds (or replaces) an account. */
    add(config: AccountConfig): Account;
    get(token: string): Account | undefined;
    /** Changes an account's webhook settings (e.g. the endpoint once the receiver's port is known). */
    configureWebhook(token: string, settings: Partial<WebhookSettings>): WebhookSettings;
  };
  invoices: {
    /** The customer pays on the invoice page: a successful transaction, the invoice Paid, the webhook sent. */
    pay(invoiceId: number, options?: { gateway?: string }): AttemptResult;
    /** A failed payment attempt: a Failed transaction, the invoice still Pending, the webhook sent. */
    fail(invoiceId: number, options?: { gateway?: string; error?: string }): AttemptResult;
    /** The invoice expires now (unpaid: GetPaymentStatus says Canceled; no webhook, as at MyFatoorah). */
    expire(invoiceId: number): void;
    /** GetPaymentStatus's Data for an invoice, without a token. */
    get(invoiceId: number): Record<string, unknown> | undefined;
  };
  webhooks: {
    /** Resolves when no attempt is due or under way. */
    flush(): Promise<void>;
    deliveries(): DeliveryRecord[];
    pause(): void;
    resume(): void;
    /** Sends an event again by its Event.Reference; returns how many deliveries were queued. */
    replay(reference: string): number;
  };
  faults: {
    add(rule: FaultRule): void;
    clear(): void;
    /**
     * Ends the hold of every request a `timeout` or `delayed` fault holds now, at once: a `delayed`
     * one is then handled (e.g. its invoice created), a `timeout` one only if its client still waits.
     * Resolves, with how many were held, once they were handled.
     */
    release(): Promise<number>;
  };
  requests: {
    list(): LoggedRequest[];
    reset(): void;
  };
  /** Forgets invoices, deliveries, requests and faults (accounts and the clock stay). */
  reset(): void;
}
