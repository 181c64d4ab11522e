import type { AccountState } from '../state/account-state';
import type { World } from '../state/world';
import type { WireInvoice } from '../wire';
import { recomputeTotals, repriceLine } from './invoice-builder';
import { isMetered } from './subscription-items';
import { aggregateUsage, aggregatedUpTo } from './usage';

/**
 * Brings a renewal draft's usage lines up to date before it is finalized: "During finalization,
 * Stripe updates the invoice to reflect the latest quantity for its billing period"
 * (https://docs.stripe.com/billing/subscriptions/usage-based/configure-grace-period). Each metered
 * line is re-aggregated over its own period from the events aggregated by now, so usage reported
 * during the draft hour for the closed period lands on this invoice; usage sent after
 * finalization never does.
 */
export function refreshUsageLines(world: World, account: AccountState, invoice: WireInvoice): void {
  if (invoice.status !== 'draft' || invoice.billing_reason !== 'subscription_cycle') return;
  const receivedUpTo = aggregatedUpTo(world.billingTiming, world.clock.now());
  let changed = false;
  for (const line of invoice.lines.data) {
    const priceId = line.pricing?.price_details?.price;
    const price = typeof priceId === 'string' ? account.prices.get(priceId) : undefined;
    if (!price || !isMetered(price)) continue;
    const meter = price.recurring?.meter ? account.meters.get(price.recurring.meter) : undefined;
    const quantity = meter ? aggregateUsage(account, meter, String(invoice.customer), line.period.start, line.period.end, receivedUpTo) : 0;
    if (quantity === line.quantity) continue;
    repriceLine(account, line, price, quantity);
    changed = true;
  }
  if (changed) recomputeTotals(invoice);
}
