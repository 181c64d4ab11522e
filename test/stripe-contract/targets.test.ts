import { LIVE_SKIP_LINE, LiveConfigurationError, livePlan } from './targets';

/** The live half's switches: skipped with one line, refused on a live key, run with a test key. */
describe('Stripe test-mode configuration', () => {
  it('without key and account the live half is skipped, with the one line saying how to enable it', () => {
    expect(livePlan({})).toEqual({ run: false, line: LIVE_SKIP_LINE });
    expect(LIVE_SKIP_LINE).toContain('STRIPE_TEST_SECRET_KEY');
    expect(LIVE_SKIP_LINE).toContain('npm run test:stripe-live');
    expect(LIVE_SKIP_LINE).not.toContain('\n');
  });

  it('refuses a live key before any request', () => {
    expect(() => livePlan({ STRIPE_TEST_SECRET_KEY: 'sk_live_abc', STRIPE_TEST_CONNECTED_ACCOUNT: 'acct_123' })).toThrow(LiveConfigurationError);
    expect(() => livePlan({ STRIPE_TEST_SECRET_KEY: 'sk_live_abc' })).toThrow(/live key/);
  });

  it('refuses a restricted key, a half configuration and a malformed account or version', () => {
    expect(() => livePlan({ STRIPE_TEST_SECRET_KEY: 'rk_test_abc', STRIPE_TEST_CONNECTED_ACCOUNT: 'acct_123' })).toThrow(/sk_test_/);
    expect(() => livePlan({ STRIPE_TEST_CONNECTED_ACCOUNT: 'acct_123' })).toThrow(/sk_test_/);
    expect(() => livePlan({ STRIPE_TEST_SECRET_KEY: 'sk_test_abc' })).toThrow(/acct_/);
    expect(() => livePlan({ STRIPE_TEST_SECRET_KEY: 'sk_test_abc', STRIPE_TEST_CONNECTED_ACCOUNT: 'cus_123' })).toThrow(/acct_/);
    expect(() => livePlan({ STRIPE_TEST_SECRET_KEY: 'sk_test_abc', STRIPE_TEST_CONNECTED_ACCOUNT: 'acct_1', STRIPE_API_VERSION_CANDIDATE: 'latest' })).toThrow(/STRIPE_API_VERSION_CANDIDATE/);
  });

  it('runs with a test key and account, at a candidate API version when one is given', () => {
    expect(livePlan({ STRIPE_TEST_SECRET_KEY: 'sk_test_abc', STRIPE_TEST_CONNECTED_ACCOUNT: 'acct_1' })).toEqual({
      run: true, key: 'sk_test_abc', account: 'acct_1', apiVersion: undefined, asyncBudgetSeconds: 300,
    });
    expect(livePlan({ STRIPE_TEST_SECRET_KEY: 'sk_test_abc', STRIPE_TEST_CONNECTED_ACCOUNT: 'acct_1', STRIPE_API_VERSION_CANDIDATE: '2027-01-27.fig' })).toMatchObject({
      run: true, apiVersion: '2027-01-27.fig',
    });
  });
});
