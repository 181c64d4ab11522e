import type { WireEvent } from '../wire';
import { signatureHeader } from './signature';
import type { ThinEvent } from './thin-events';

/** One event to deliver to one endpoint: a snapshot event, or a thin (v2) event notification. */
export interface PendingDelivery {
  event: WireEvent | ThinEvent;
  endpointId: string;
  url: string;
  secret: string;
}

/** What happened when a delivery was attempted. `status` is null when no HTTP response came back. */
export interface DeliveryRecord {
  eventId: string;
  eventType: string;
  account: string | null;
  endpointId: string;
  url: string;
  status: number | null;
  error: string | null;
  /** Real time of the attempt, ms since epoch. */
  attemptedAt: number;
  /** The exact body sent, for signature checks in tests. */
  payload: string;
  signature: string;
}

const DELIVERY_TIMEOUT_MS = 5_000;

/**
 * Delivers events to webhook endpoints, one at a time and in order, off the
 * request path (like Stripe, the API call returns before delivery).
 *
 * Tests await `flush()`; they can `pause()` to hold deliveries, inspect or
 * `reorder()` the pending queue, `resume()`, and `replay()` a delivered event.
 * Failed deliveries are recorded, not retried.
 */
export class WebhookDispatcher {
  private queue: PendingDelivery[] = [];
  private paused = false;
  private draining: Promise<void> | null = null;
  private readonly records: DeliveryRecord[] = [];

  enqueue(delivery: PendingDelivery): void {
    this.queue.push(delivery);
    this.kick();
  }

  /** Resolves once every queued delivery has been attempted (pending ones stay queued while paused). */
  async flush(): Promise<void> {
    while (this.draining || (!this.paused && this.queue.length > 0)) {
      this.kick();
      await this.draining;
    }
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.kick();
  }

  isPaused(): boolean {
    return this.paused;
  }

  pending(): PendingDelivery[] {
    return [...this.queue];
  }

  /** Reorders the pending queue: by a comparator, or to the given event ids' order (others keep their place after). */
  reorder(order: ((a: PendingDelivery, b: PendingDelivery) => number) | string[]): void {
    if (typeof order === 'function') {
      this.queue.sort(order);
      return;
    }
    const rank = (d: PendingDelivery) => {
      const index = order.indexOf(d.event.id);
      return index < 0 ? order.length : index;
    };
    this.queue.sort((a, b) => rank(a) - rank(b));
  }

  /** Puts a copy of an already-attempted delivery back on the queue. */
  replay(eventId: string, endpointId?: string): number {
    const again = this.sent.filter((d) => d.event.id === eventId && (!endpointId || d.endpointId === endpointId));
    for (const delivery of again) this.enqueue(delivery);
    return again.length;
  }

  discardPending(): void {
    this.queue = [];
  }

  deliveries(): DeliveryRecord[] {
    return [...this.records];
  }

  reset(): void {
    this.queue = [];
    this.records.length = 0;
    this.sent.length = 0;
  }

  private readonly sent: PendingDelivery[] = [];

  private kick(): void {
    if (this.draining || this.paused || this.queue.length === 0) return;
    this.draining = this.drain().finally(() => {
      this.draining = null;
      if (!this.paused && this.queue.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    // Yield first so the API response that caused the event goes out before its webhooks.
    await new Promise((resolve) => setImmediate(resolve));
    while (!this.paused) {
      const next = this.queue.shift();
      if (!next) return;
      await this.deliver(next);
    }
  }

  private async deliver(delivery: PendingDelivery): Promise<void> {
    const payload = JSON.stringify(delivery.event, null, 2);
    const signature = signatureHeader(payload, delivery.secret, Math.floor(Date.now() / 1000));
    const record: DeliveryRecord = {
      eventId: delivery.event.id,
      eventType: delivery.event.type,
      account: (delivery.event.object === 'v2.core.event' ? delivery.event.context : delivery.event.account) ?? null,
      endpointId: delivery.endpointId,
      url: delivery.url,
      status: null,
      error: null,
      attemptedAt: Date.now(),
      payload,
      signature,
    };
    try {
      const response = await fetch(delivery.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json; charset=utf-8',
          'Stripe-Signature': signature,
          'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        },
        body: payload,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      record.status = response.status;
      await response.arrayBuffer();
    } catch (error) {
      record.error = error instanceof Error ? error.message : String(error);
    }
    this.records.push(record);
    this.sent.push(delivery);
  }
}
