/** One API request as the server saw it, for tests to assert what a client sent. */
export interface LoggedRequest {
  requestId: string;
  method: string;
  path: string;
  /** The matched route pattern, e.g. '/v1/products/:id'; null when no route matched. */
  route: string | null;
  /** The acting account (platform or connected); null when authentication failed. */
  account: string | null;
  /** The `Stripe-Account` header as sent. */
  stripeAccountHeader: string | null;
  idempotencyKey: string | null;
  /** Decoded params (form body or query string). */
  params: unknown;
  /** HTTP status; null when the connection was dropped on purpose. */
  status: number | null;
  /** `Idempotent-Replayed: true` was answered. */
  replayed: boolean;
  /** Real time, ms since epoch. */
  timestamp: number;
  /** The simulated clock when the request ran, Unix seconds. */
  clockTime: number;
}

export class RequestLog {
  private entries: LoggedRequest[] = [];

  add(entry: LoggedRequest): void {
    this.entries.push(entry);
  }

  /** All requests in arrival order, optionally filtered. */
  list(filter: (entry: LoggedRequest) => boolean = () => true): LoggedRequest[] {
    return this.entries.filter(filter);
  }

  reset(): void {
    this.entries = [];
  }
}
