import { defineStripeContract } from './contract';
import { localTarget } from './targets';

/**
 * The Stripe contract against the local Stripe server (dev/stripe-server), in process over HTTP:
 * part of `npm test`. The same tests run against Stripe's test mode in live.test.ts.
 */
describe('Stripe contract: local Stripe server', () => {
  // No known mismatches: the server keeps a send_invoice subscription's first invoice a draft for
  // an hour as Stripe does (https://docs.stripe.com/subscriptions/invoices).
  defineStripeContract(localTarget);
});
