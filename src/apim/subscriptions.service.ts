import { randomUUID } from 'node:crypto';
import type { SubscriptionPolicy, SubscriptionRef, TenantRef } from '../domain/model';
import type { BillingRecords } from '../billing/billing-records.service';
import type { InvoiceRecord } from '../billing/model';
import type { Logger } from '../logger';
import { MonetizationError, type Monetization, type PendingInvoice, type SentUsage, type SubscriptionOutcome } from '../monetization/monetization';
import { emit, subscriptionFacts, subscriptionLabel } from '../notifications/emit';
import { silentNotifier, type NotificationEvent, type Notifier } from '../notifications/events';
import type { ApplicationsRepository } from './applications.repository';
import type { ApisRepository } from './apis.repository';
import { toApiRef } from './apis.service';
import { GatewayError } from './errors';
import type { SubscriberRecord, SubscriptionRecord } from './model';
import type { PoliciesRepository } from './policies.repository';
import { toSubscriptionPolicy } from './policies.service';
import type { SubscribersRepository } from './subscribers.repository';
import type { SubscriptionRow, SubscriptionsRepository } from './subscriptions.repository';
import { utcTimestamp } from '../domain/time';

/**
 * Publishes one subscription's unsent usage to the billing engine now (the usage publisher's
 * `publishSubscriptionNow`): frozen and sent exactly once, under the publisher's lease.
 */
export interface SubscriptionUsagePublisher {
  publishSubscriptionNow(subscriptionUuid: string): Promise<{ published: true } | { published: false; reason: string }>;
  /** What the engine accepted of the subscription's usage stamped in [from, to): the engine's `SentUsage`. */
  sentUsage(subscriptionUuid: string, from: Date, to: Date): Promise<{ quantity: number; lastSentAt: Date | null }>;
}

/**
 * Meterline's own invoices, for an engine that leaves invoicing to Meterline
 * (`capabilities.invoicing = 'meterline'`; src/invoicing): the first invoice when a subscription
 * starts being billed, the final one when it is cancelled. Each does nothing for other engines.
 */
export interface SubscriptionInvoicing {
  /** Issues the first invoice; the subscription's access after it (null: nothing changed). */
  subscriptionStarted(subscription: SubscriptionRef, at: Date): Promise<{ access: string } | null>;
  /** Issues the final invoice (usage since the last one); the usage was sent just before. */
  subscriptionEnded(subscription: SubscriptionRef, at: Date): Promise<unknown>;
  /**
   * The pending invoice Meterline answers itself (its next own invoice, src/invoicing/pending-invoice.ts),
   * for an engine that keeps none; null: ask the engine.
   */
  pendingInvoice?(subscription: SubscriptionRef): Promise<PendingInvoice | null>;
  /**
   * A change of business plan at `at`, before the tier changes: the invoice closing the open
   * period there (usage so far at the old price, the new base fee pro-rated), drafted; null: none.
   */
  planChanging?(from: SubscriptionRef, to: SubscriptionRef, at: Date): Promise<{ invoiceId: string } | null>;
  /** After the tier changed: submits what `planChanging` answered. */
  planChanged?(invoiceId: string): Promise<void>;
}

/** The caller of a developer-portal operation: a user within a tenant. */
export interface SubscriberIdentity {
  subject: string;
  email: string | null;
  tenant: TenantRef;
}

/**
 * The subscription workflows. Subscribing writes the AM_SUBSCRIPTION row (ON_HOLD) first, then
 * runs the engine's workflow, then records the access the engine decided (SUB_STATUS). When the
 * engine fails, what it made is cancelled and the row is removed, so the same request can be
 * retried. When the process dies part-way, the ON_HOLD row stays: the same request (same
 * caller, application, API and tier) adopts it and finishes the workflow, whose steps each find
 * what an earlier attempt made; `meterline reconcile` removes such rows nobody came back for. Unsubscribing sends the subscription's unsent usage
 * first, then runs the engine (cancelling the billing subscription with a final invoice) and
 * deletes the row only when both succeeded.
 *
 * A subscriber reaches only the subscriptions of their own applications; a publisher reaches
 * the subscriptions to their tenant's APIs. Anything else is "not found".
 */
export class SubscriptionsService {
  constructor(
    private readonly subscriptions: SubscriptionsRepository,
    private readonly apis: ApisRepository,
    private readonly applications: ApplicationsRepository,
    private readonly subscribers: SubscribersRepository,
    private readonly policies: PoliciesRepository,
    private readonly engine: Monetization,
    private readonly logger: Logger,
    private readonly clock: () => Date,
    /** When present, billed subscriptions are recorded there and their access decided by payment. */
    private readonly billing?: BillingRecords,
    /** When present, a billed subscription's usage is sent before it is cancelled. */
    private readonly usage?: SubscriptionUsagePublisher,
    /**
     * Called after each step has taken effect; production passes none. A test passes one that
     * never returns at a chosen step: to everyone else that is a killed process.
     */
    private readonly probe: (step: string) => Promise<void> = async () => undefined,
    /** When present, Meterline's own invoices for an engine that leaves invoicing to it. */
    private readonly invoicing?: SubscriptionInvoicing,
    /** Told the subscribe workflow's outcome: subscription.approved, on_hold or failed (issue 18). */
    private readonly notifier: Notifier = silentNotifier,
  ) {}

  /** Subscriptions whose workflow runs in this process now: never mistaken for abandoned attempts. */
  private readonly inFlight = new Set<string>();

  async subscribe(caller: SubscriberIdentity, request: { applicationId: string; apiId: string; throttlingPolicy: string }): Promise<SubscriptionRecord> {
    const subscriber = await this.subscribers.ensure(caller.tenant, caller.subject, caller.email, this.now());
    const application = await this.applications.findOwned(subscriber, request.applicationId);
    if (!application) throw GatewayError.notFound(`Application ${request.applicationId}`);
    const api = await this.apis.findByUuid(caller.tenant, request.apiId);
    if (!api) throw GatewayError.notFound(`API ${request.apiId}`);
    if (api.status !== 'PUBLISHED') throw GatewayError.invalid('apiId', `API ${api.name} ${api.version} is ${api.status}; only PUBLISHED APIs can be subscribed to`);
    if (!api.policies.includes(request.throttlingPolicy)) {
      throw GatewayError.invalid('throttlingPolicy', `API ${api.name} ${api.version} is not offered on ${request.throttlingPolicy} (it offers ${api.policies.join(', ')})`);
    }
    const policy = await this.policies.findByName(caller.tenant, request.throttlingPolicy);
    if (!policy) throw GatewayError.invalid('throttlingPolicy', `there is no subscription policy named ${request.throttlingPolicy}`);
    const conflict = () => new GatewayError('CONFLICT', `Application ${application.name} is already subscribed to API ${api.name} ${api.version}`);
    const refOf = (uuid: string): SubscriptionRef => ({
      uuid,
      api: toApiRef(api),
      application: { uuid: application.uuid, name: application.name },
      subscriber: { userId: subscriber.userId, email: subscriber.email },
      policy: toSubscriptionPolicy(policy),
    });

    const earlier = await this.subscriptions.firstFor(api.id, application.id);
    if (earlier) {
      // The same request again, after an attempt that never finished (the process was killed, or
      // its undo failed): finish that attempt instead of refusing. Anything else is a conflict,
      // including an attempt still running in this process and a finished subscription held
      // until its first payment (ON_HOLD too, but with its billing record).
      const unfinished =
        earlier.status === 'ON_HOLD' &&
        earlier.createdBy === caller.subject &&
        earlier.tier === policy.name &&
        !this.inFlight.has(earlier.uuid) &&
        !(await this.billing?.isBilled(earlier.uuid));
      if (!unfinished) throw conflict();
      this.inFlight.add(earlier.uuid);
      try {
        return await this.finish(earlier.id, refOf(earlier.uuid), { adopted: true }, caller.tenant);
      } finally {
        this.inFlight.delete(earlier.uuid);
      }
    }

    const uuid = randomUUID();
    this.inFlight.add(uuid); // before the row exists, so no request of this process takes it for an abandoned attempt
    try {
      const id = await this.subscriptions.insert({
        uuid,
        apiId: api.id,
        applicationId: application.id,
        tier: policy.name,
        status: 'ON_HOLD',
        createdBy: caller.subject,
        now: this.now(),
      });
      // WSO2's AM_SUBSCRIPTION has no unique key on (API, application), so two concurrent requests
      // can both get past `firstFor`: the oldest row wins, the others withdraw before any billing.
      if ((await this.subscriptions.firstIdFor(api.id, application.id)) !== id) {
        await this.removeRowQuietly(id, uuid);
        throw conflict();
      }
      await this.probe('row-written');
      return await this.finish(id, refOf(uuid), { adopted: false }, caller.tenant);
    } finally {
      this.inFlight.delete(uuid);
    }
  }

  /**
   * The rest of subscribing, for a new ON_HOLD row or one an earlier attempt left: the engine's
   * workflow (it finds what an earlier attempt made), the billing record, the access. When a new
   * attempt fails, it is undone (the engine cancels whatever it made for this subscription, found
   * by its metadata, and the row is removed); if the undo fails too, or the attempt was adopted,
   * the ON_HOLD row stays for the same request to finish later (or `meterline reconcile`).
   */
  private async finish(id: number, ref: SubscriptionRef, how: { adopted: boolean }, tenant: TenantRef): Promise<SubscriptionRecord> {
    let outcome: SubscriptionOutcome;
    try {
      outcome = await this.engine.createSubscription(ref);
    } catch (error) {
      if (!how.adopted) await this.undo(id, ref);
      if (error instanceof MonetizationError && error.code === 'NOT_MONETIZED') {
        throw GatewayError.invalid('throttlingPolicy', error.message);
      }
      await this.tellOutcome(ref, { failed: error });
      throw error;
    }
    await this.probe('engine-workflow-done');
    let access: string = outcome.access;
    if (outcome.billed && outcome.engineSubscriptionId && this.billing) {
      try {
        const decision = await this.billing.subscriptionBilled(
          {
            subscriptionUuid: ref.uuid,
            tenantDomain: tenant.domain,
            apiUuid: ref.api.uuid,
            applicationUuid: ref.application.uuid,
            engineSubscriptionId: outcome.engineSubscriptionId,
            engineAccount: null,
          },
          this.clock(),
          outcome.access,
        );
        access = decision.status;
        access = (await this.firstInvoice(ref))?.access ?? access;
      } catch (error) {
        // Without its billing record the subscription could not be held or blocked by payment:
        // undo the engine's subscription too, so the request can simply be retried.
        if (!how.adopted) await this.undo(id, ref);
        await this.tellOutcome(ref, { failed: error });
        throw error;
      }
    }
    await this.subscriptions.setStatus(id, access, this.now());
    await this.tellOutcome(ref, { access });
    const row = await this.subscriptions.findByUuid(ref.uuid);
    if (!row) throw new Error(`subscription ${ref.uuid} disappeared while it was being made`);
    return this.toRecord(row, tenant);
  }

  /**
   * The workflow's outcome, told once per subscription (the id is the subscription's): approved
   * when it may call the API (UNBLOCKED), on_hold when it waits (e.g. held until its first invoice
   * is paid; billing tells approved when it is), failed with the engine's reason.
   */
  private async tellOutcome(ref: SubscriptionRef, outcome: { access: string } | { failed: unknown }): Promise<void> {
    const tenant = ref.api.tenant.domain;
    const label = subscriptionLabel(ref);
    const base = { tenantDomain: tenant, occurredAt: this.clock(), subscriberEmail: ref.subscriber.email };
    let event: NotificationEvent;
    if ('failed' in outcome) {
      const reason = outcome.failed instanceof Error ? outcome.failed.message : String(outcome.failed);
      event = {
        ...base,
        id: `subscription.failed:${tenant}:${ref.uuid}`,
        type: 'subscription.failed',
        summary: `Subscription of ${label} failed: ${reason}`,
        data: { ...subscriptionFacts(ref), reason },
      };
    } else if (outcome.access === 'UNBLOCKED') {
      event = { ...base, id: `subscription.approved:${tenant}:${ref.uuid}`, type: 'subscription.approved', summary: `Subscription of ${label} was approved.`, data: { ...subscriptionFacts(ref), status: outcome.access } };
    } else if (outcome.access === 'ON_HOLD') {
      event = {
        ...base,
        id: `subscription.on_hold:${tenant}:${ref.uuid}`,
        type: 'subscription.on_hold',
        summary: `Subscription of ${label} is on hold until its first invoice is paid.`,
        data: { ...subscriptionFacts(ref), status: outcome.access },
      };
    } else {
      return;
    }
    await emit(this.notifier, event, this.logger);
  }

  /** Undoes a failed attempt: the engine cancels what it made (found by metadata), then the row goes. */
  private async undo(id: number, ref: SubscriptionRef): Promise<void> {
    try {
      await this.engine.deleteSubscription(ref);
    } catch (undo) {
      this.logger.error(
        { subscription: ref.uuid, failure: undo instanceof Error ? undo.message : String(undo) },
        'could not cancel the billing subscription of a failed subscribe; its ON_HOLD row stays for a retry or `meterline reconcile`',
      );
      return;
    }
    await this.removeRowQuietly(id, ref.uuid);
  }

  /**
   * Changes the business plan (tier) of one of the caller's subscriptions, as WSO2's devportal
   * PUT does. The billing follows the plan:
   * - not billed before (a FREE tier, or an API not monetized): the engine's workflow runs for
   *   the new tier, as when subscribing; when it now bills, the billing is recorded and decides
   *   access (a failed attempt is undone and the tier stays);
   * - billed before, on a tier the engine bills too: the engine moves its own subscription to the
   *   new plan (`changeSubscriptionPlan`), after the usage so far is sent at the old price;
   *   With Meterline's own invoicing the open period is closed at the change (docs/invoicing.md);
   *   the new tier keeps the billing cycle and currency (400 otherwise);
   * - billed before, to a tier the engine does not bill: refused (409): the subscriber
   *   unsubscribes (final invoice) and subscribes again on the free tier.
   * Only an UNBLOCKED subscription changes plan (409 otherwise).
   */
  async changePlan(caller: SubscriberIdentity, uuid: string, request: { applicationId: string; apiId?: string; throttlingPolicy: string }): Promise<SubscriptionRecord> {
    const row = await this.ownRow(caller, uuid);
    if (request.applicationId !== row.applicationUuid) {
      throw GatewayError.invalid('applicationId', `subscription ${uuid} is of application ${row.applicationUuid}; it cannot move to another application`);
    }
    if (request.apiId !== undefined && request.apiId !== row.apiUuid) {
      throw GatewayError.invalid('apiId', `subscription ${uuid} is to API ${row.apiUuid}; it cannot move to another API`);
    }
    await this.changeTier(row, caller.tenant, request.throttlingPolicy);
    return this.getOwn(caller, uuid);
  }

  /**
   * WSO2's publisher `POST /subscriptions/change-business-plan`: the same change, on a
   * subscription to one of the tenant's APIs (the caller checks that it may act for the API);
   * a bad plan is reported on `businessPlan`, WSO2's query parameter.
   */
  async changePlanForPublisher(tenant: TenantRef, uuid: string, businessPlan: string): Promise<SubscriptionRecord> {
    const row = await this.subscriptions.findByUuid(uuid);
    if (!row || row.apiOrganization !== tenant.domain) throw GatewayError.notFound(`Subscription ${uuid}`);
    await this.changeTier(row, tenant, businessPlan, 'businessPlan');
    const changed = await this.subscriptions.findByUuid(uuid);
    if (!changed) throw GatewayError.notFound(`Subscription ${uuid}`);
    return this.toRecord(changed, tenant);
  }

  /** The change of tier both portals make (see `changePlan`); the subscription's row on the new tier when it returns. */
  private async changeTier(row: SubscriptionRow, tenant: TenantRef, tier: string, field = 'throttlingPolicy'): Promise<void> {
    const uuid = row.uuid;
    if (tier === row.tier) return;
    // Only an active subscription changes plan: ON_HOLD is being made or awaits its first payment,
    // and a block (the publisher's, or billing's for an unpaid invoice) must not be lifted by it.
    if (row.status !== 'UNBLOCKED' || this.inFlight.has(uuid)) {
      throw new GatewayError('CONFLICT', `Subscription ${uuid} is ${row.status}; its business plan can change once it is UNBLOCKED`);
    }
    const record = await this.toRecord(row, tenant);
    const { api } = record;
    if (!api.policies.includes(tier)) {
      throw GatewayError.invalid(field, `API ${api.name} ${api.version} is not offered on ${tier} (it offers ${api.policies.join(', ')})`);
    }
    const policy = await this.policies.findByName(tenant, tier);
    if (!policy) throw GatewayError.invalid(field, `there is no subscription policy named ${tier}`);
    const from = await this.toRef(row, tenant);
    const to: SubscriptionRef = { ...from, policy: toSubscriptionPolicy(policy) };

    this.inFlight.add(uuid);
    let changeInvoice: { invoiceId: string } | null | undefined;
    try {
      const billed = (await this.engine.billedSubscriptionOf(uuid)) !== null;
      let access: string = row.status;
      if (!billed) {
        if (await this.billing?.isBilled(uuid)) {
          // Its billing record names an engine subscription that ended; a new one cannot replace it.
          throw new GatewayError('CONFLICT', `Subscription ${uuid} was billed before; unsubscribe and subscribe again to be billed on ${policy.name}`);
        }
        const outcome = await this.engineOutcome(() => this.engine.createSubscription(to), field);
        if (outcome.billed && outcome.engineSubscriptionId && this.billing) {
          try {
            access = (await this.recordBilling(to, outcome, tenant)).status;
          access = (await this.firstInvoice(to))?.access ?? access;
          } catch (error) {
            await this.engine.deleteSubscription(to).catch(() => undefined);
            throw error;
          }
        } else {
          access = outcome.access;
        }
      } else {
        if (to.policy.billingPlan !== 'COMMERCIAL') {
          throw new GatewayError('CONFLICT', `Subscription ${uuid} is billed and ${policy.name} is not; unsubscribe (its final invoice is sent) and subscribe again on ${policy.name}`);
        }
        const own = this.engine.capabilities.invoicing === 'meterline';
        const [was, next] = [from.policy.pricing, to.policy.pricing];
        if (own && was && next && (was.billingCycle !== next.billingCycle || was.currency.toLowerCase() !== next.currency.toLowerCase())) {
          // Meterline's own invoices keep the cycle across a change (docs/invoicing.md, "Changes of plan").
          throw GatewayError.invalid(field, `${policy.name} is billed ${next.billingCycle} in ${next.currency.toUpperCase()}; subscription ${uuid} is billed ${was.billingCycle} in ${was.currency.toUpperCase()}, which a change of plan keeps`);
        }
        const change = this.engine.changeSubscriptionPlan?.bind(this.engine);
        if (!change) throw new GatewayError('CONFLICT', `The billing engine cannot change the plan of a billed subscription; unsubscribe and subscribe again on ${policy.name}`);
        await this.publishUsageBeforeCancel(from);
        const outcome = await this.engineOutcome(() => change(from, to), field);
        if (!outcome.billed) {
          throw new GatewayError('CONFLICT', `Subscription ${uuid} is billed and ${policy.name} is not; unsubscribe (its final invoice is sent) and subscribe again on ${policy.name}`);
        }
        // Own invoicing: the change's invoice (usage so far at the old price) is drafted before the
        // tier changes and submitted after; a crash between them is resolved by the invoicing check.
        if (own) changeInvoice = await this.invoicing?.planChanging?.(from, to, new Date(this.clock().getTime()));
      }
      await this.subscriptions.setTier(row.id, policy.name, access, this.now());
      if (changeInvoice) await this.invoicing?.planChanged?.(changeInvoice.invoiceId).catch((error: unknown) => this.logger.error({ subscription: uuid, failure: error instanceof Error ? error.message : String(error) }, 'could not submit the invoice of a change of plan; the invoicing check submits it'));
    } finally {
      this.inFlight.delete(uuid);
    }
  }

  /**
   * WSO2's `POST /subscriptions/multiple`: each request is subscribed in turn, as one
   * `subscribe` each. WSO2 answers the subscriptions made and leaves out the ones that failed;
   * Meterline does the same, and when none could be made answers the first failure.
   */
  async subscribeMany(caller: SubscriberIdentity, requests: ReadonlyArray<{ applicationId: string; apiId: string; throttlingPolicy: string }>): Promise<SubscriptionRecord[]> {
    const made: SubscriptionRecord[] = [];
    let firstFailure: unknown;
    for (const [index, request] of requests.entries()) {
      try {
        made.push(await this.subscribe(caller, request));
      } catch (error) {
        firstFailure ??= error;
        this.logger.warn(
          { index, apiId: request.apiId, applicationId: request.applicationId, failure: error instanceof Error ? error.message : String(error) },
          'one subscription of a multiple-subscription request failed; the others go on',
        );
      }
    }
    if (made.length === 0 && firstFailure !== undefined) throw firstFailure;
    return made;
  }

  private async engineOutcome(call: () => Promise<SubscriptionOutcome>, field: string): Promise<SubscriptionOutcome> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof MonetizationError && error.code === 'NOT_MONETIZED') throw GatewayError.invalid(field, error.message);
      throw error;
    }
  }

  private recordBilling(ref: SubscriptionRef, outcome: SubscriptionOutcome, tenant: TenantRef) {
    return this.billing!.subscriptionBilled(
      {
        subscriptionUuid: ref.uuid,
        tenantDomain: tenant.domain,
        apiUuid: ref.api.uuid,
        applicationUuid: ref.application.uuid,
        engineSubscriptionId: outcome.engineSubscriptionId!,
        engineAccount: null,
      },
      this.clock(),
      outcome.access,
    );
  }

  /**
   * `meterline reconcile`: removes a subscription an attempt left ON_HOLD (the caller decides it
   * is unfinished and old enough): the engine cancels whatever it made for it, found by its
   * metadata even when the engine's rows are missing, then the row is removed. False when the
   * row is gone, no longer ON_HOLD, or an attempt of this process is finishing it.
   */
  /** How many subscriptions each application has (for the application views). */
  countsByApplication(applicationIds: readonly number[]): Promise<Map<number, number>> {
    return this.subscriptions.countsByApplication(applicationIds);
  }

  async removeUnfinished(uuid: string, tenant: TenantRef): Promise<boolean> {
    const row = await this.subscriptions.findByUuid(uuid);
    if (!row || row.status !== 'ON_HOLD' || this.inFlight.has(uuid)) return false;
    await this.engine.deleteSubscription(await this.toRef(row, tenant));
    await this.subscriptions.delete(row.id);
    return true;
  }

  async listOwn(caller: SubscriberIdentity, filter: { applicationId?: string; apiId?: string }): Promise<SubscriptionRecord[]> {
    const subscriber = await this.subscribers.find(caller.tenant, caller.subject);
    if (!subscriber) return [];
    let applicationId: number | undefined;
    let apiId: number | undefined;
    if (filter.applicationId !== undefined) {
      const application = await this.applications.findOwned(subscriber, filter.applicationId);
      if (!application) throw GatewayError.notFound(`Application ${filter.applicationId}`);
      applicationId = application.id;
    }
    if (filter.apiId !== undefined) {
      const api = await this.apis.findByUuid(caller.tenant, filter.apiId);
      if (!api) throw GatewayError.notFound(`API ${filter.apiId}`);
      apiId = api.id;
    }
    const rows = await this.subscriptions.listOfSubscriber(subscriber.id, { applicationId, apiId });
    return Promise.all(rows.map((row) => this.toRecord(row, caller.tenant)));
  }

  async getOwn(caller: SubscriberIdentity, uuid: string): Promise<SubscriptionRecord> {
    return this.toRecord(await this.ownRow(caller, uuid), caller.tenant);
  }

  async unsubscribe(caller: SubscriberIdentity, uuid: string): Promise<void> {
    const row = await this.ownRow(caller, uuid);
    await this.remove(row, caller.tenant);
  }

  /** The subscriber's pending invoice (developer portal "View Invoice"). */
  async pendingInvoiceOwn(caller: SubscriberIdentity, uuid: string): Promise<PendingInvoice> {
    const row = await this.ownRow(caller, uuid);
    return this.pendingInvoiceOf(await this.toRef(row, caller.tenant));
  }

  /** The invoice records of one of the caller's subscriptions (none when billing is not recorded). */
  async invoicesOwn(caller: SubscriberIdentity, uuid: string): Promise<InvoiceRecord[]> {
    const row = await this.ownRow(caller, uuid);
    return this.billing ? this.billing.invoicesOfSubscription(row.uuid) : [];
  }

  /** The invoice records of every subscription to one of the tenant's APIs. */
  async invoicesOfApiForPublisher(tenant: TenantRef, apiUuid: string): Promise<InvoiceRecord[]> {
    const api = await this.apis.findByUuid(tenant, apiUuid);
    if (!api) throw GatewayError.notFound(`API ${apiUuid}`);
    return this.billing ? this.billing.invoicesOfApi(api.uuid) : [];
  }

  /** Publisher view: subscriptions to the tenant's APIs, or to one of them. */
  async listForPublisher(tenant: TenantRef, apiUuid: string | undefined): Promise<SubscriptionRecord[]> {
    let apiId: number | undefined;
    if (apiUuid !== undefined) {
      const api = await this.apis.findByUuid(tenant, apiUuid);
      if (!api) throw GatewayError.notFound(`API ${apiUuid}`);
      apiId = api.id;
    }
    const rows = await this.subscriptions.listOfTenantApis(tenant.domain, apiId);
    return Promise.all(rows.map((row) => this.toRecord(row, tenant)));
  }

  async pendingInvoiceForPublisher(tenant: TenantRef, uuid: string): Promise<PendingInvoice> {
    const row = await this.subscriptions.findByUuid(uuid);
    if (!row || row.apiOrganization !== tenant.domain) throw GatewayError.notFound(`Subscription ${uuid}`);
    return this.pendingInvoiceOf(await this.toRef(row, tenant));
  }

  /** Meterline's own pending invoice when it invoices the subscription, else the engine's. */
  private async pendingInvoiceOf(ref: SubscriptionRef): Promise<PendingInvoice> {
    return (await this.invoicing?.pendingInvoice?.(ref)) ?? this.engine.getCurrentUsageForSubscription(ref);
  }

  /** Every subscription of an application, for deleting the application. */
  async removeAllOfApplication(applicationId: number, tenant: TenantRef): Promise<void> {
    for (const row of await this.subscriptions.listOfApplication(applicationId)) await this.remove(row, tenant);
  }

  /**
   * Unsubscribing, in this order: the subscription's unsent usage is frozen and sent, then the
   * billing subscription is cancelled (its final invoice bills that usage), then the row is
   * removed (from then on its calls are not billable). If the usage cannot be sent now, nothing
   * is cancelled or removed: the subscription stays active and billed, and the caller is told to
   * try again (503), so no usage is left to be billed to nobody.
   */
  private async remove(row: SubscriptionRow, tenant: TenantRef): Promise<void> {
    const ref = await this.toRef(row, tenant);
    const sent = await this.publishUsageBeforeCancel(ref);
    await this.probe('usage-sent');
    // The engine may answer USAGE_NOT_YET_COUNTED (503, retry later): nothing is cancelled then.
    await this.engine.deleteSubscription(ref, sent);
    await this.probe('engine-subscription-cancelled');
    await this.finalInvoice(ref);
    await this.subscriptions.delete(row.id);
  }

  /**
   * The first invoice of a subscription Meterline invoices. A failure is logged, not thrown: the
   * subscription is made and billed, and holds (per `hold_until_paid`) until its first invoice is
   * paid; a draft that could not be submitted is submitted again by the invoicing check.
   */
  private async firstInvoice(ref: SubscriptionRef): Promise<{ access: string } | null> {
    if (!this.invoicing) return null;
    try {
      return await this.invoicing.subscriptionStarted(ref, this.clock());
    } catch (error) {
      this.logger.error({ subscription: ref.uuid, failure: error instanceof Error ? error.message : String(error) }, 'could not make the first invoice of a subscription');
      return null;
    }
  }

  /**
   * The final invoice of a subscription Meterline invoices, after the engine cancelled it: a
   * failure is logged, not thrown (the cancel has happened; a draft left behind is submitted again
   * by the invoicing check).
   */
  private async finalInvoice(ref: SubscriptionRef): Promise<void> {
    if (!this.invoicing) return;
    try {
      await this.invoicing.subscriptionEnded(ref, this.clock());
    } catch (error) {
      this.logger.error({ subscription: ref.uuid, failure: error instanceof Error ? error.message : String(error) }, 'could not make the final invoice of a cancelled subscription');
    }
  }

  /** Sends the subscription's unsent usage; what was sent of it, for the engine to check it counted it all. */
  private async publishUsageBeforeCancel(subscription: SubscriptionRef): Promise<SentUsage | undefined> {
    const usage = this.usage;
    if (!usage || (await this.engine.billedSubscriptionOf(subscription.uuid)) === null) return undefined;
    const result = await usage.publishSubscriptionNow(subscription.uuid);
    if (result.published) return (from, to) => usage.sentUsage(subscription.uuid, from, to);
    throw new MonetizationError(
      'ENGINE_UNAVAILABLE',
      `Subscription ${subscription.uuid} was not cancelled: its usage could not be sent to the billing engine yet (${result.reason}). ` +
        'It is still active and billed; try again later.',
      { subscription: subscription.uuid },
    );
  }

  private async ownRow(caller: SubscriberIdentity, uuid: string): Promise<SubscriptionRow> {
    const row = await this.subscriptions.findByUuid(uuid);
    const owned =
      row !== undefined &&
      row.subscriberTenantId === caller.tenant.id &&
      row.subscriberUserId === caller.subject &&
      row.apiOrganization === caller.tenant.domain;
    if (!owned) throw GatewayError.notFound(`Subscription ${uuid}`);
    return row;
  }

  private async toRecord(row: SubscriptionRow, tenant: TenantRef): Promise<SubscriptionRecord> {
    const api = await this.apis.findByUuid(tenant, row.apiUuid);
    const owner: SubscriberRecord = { id: row.subscriberId, userId: row.subscriberUserId, email: row.subscriberEmail, tenant };
    const application = await this.applications.findOwned(owner, row.applicationUuid);
    if (!api || !application) throw new Error(`subscription ${row.uuid} refers to a missing API or application`);
    return {
      id: row.id,
      uuid: row.uuid,
      tier: row.tier,
      status: row.status,
      api,
      application,
      subscriber: { userId: row.subscriberUserId, email: row.subscriberEmail },
    };
  }

  private async toRef(row: SubscriptionRow, tenant: TenantRef): Promise<SubscriptionRef> {
    const record = await this.toRecord(row, tenant);
    const policy = await this.policies.findByName(tenant, row.tier);
    return {
      uuid: record.uuid,
      api: toApiRef(record.api),
      application: { uuid: record.application.uuid, name: record.application.name },
      subscriber: record.subscriber,
      // A tier removed behind our back (possible on a shared WSO2 database) bills nothing.
      policy: policy ? toSubscriptionPolicy(policy) : unknownTier(row.tier, tenant),
    };
  }

  private async removeRowQuietly(id: number, uuid: string): Promise<void> {
    try {
      await this.subscriptions.delete(id);
    } catch (error) {
      this.logger.error({ subscription: uuid, failure: error instanceof Error ? error.message : String(error) }, 'could not remove the subscription row after the workflow failed');
    }
  }

  private now(): string {
    return utcTimestamp(this.clock());
  }
}

function unknownTier(name: string, tenant: TenantRef): SubscriptionPolicy {
  return { uuid: '', name, tenant, billingPlan: 'FREE', pricing: null };
}
