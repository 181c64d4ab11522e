import type { MeterlineConfig } from '../config/schema';
import type { TenantDirectory, TenantSettings } from './monetization';

/** The tenants of `[[tenants]]`, looked up by domain. */
export function tenantDirectoryFrom(config: MeterlineConfig): TenantDirectory & { all(): TenantSettings[] } {
  const tenants: TenantSettings[] = config.tenants.map((t) => ({
    domain: t.domain,
    id: t.id,
    platformAccountKey: t.monetization_info.billing_engine_platform_account_key,
    webhookSecret: t.monetization_info.stripe_webhook_secret,
  }));
  const byDomain = new Map(tenants.map((t) => [t.domain, t]));
  return {
    find: (domain) => byDomain.get(domain),
    all: () => [...tenants],
  };
}
