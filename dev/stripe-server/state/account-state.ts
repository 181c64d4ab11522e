import type {
  WireAccount,
  WireCustomer,
  WireEvent,
  WireInvoice,
  WireMeter,
  WireMeterEvent,
  WirePaymentMethod,
  WirePrice,
  WireProduct,
  WireSubscription,
  WireSubscriptionItem,
  WireWebhookEndpoint,
} from '../wire';
import { Collection } from './collection';

/** A stored idempotent result: what was asked, what was answered, and when (server clock, Unix seconds). */
export interface IdempotencyRecord {
  fingerprint: string;
  status: number;
  body: string;
  createdAt: number;
}

/**
 * How long a key is kept: Stripe may remove keys once they are at least 24 hours old, and a key
 * reused after that starts a new request (https://docs.stripe.com/api/idempotent_requests). The
 * server forgets them at exactly 24 h of its own clock, the earliest Stripe may.
 */
export const IDEMPOTENCY_KEY_LIFETIME_SECONDS = 24 * 3600;

/** A v2 event destination (resources/event-destinations.ts): the object, its URL and signing secret. */
export interface EventDestinationState {
  object: {
    id: string;
    object: 'v2.core.event_destination';
    created: string;
    description: string;
    enabled_events: string[];
    event_payload: 'thin' | 'snapshot';
    events_from: Array<'self' | 'other_accounts'>;
    livemode: false;
    metadata: Record<string, string>;
    name: string;
    snapshot_api_version?: string | null;
    status: 'enabled' | 'disabled';
    type: 'webhook_endpoint';
    updated: string;
    url: string;
  };
  secret: string;
}

/** Test-only payment behaviour attached to a payment method (see payments.ts). */
export interface CardBehaviour {
  declines: boolean;
  /** 3-D Secure cards (billing/test-cards.ts): charges wait for the customer's authentication. */
  requiresAuthentication?: boolean;
}

/**
 * All objects of one Stripe account (a platform or a connected account).
 * Accounts never see each other's objects; lookups for another account's id
 * fail with resource_missing exactly as in Stripe.
 */
export class AccountState {
  readonly products = new Collection<WireProduct>('product');
  readonly prices = new Collection<WirePrice>('price');
  readonly customers = new Collection<WireCustomer>('customer');
  /** Deleted customers answer retrieve with `{ deleted: true }`. */
  readonly deletedCustomers = new Set<string>();
  readonly paymentMethods = new Collection<WirePaymentMethod>('PaymentMethod');
  readonly cardBehaviour = new Map<string, CardBehaviour>();
  readonly subscriptions = new Collection<WireSubscription>('subscription');
  readonly subscriptionItems = new Collection<WireSubscriptionItem>('subscription item');
  readonly meters = new Collection<WireMeter>('billing meter');
  readonly meterEvents: WireMeterEvent[] = [];
  /** identifier → Stripe receipt time, for duplicate detection. */
  readonly meterEventIdentifiers = new Map<string, number>();
  readonly invoices = new Collection<WireInvoice>('invoice');
  readonly webhookEndpoints = new Collection<WireWebhookEndpoint>('webhook endpoint');
  /** Endpoints created with `connect=true` (they receive connected accounts' events). */
  readonly connectEndpoints = new Set<string>();
  /** Endpoint id → signing secret (the object shows `secret` only on create). */
  readonly endpointSecrets = new Map<string, string>();
  readonly eventDestinations = new Collection<EventDestinationState & { id: string }>('event destination');
  readonly events = new Collection<WireEvent>('event');
  readonly idempotency = new Map<string, IdempotencyRecord>();
  private invoiceSequence = 0;

  constructor(
    readonly account: WireAccount,
    /** The platform that owns this connected account; null for a platform. */
    readonly platformId: string | null,
  ) {}

  get id(): string {
    return this.account.id;
  }

  /** The saved result for `key`, unless it is 24 h old or older on the clock `now` (then it is forgotten). */
  idempotentResult(key: string, now: number): IdempotencyRecord | undefined {
    const record = this.idempotency.get(key);
    if (record && now - record.createdAt >= IDEMPOTENCY_KEY_LIFETIME_SECONDS) {
      this.idempotency.delete(key);
      return undefined;
    }
    return record;
  }

  nextInvoiceSequence(): number {
    this.invoiceSequence += 1;
    return this.invoiceSequence;
  }

  /** Finds any object of this account by id, for `expand[]`. */
  findById(id: string): unknown {
    const prefix = id.slice(0, id.indexOf('_') + 1);
    switch (prefix) {
      case 'prod_':
        return this.products.get(id);
      case 'price_':
        return this.prices.get(id);
      case 'cus_':
        return this.customers.get(id);
      case 'pm_':
        return this.paymentMethods.get(id);
      case 'sub_':
        return this.subscriptions.get(id);
      case 'si_':
        return this.subscriptionItems.get(id);
      case 'in_':
        return this.invoices.get(id);
      case 'mtr_':
        return this.meters.get(id);
      case 'we_':
        return this.webhookEndpoints.get(id);
      case 'evt_':
        return this.events.get(id);
      default:
        return undefined;
    }
  }
}
