import Stripe from 'stripe';
import { MonetizationError, type TenantDirectory } from '../../src/monetization/monetization';
import { retryingHttpClient } from './retry';
import type { StripeOptions } from './stripe.options';

/**
 * One Stripe client per tenant, built from that tenant's platform key: never a global key
 * switched between requests. Calls on a publisher's connected account pass `stripeAccount`
 * per request on the same client.
 */
export class StripeClients {
  private readonly clients = new Map<string, Stripe>();

  constructor(
    private readonly tenants: TenantDirectory,
    private readonly options: StripeOptions,
  ) {}

  /** The tenant's client; a tenant without a platform key gets a clear error. */
  forTenant(tenantDomain: string): Stripe {
    const key = this.platformKey(tenantDomain);
    const cached = this.clients.get(tenantDomain);
    if (cached) return cached;
    const client = new Stripe(key, {
      // retry.ts is the one retry layer; the SDK's own would stack on it.
      maxNetworkRetries: 0,
      timeout: this.options.timeout_ms,
      telemetry: false,
      appInfo: { name: 'Meterline' },
      httpClient: retryingHttpClient({
        retries: this.options.retries,
        initialDelayMs: this.options.retry_initial_delay_ms,
        maxDelayMs: this.options.retry_max_delay_ms,
      }),
      ...(this.options.api_host === undefined ? {} : { host: this.options.api_host }),
      ...(this.options.api_port === undefined ? {} : { port: this.options.api_port }),
      ...(this.options.api_protocol === undefined ? {} : { protocol: this.options.api_protocol }),
    });
    this.clients.set(tenantDomain, client);
    return client;
  }

  hasBilling(tenantDomain: string): boolean {
    return this.tenants.find(tenantDomain)?.platformAccountKey !== undefined;
  }

  private platformKey(tenantDomain: string): string {
    const tenant = this.tenants.find(tenantDomain);
    if (!tenant) {
      throw new MonetizationError('BILLING_NOT_CONFIGURED', `tenant ${tenantDomain} is not configured ([[tenants]])`);
    }
    if (!tenant.platformAccountKey) {
      throw new MonetizationError(
        'BILLING_NOT_CONFIGURED',
        `tenant ${tenantDomain} has no billing_engine_platform_account_key`,
        { tenant: tenantDomain },
      );
    }
    return tenant.platformAccountKey;
  }
}
