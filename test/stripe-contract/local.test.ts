import { defineStripeContract, SEND_INVOICE_FIRST_INVOICE_DRAFT } from './contract';
import { localTarget } from './targets';

/**
 * The Stripe contract against the local Stripe server (dev/stripe-server), in process over HTTP:
 * part of `npm test`. The same tests run against Stripe's test mode in live.test.ts.
 */
describe('Stripe contract: local Stripe server', () => {
  defineStripeContract(localTarget, {
    // The server finalizes a send_invoice subscription's first invoice at once; Stripe does so an
    // hour later (https://docs.stripe.com/subscriptions/invoices). Remove when the server models it.
    knownMismatches: [SEND_INVOICE_FIRST_INVOICE_DRAFT],
  });
});
