import { defineStripeContract } from './contract';
import { livePlan, liveTarget } from './targets';

/**
 * The Stripe contract against Stripe's own test mode: opt-in, with STRIPE_TEST_SECRET_KEY (sk_test_...)
 * and STRIPE_TEST_CONNECTED_ACCOUNT (acct_...); `npm run test:stripe-live` runs this file alone.
 * Without them `npm test` skips it and says so in one line; `npm run test:stripe-live` fails, since
 * it was asked for the live run. A live key is refused before any request. README "Checking against Stripe's test mode".
 */
const plan = livePlan();
const requested = process.env.npm_lifecycle_event === 'test:stripe-live';

if (plan.run) {
  describe('Stripe contract: Stripe test mode', () => {
    defineStripeContract(() => liveTarget(plan));
  });
} else if (requested) {
  it('runs against Stripe test mode (npm run test:stripe-live)', () => {
    throw new Error('npm run test:stripe-live needs STRIPE_TEST_SECRET_KEY (sk_test_...) and STRIPE_TEST_CONNECTED_ACCOUNT (acct_...) of a Stripe test-mode platform and its connected account');
  });
} else {
  process.stderr.write(`${plan.line}\n`);
  describe.skip('Stripe contract: Stripe test mode', () => {
    it('skipped: see the line above', () => undefined);
  });
}
