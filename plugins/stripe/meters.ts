import type Stripe from 'stripe';
import { callStripe } from './stripe.errors';
import { idempotencyKey } from './idempotency';
import { sendPastStoredErrors } from './retry';

/**
 * Billing Meters: one per API in the publisher's connected account (so two APIs bought by the
 * same application land on separate invoice lines), and one per DYNAMICRATE policy in the
 * platform account. The event name is derived from what the meter counts, so the usage
 * publisher can address it without a lookup.
 */
export function apiMeterEventName(apiUuid: string): string {
  return `meterline_api_${apiUuid.replace(/[^A-Za-z0-9]/g, '')}`;
}

export function policyMeterEventName(policyUuid: string): string {
  return `meterline_policy_${policyUuid.replace(/[^A-Za-z0-9]/g, '')}`;
}

/**
 * Finds the active meter for an event name, or creates it. Looking first keeps this correct
 * after Stripe has forgotten the idempotency key (24 h), since an event name may have only one
 * active meter.
 */
export async function ensureMeter(
  stripe: Stripe,
  request: { eventName: string; displayName: string; account?: string },
): Promise<Stripe.Billing.Meter> {
  const options = request.account ? { stripeAccount: request.account } : {};
  const findActive = () =>
    callStripe('list billing meters', { account: request.account }, async () => {
      for await (const meter of stripe.billing.meters.list({ status: 'active', limit: 100 }, options)) {
        if (meter.event_name === request.eventName) return meter;
      }
      return undefined;
    });
  const existing = await findActive();
  if (existing) return existing;
  // Past a 500 Stripe saved under the key: look again, then send under the next key of the chain.
  return callStripe('create a billing meter', { account: request.account, eventName: request.eventName }, () =>
    sendPastStoredErrors(
      idempotencyKey('meter', request.account ?? 'platform', request.eventName),
      (key) =>
        stripe.billing.meters.create(
          {
            display_name: request.displayName,
            event_name: request.eventName,
            default_aggregation: { formula: 'sum' },
            customer_mapping: { type: 'by_id', event_payload_key: 'stripe_customer_id' },
            value_settings: { event_payload_key: 'value' },
          },
          { ...options, idempotencyKey: key },
        ),
      findActive,
    ),
  );
}
