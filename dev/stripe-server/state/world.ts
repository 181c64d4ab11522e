import { Clock } from '../core/clock';
import { PaymentSimulator } from '../billing/payments';
import { defaultBillingTiming, type BillingTiming } from '../billing/usage';
import { WebhookDispatcher } from '../webhooks/dispatcher';
import { EventPublisher } from '../webhooks/publisher';
import { AccountRegistry } from './registry';

/**
 * Everything one server instance knows: accounts and their objects, the
 * simulated clock, payment behaviour, and event publishing. Handlers receive
 * it through the request context; nothing here is global.
 */
export class World {
  readonly clock: Clock;
  readonly registry: AccountRegistry;
  readonly dispatcher = new WebhookDispatcher();
  readonly events: EventPublisher;
  readonly payments = new PaymentSimulator();
  /** Aggregation delay and the draft hour (billing/usage.ts); tests may change them. */
  readonly billingTiming: BillingTiming = defaultBillingTiming();
  /** Where this server is reachable, for `hosted_invoice_url` and list `url`s. */
  baseUrl = 'http://127.0.0.1';

  constructor(startAt?: number) {
    this.clock = new Clock(startAt);
    this.registry = new AccountRegistry(() => this.clock.now());
    this.events = new EventPublisher(this.registry, this.dispatcher, this.clock);
  }
}
