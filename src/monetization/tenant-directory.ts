import { ConfigError } from '../config/errors';
import { CORE_MONETIZATION_INFO_KEYS, type MeterlineConfig } from '../config/schema';
import { fieldName } from '../validation/issues';
import type { TenantSecret } from './capabilities';
import type { TenantDirectory, TenantSettings } from './monetization';

/**
 * The tenants of `[[tenants]]`, looked up by domain, each with the engine's per-tenant secrets
 * (the keys of `[tenants.monetization_info]` beside the core's). Given the running engine's
 * `tenantSecrets`, a key the engine does not read is a configuration error naming the field (a
 * misspelt secret must not silently leave webhooks unverifiable), and only those keys are kept.
 */
export function tenantDirectoryFrom(config: MeterlineConfig, engineSecrets?: readonly TenantSecret[]): TenantDirectory & { all(): TenantSettings[] } {
  if (engineSecrets) {
    const problems = unknownSecretKeys(config, engineSecrets);
    if (problems.length > 0) throw new ConfigError('[[tenants]]', problems);
  }
  const kept = (key: string) => !CORE_MONETIZATION_INFO_KEYS.has(key) && (!engineSecrets || engineSecrets.some((s) => s.key === key));
  const tenants: TenantSettings[] = config.tenants.map((t) => ({
    domain: t.domain,
    id: t.id,
    platformAccountKey: t.monetization_info.billing_engine_platform_account_key,
    secrets: Object.fromEntries(
      Object.entries(t.monetization_info).filter((entry): entry is [string, string] => kept(entry[0]) && typeof entry[1] === 'string'),
    ),
  }));
  const byDomain = new Map(tenants.map((t) => [t.domain, t]));
  return {
    find: (domain) => byDomain.get(domain),
    all: () => [...tenants],
  };
}

/**
 * The engine secrets' keys the configuration sets (`[tenants.monetization_info]` beside the
 * core's keys), for the logger's `secretFields` before any engine is built; the composition
 * root refuses any the engine does not declare.
 */
export function tenantSecretKeysIn(config: Pick<MeterlineConfig, 'tenants'>): string[] {
  return [...new Set(config.tenants.flatMap((tenant) => Object.keys(tenant.monetization_info).filter((key) => !CORE_MONETIZATION_INFO_KEYS.has(key))))];
}

/**
 * `tenant acme.com: monetization_info.<key>: unknown key (...)` for each key neither the core nor
 * the engine reads; named by domain, as the list here may start with the implicit super tenant.
 */
function unknownSecretKeys(config: MeterlineConfig, engineSecrets: readonly TenantSecret[]): string[] {
  const known = engineSecrets.map((s) => s.key);
  const reads = known.length > 0 ? `the billing engine reads ${known.join(', ')}` : 'the billing engine reads no secrets';
  return config.tenants.flatMap((tenant) =>
    Object.keys(tenant.monetization_info)
      .filter((key) => !CORE_MONETIZATION_INFO_KEYS.has(key) && !known.includes(key))
      .map((key) => `tenant ${tenant.domain}: ${fieldName(['monetization_info', key], '(root)')}: unknown key (${reads} here)`),
  );
}
