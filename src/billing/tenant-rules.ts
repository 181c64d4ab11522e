import type { MeterlineConfig } from '../config/schema';
import type { TenantBillingRules } from './access-policy';

const DAY_MS = 86_400_000;

/** Each tenant's payment rules (`[tenants.monetization_info]`); unknown tenants get none. */
export function tenantBillingRulesFrom(config: MeterlineConfig): (tenantDomain: string) => TenantBillingRules {
  const rules = new Map(
    config.tenants.map((t) => [
      t.domain,
      { holdUntilPaid: t.monetization_info.hold_until_paid, gracePeriodMs: t.monetization_info.payment_grace_period_days * DAY_MS },
    ]),
  );
  return (tenantDomain) => rules.get(tenantDomain) ?? { holdUntilPaid: false, gracePeriodMs: 3 * DAY_MS };
}
