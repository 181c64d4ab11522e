import type { MeterlineConfig } from '../config/schema';
import type { Logger } from '../logger';
import type { EngineCapabilities } from '../monetization/capabilities';
import { AccessService, type SpendCapCheck } from './access.service';
import { BillingRecords } from './billing-records.service';
import type { BillingRepository } from './billing.repository';
import { IssuedInvoices, OWN_FIRST_INVOICE_REASON } from './issued-invoices';
import { tenantBillingRulesFrom } from './tenant-rules';

/** Invoice records, payment standing and access decisions, composed once per service. */
export interface Billing {
  repository: BillingRepository;
  records: BillingRecords;
  access: AccessService;
  /** Meterline's own invoices, recorded beside the engines' (src/invoicing issues them). */
  issued: IssuedInvoices;
}

/** `spendCaps`: the spend caps the access check refuses by (src/spend); without it no cap applies. */
export function createBilling({ repository, config, logger, engine, spendCaps }: { repository: BillingRepository; config: MeterlineConfig; logger: Logger; engine: { capabilities: EngineCapabilities }; spendCaps?: SpendCapCheck }): Billing {
  const rulesOf = tenantBillingRulesFrom(config);
  // When Meterline makes the invoices, its own first invoice is the one that starts a subscription.
  const isFirstPaymentInvoice =
    engine.capabilities.invoicing === 'meterline' ? (reason: string | null) => reason === OWN_FIRST_INVOICE_REASON : engine.capabilities.isFirstPaymentInvoice;
  const records = new BillingRecords(repository, rulesOf, logger.child({ component: 'billing' }), isFirstPaymentInvoice);
  const access = new AccessService(repository, rulesOf, spendCaps);
  return { repository, records, access, issued: new IssuedInvoices(repository, records, access) };
}
