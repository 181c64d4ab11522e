import type { AccountState } from '../state/account-state';
import type { World } from '../state/world';
import type { WireInvoice, WireInvoiceLine } from '../wire';
import { recomputeTotals, repriceLines } from './invoice-builder';
import { isMetered } from './subscription-items';
import { aggregateUsage, aggregatedUpTo } from './usage';

/**
 * Brings a renewal draft's usage lines up to date before it is finalized: "During finalization,
 * Stripe updates the invoice to reflect the latest quantity for its billing period"
 * (https://docs.stripe.com/billing/subscriptions/usage-based/configure-grace-period). Each metered
 * line is re-aggregated over its own period from the events aggregated by now, so usage reported
 * during the draft hour for the closed period lands on this invoice; usage sent after
 * finalization never does. A graduated price's tier lines are one group (same price and subscription
 * item), replaced together.
 */
export function refreshUsageLines(world: World, account: AccountState, invoice: WireInvoice): void {
  if (invoice.status !== 'draft' || invoice.billing_reason !== 'subscription_cycle') return;
  const receivedUpTo = aggregatedUpTo(world.billingTiming, world.clock.now());
  const groups = new Map<string, WireInvoiceLine[]>();
  for (const line of invoice.lines.data) {
    const key = `${String(line.pricing?.price_details?.price)} ${line.parent?.subscription_item_details?.subscription_item ?? line.id}`;
    groups.set(key, [...(groups.get(key) ?? []), line]);
  }
  let changed = false;
  const refreshed: WireInvoiceLine[] = [];
  for (const lines of groups.values()) {
    const first = lines[0]!;
    const priceId = first.pricing?.price_details?.price;
    const price = typeof priceId === 'string' ? account.prices.get(priceId) : undefined;
    if (!price || !isMetered(price)) {
      refreshed.push(...lines);
      continue;
    }
    const meter = price.recurring?.meter ? account.meters.get(price.recurring.meter) : undefined;
    const quantity = meter ? aggregateUsage(account, meter, String(invoice.customer), first.period.start, first.period.end, receivedUpTo) : 0;
    const billed = lines.reduce((sum, line) => sum + (line.quantity ?? 0), 0);
    if (quantity === billed) {
      refreshed.push(...lines);
      continue;
    }
    refreshed.push(...repriceLines(account, lines, price, quantity));
    changed = true;
  }
  if (!changed) return;
  invoice.lines.data = refreshed;
  recomputeTotals(invoice);
}
