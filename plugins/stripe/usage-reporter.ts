import Stripe from 'stripe';
import { BILLING_CYCLES, type SubscriptionRef } from '../../src/domain/model';
import { MonetizationError, type BillingCycleInfo, type UsageReport, type UsageReportOutcome } from '../../src/monetization/monetization';
import { apiMeterEventName } from './meters';
import type { StripeClients } from './stripe.clients';
import { sendPastStoredErrors } from './retry';
import { callStripe, isDuplicateMeterEventIdentifier, isResourceMissing } from './stripe.errors';
import type { StripeRepository } from './stripe.repository';

/** Stripe's most events in one meter event stream request. */
const STREAM_BATCH = 100;
/** A session is renewed this long before it expires, so a token never runs out mid-request. */
const SESSION_RENEW_MARGIN_MS = 60_000;

interface StreamEvent {
  event_name: string;
  identifier: string;
  payload: Record<string, string>;
  timestamp: string;
}

/**
 * Sends one window of metered usage as a Billing Meter event for the subscription's shared
 * customer on the API's meter, in the connected account the subscription lives in, stamped with the window's own time. The caller's identifier names
 * the usage (subscription, meter, window), so a re-send is recognised by Stripe and never billed
 * twice.
 */
export class StripeUsageReporter {
  /** Meter event sessions by tenant and connected account, until a minute before they expire. */
  private readonly sessions = new Map<string, { token: string; renewAfter: number }>();

  constructor(
    private readonly clients: StripeClients,
    private readonly repository: StripeRepository,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * Many windows through Stripe's v2 meter event stream: per tenant and connected account, a
   * meter event session made with `Stripe-Context` (https://docs.stripe.com/context), its token
   * kept until a minute before its 15 minutes end, then at most 100 events a request
   * (https://docs.stripe.com/api/v2/billing/meter-event-stream/create). Stripe validates stream
   * events asynchronously: what it finds wrong later comes back as a meter error report, as for
   * the v1 endpoint's asynchronous failures. The identifier dedupes as for `report`.
   */
  async reportBatch(reports: readonly UsageReport[], beforeRequest: () => Promise<void>): Promise<Array<UsageReportOutcome | Error>> {
    const outcomes: Array<UsageReportOutcome | Error | undefined> = new Array(reports.length);
    const groups = new Map<string, { tenant: string; account: string; items: Array<{ index: number; event: StreamEvent }> }>();
    for (const [index, usage] of reports.entries()) {
      const { subscription } = usage;
      if (!Number.isSafeInteger(usage.quantity) || usage.quantity < 0) {
        outcomes[index] = new MonetizationError('ENGINE_REJECTED', `usage quantity must be a whole number, got ${usage.quantity}`);
        continue;
      }
      if (usage.quantity === 0) {
        outcomes[index] = { sent: false, reason: 'no usage in the window' };
        continue;
      }
      const billed = await this.repository.billedSubscription(subscription.api.uuid, subscription.application.uuid);
      if (!billed) {
        outcomes[index] = { sent: false, reason: `subscription ${subscription.uuid} is not billed` };
        continue;
      }
      const tenant = subscription.api.tenant.domain;
      const key = `${tenant}\u0000${billed.account}`;
      const group = groups.get(key) ?? { tenant, account: billed.account, items: [] };
      groups.set(key, group);
      group.items.push({
        index,
        event: {
          event_name: apiMeterEventName(subscription.api.uuid),
          identifier: usage.identifier,
          payload: { stripe_customer_id: billed.row.sharedCustomerId, value: String(usage.quantity) },
          timestamp: usage.windowStart.toISOString(),
        },
      });
    }
    for (const group of groups.values()) {
      for (let first = 0; first < group.items.length; first += STREAM_BATCH) {
        const chunk = group.items.slice(first, first + STREAM_BATCH);
        try {
          await this.sendChunk(group.tenant, group.account, chunk.map((item) => item.event), beforeRequest);
          for (const item of chunk) outcomes[item.index] = { sent: true };
        } catch (error) {
          const failure = error instanceof Error ? error : new Error(String(error));
          for (const item of chunk) outcomes[item.index] = failure;
        }
      }
    }
    return outcomes.map((outcome) => outcome ?? new Error('usage report left unanswered'));
  }

  private async sendChunk(tenant: string, account: string, events: StreamEvent[], beforeRequest: () => Promise<void>): Promise<void> {
    const stripe = this.clients.forTenant(tenant);
    const context = { account, events: events.length };
    for (let attempt = 0; ; attempt += 1) {
      const token = await this.sessionToken(tenant, account, beforeRequest);
      await beforeRequest();
      try {
        await callStripe('send meter events on the stream', context, () => stripe.v2.billing.meterEventStream.create({ events }, { apiKey: token }));
        return;
      } catch (error) {
        this.sessions.delete(`${tenant}\u0000${account}`);
        // A token that expired in between (clocks differ): once more with a new session.
        if (attempt === 0 && error instanceof MonetizationError && error.cause instanceof Stripe.errors.TemporarySessionExpiredError) continue;
        throw error;
      }
    }
  }

  private async sessionToken(tenant: string, account: string, beforeRequest: () => Promise<void>): Promise<string> {
    const key = `${tenant}\u0000${account}`;
    const now = this.clock().getTime();
    const kept = this.sessions.get(key);
    if (kept && now < kept.renewAfter) return kept.token;
    await beforeRequest();
    const stripe = this.clients.forTenant(tenant);
    const session = await callStripe('open a meter event session', { account }, () => stripe.v2.billing.meterEventSession.create({}, { stripeContext: account }));
    const token = { token: session.authentication_token, renewAfter: Date.parse(session.expires_at) - SESSION_RENEW_MARGIN_MS };
    this.sessions.set(key, token);
    return token.token;
  }

  async report(usage: UsageReport): Promise<UsageReportOutcome> {
    const { subscription } = usage;
    if (!Number.isSafeInteger(usage.quantity) || usage.quantity < 0) {
      throw new MonetizationError('ENGINE_REJECTED', `usage quantity must be a whole number, got ${usage.quantity}`);
    }
    if (usage.quantity === 0) return { sent: false, reason: 'no usage in the window' };
    const billed = await this.repository.billedSubscription(subscription.api.uuid, subscription.application.uuid);
    if (!billed) return { sent: false, reason: `subscription ${subscription.uuid} is not billed` };
    const { row, account } = billed;

    const stripe = this.clients.forTenant(subscription.api.tenant.domain);
    try {
      // The identifier, not the key, dedupes: past a 500 Stripe saved under the key, the next key
      // of the chain is sent at once, and a repeat then answers "An event already exists".
      await callStripe('send a meter event', { account, subscription: subscription.uuid }, () =>
        sendPastStoredErrors(usage.identifier, (key) =>
          stripe.billing.meterEvents.create(
            {
              event_name: apiMeterEventName(subscription.api.uuid),
              payload: { stripe_customer_id: row.sharedCustomerId, value: String(usage.quantity) },
              identifier: usage.identifier,
              timestamp: Math.floor(usage.windowStart.getTime() / 1000),
            },
            { stripeAccount: account, idempotencyKey: key },
          ),
        ),
      );
    } catch (error) {
      // Already recorded (an earlier send whose answer was lost, under another idempotency key).
      if (isDuplicateMeterEventIdentifier(error, usage.identifier)) return { sent: true };
      throw error;
    }
    return { sent: true };
  }

  /**
   * The Stripe subscription's billing cycle anchor and its price's interval, read from the
   * connected account the subscription lives in. Null when the subscription is not billed or Stripe no longer
   * has it.
   */
  async billingCycle(subscription: SubscriptionRef): Promise<BillingCycleInfo | null> {
    const billed = await this.repository.billedSubscription(subscription.api.uuid, subscription.application.uuid);
    if (!billed) return null;
    const { row, account } = billed;
    const stripe = this.clients.forTenant(subscription.api.tenant.domain);
    let found: Stripe.Subscription;
    try {
      found = await callStripe('retrieve the subscription', { account, subscription: subscription.uuid }, () =>
        stripe.subscriptions.retrieve(row.stripeSubscriptionId, {}, { stripeAccount: account }),
      );
    } catch (error) {
      if (isResourceMissing(error)) return null;
      throw error;
    }
    const recurring = found.items.data[0]?.price.recurring;
    const interval = BILLING_CYCLES.find((cycle) => cycle === recurring?.interval);
    if (!recurring || !interval) return null;
    return { anchor: new Date(found.billing_cycle_anchor * 1000), interval, intervalCount: recurring.interval_count };
  }
}
