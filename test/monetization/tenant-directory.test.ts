import { stripeCapabilities } from '../../plugins/stripe/capabilities';
import { ConfigError } from '../../src/config/errors';
import { parseConfig } from '../../src/config/load';
import { freeEngine } from '../../src/monetization/free-engine';
import { tenantDirectoryFrom, tenantSecretKeysIn } from '../../src/monetization/tenant-directory';

/** `[tenants.monetization_info]` keeps its file format; which secrets it may hold, the engine says. */
const configWith = (info: Record<string, unknown>) =>
  parseConfig({ tenants: [{ domain: 'acme.com', id: 7, monetization_info: { billing_engine_platform_account_key: 'sk_test_a', ...info } }] }, {}, 'test');

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a configuration error');
}

describe("the tenants' engine secrets", () => {
  it('hands the engine the secrets it declares, by key', () => {
    const tenants = tenantDirectoryFrom(configWith({ stripe_webhook_secret: 'whsec_a' }), stripeCapabilities.tenantSecrets);
    expect(tenants.find('acme.com')).toEqual({ domain: 'acme.com', id: 7, platformAccountKey: 'sk_test_a', secrets: { stripe_webhook_secret: 'whsec_a' } });
    expect(tenants.find('carbon.super')?.secrets).toEqual({});
  });

  it("names the secrets' keys the file sets, for the logger to redact before any engine is built", () => {
    expect(tenantSecretKeysIn(configWith({ stripe_webhook_secret: 'whsec_a' }))).toEqual(['stripe_webhook_secret']);
    expect(tenantSecretKeysIn(configWith({}))).toEqual([]);
  });

  it('refuses a key the engine does not read, naming the field and what the engine reads', () => {
    expect(problemsOf(() => tenantDirectoryFrom(configWith({ stripe_webhok_secret: 'whsec_a' }), stripeCapabilities.tenantSecrets))).toEqual([
      'tenant acme.com: monetization_info.stripe_webhok_secret: unknown key (the billing engine reads stripe_webhook_secret, stripe_event_destination_secret here)',
    ]);
    expect(problemsOf(() => tenantDirectoryFrom(configWith({ stripe_webhook_secret: 'whsec_a' }), freeEngine.capabilities.tenantSecrets))).toEqual([
      'tenant acme.com: monetization_info.stripe_webhook_secret: unknown key (the billing engine reads no secrets here)',
    ]);
  });

  it('a secret must be a non-empty string, and the error names the field as written', () => {
    expect(problemsOf(() => configWith({ stripe_webhook_secret: '' }))).toEqual(['tenants[0].monetization_info.stripe_webhook_secret: must not be empty']);
    expect(problemsOf(() => configWith({ stripe_webhook_secret: 5 }))).toEqual([
      expect.stringMatching(/^tenants\[0\]\.monetization_info\.stripe_webhook_secret: .*expected string/),
    ]);
  });
});
