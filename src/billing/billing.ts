import type { MeterlineConfig } from '../config/schema';
import type { Logger } from '../logger';
import type { EngineCapabilities } from '../monetization/capabilities';
import { AccessService } from './access.service';
import { BillingRecords } from './billing-records.service';
import type { BillingRepository } from './billing.repository';
import { tenantBillingRulesFrom } from './tenant-rules';

/** Invoice records, payment standing and access decisions, composed once per service. */
export interface Billing {
  repository: BillingRepository;
  records: BillingRecords;
  access: AccessService;
}

export function createBilling({ repository, config, logger, engine }: { repository: BillingRepository; config: MeterlineConfig; logger: Logger; engine: { capabilities: EngineCapabilities } }): Billing {
  const rulesOf = tenantBillingRulesFrom(config);
  return {
    repository,
    records: new BillingRecords(repository, rulesOf, logger.child({ component: 'billing' }), engine.capabilities.isFirstPaymentInvoice),
    access: new AccessService(repository, rulesOf),
  };
}
