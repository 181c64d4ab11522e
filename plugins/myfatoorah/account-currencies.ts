import { MonetizationError } from '../../src/monetization/monetization';
import type { MyFatoorahClient } from './client';

/** The request field a policy's currency comes from (WSO2's monetization properties). */
export const CURRENCY_FIELD = 'monetization.properties.currencyType';

/** How long an account's answer for a currency is reused: a plan change is rare, a portal change takes effect within this. */
export const ACCOUNT_CURRENCY_TTL_MS = 5 * 60_000;

/**
 * Whether a tenant's MyFatoorah account can invoice in a currency. MyFatoorah has no endpoint
 * listing an account's invoice currencies; InitiatePayment answers "all available and enabled
 * Payment Methods of your portal account" for an InvoiceAmount in a CurrencyIso
 * (https://docs.myfatoorah.com/docs/initiate-payment). So the account can invoice a currency when
 * InitiatePayment for it answers at least one payment method quoting the amount in it (its
 * CurrencyIso); a refusal naming CurrencyIso, or no such method, means it cannot. Answers are kept per tenant (and token: a new token is a fresh
 * account) for ACCOUNT_CURRENCY_TTL_MS; failures (no answer, a refused token) are not kept.
 */
export class AccountCurrencies {
  /** Tenant → the token answered for and, per currency, the answer and when it was had. */
  private readonly answers = new Map<string, { token: string; byCurrency: Map<string, { invoiceable: boolean; at: number }> }>();

  constructor(private readonly clock: () => Date) {}

  /** Refuses (INVALID_POLICY_PRICING naming CURRENCY_FIELD) a currency the tenant's account cannot invoice. */
  async check(tenantDomain: string, token: string, client: Pick<MyFatoorahClient, 'paymentMethods'>, currency: string, what: string): Promise<void> {
    const iso = currency.toUpperCase();
    if (await this.invoiceable(tenantDomain, token, client, iso)) return;
    throw new MonetizationError(
      'INVALID_POLICY_PRICING',
      `${what}: the tenant's MyFatoorah account cannot invoice in ${iso} (InitiatePayment offers no payment method in ${iso}); use the account's currency, or enable ${iso} in the MyFatoorah portal`,
      { field: CURRENCY_FIELD, on: 'currency' },
    );
  }

  private async invoiceable(tenantDomain: string, token: string, client: Pick<MyFatoorahClient, 'paymentMethods'>, iso: string): Promise<boolean> {
    const now = this.clock().getTime();
    let tenant = this.answers.get(tenantDomain);
    if (!tenant || tenant.token !== token) {
      tenant = { token, byCurrency: new Map() };
      this.answers.set(tenantDomain, tenant);
    }
    const known = tenant.byCurrency.get(iso);
    if (known && now >= known.at && now - known.at < ACCOUNT_CURRENCY_TTL_MS) return known.invoiceable;
    // 1 in the currency: any positive amount lists the methods; their charges do not matter here.
    const methods = await client.paymentMethods(1, iso);
    // A method quoting its TotalAmount in another currency (CurrencyIso) does not invoice in this one.
    const invoiceable = methods !== null && methods.some((m) => typeof m.CurrencyIso !== 'string' || m.CurrencyIso.toUpperCase() === iso);
    tenant.byCurrency.set(iso, { invoiceable, at: now });
    return invoiceable;
  }
}
