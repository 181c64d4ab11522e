import cron from 'node-cron';
import { utcTimestamp } from '../domain/time';
import type { TenantRef } from '../domain/model';
import type { Logger } from '../logger';
import type { EngineCustomerFound, EngineCustomerListing, EngineCustomerRepair, Monetization, TenantSettings } from './monetization';

/**
 * How long a subscription may stay ON_HOLD without a billing record before `meterline
 * reconcile` takes it for an attempt nobody came back for: far longer than any subscribe takes,
 * so it never races one still running in another process.
 */
export const UNFINISHED_GRACE_SECONDS = 15 * 60;

export interface ReconcileFinding {
  kind: 'ORPHAN_ENGINE_SUBSCRIPTION' | 'UNFINISHED_SUBSCRIPTION' | 'UNRECORDED_ENGINE_CUSTOMER' | 'DANGLING_CUSTOMER_RECORD';
  tenantDomain: string;
  /** The Meterline subscription concerned; empty for customer findings. */
  subscriptionUuid: string;
  /** The engine customer concerned; empty for subscription findings. */
  engineCustomerId: string;
  /** One line: what was found and what was done (or, in a dry run, would be). */
  line: string;
  failed: boolean;
  /** Left alone because only a person can judge it safely (e.g. open invoices): reported, not repaired. */
  needsHuman: boolean;
}

/** A subscription left ON_HOLD, as reconcile needs it. */
export interface HeldSubscription {
  uuid: string;
  apiOrganization: string;
  apiUuid: string;
  applicationUuid: string;
  createdTime: string | null;
}

/**
 * What reconcile reads and repairs through, each answered by the table's owner; the composition
 * root (src/composition.ts) builds it.
 */
export interface ReconcileDependencies {
  engine: Monetization;
  /** `[[tenants]]`: every tenant's engine subscriptions and customers are checked. */
  tenants: { find(domain: string): TenantSettings | undefined; all(): TenantSettings[] };
  /** Subscriptions ON_HOLD since before `before` (a UTC timestamp as `utcTimestamp` writes it). */
  heldSince(before: string): Promise<HeldSubscription[]>;
  subscriptionExists(uuid: string): Promise<boolean>;
  /** Billing's record of a subscription: one held until its first payment has one. */
  hasBillingRecord(subscriptionUuid: string): Promise<boolean>;
  /** The API-Manager core's undo of a subscribe that never finished; false when it changed meanwhile. */
  removeUnfinished(uuid: string, tenant: TenantRef): Promise<boolean>;
  logger: Logger;
  clock?: () => Date;
  /** Told of each orphan engine subscription cancelled (own invoicing makes its final invoice); a failure is logged. */
  engineSubscriptionCancelled?(subscriptionUuid: string, at: Date): Promise<unknown>;
}

/**
 * Finds and repairs what a killed or failed workflow left behind, both ways:
 * - an **unfinished subscription**: an AM_SUBSCRIPTION row ON_HOLD for longer than
 *   `graceSeconds` with no billing record (a subscribe that never finished and that nobody
 *   retried). It is removed, the way a failed subscribe is undone: the engine cancels whatever it
 *   made for it (found by its metadata, even when its own rows are missing), then the row goes.
 *   It is not finished instead, because nobody was told it exists and nobody should be charged
 *   for it. A subscription held until its first payment has its billing record and is left alone.
 * - an **orphan engine subscription**: a live engine subscription Meterline made (its metadata
 *   names a Meterline subscription) whose Meterline subscription does not exist. It is cancelled
 *   with a final invoice and the engine forgets it.
 * - an **unrecorded engine customer**: a customer Meterline made (a subscribe killed between
 *   creating and recording it), older than `graceSeconds`, that no record names: adopted when its
 *   owner exists without a customer, deleted when nothing refers to it and no money hangs on it,
 *   else left with the reason (see `Monetization.repairEngineCustomer`). This pass runs after the
 *   subscription passes, so a customer whose orphan subscription was just cancelled is deleted in
 *   the same run.
 * - a **dangling customer record**: a record naming a customer the engine no longer has: forgotten
 *   when no billed subscription uses it, else reported as needing a human.
 * With `dryRun` nothing changes. A failed repair is reported and the others go on.
 */
export async function reconcile(dependencies: ReconcileDependencies, options: { dryRun: boolean; graceSeconds?: number }): Promise<ReconcileFinding[]> {
  const { engine, tenants, heldSince, subscriptionExists, hasBillingRecord, removeUnfinished, clock = () => new Date() } = dependencies;
  const findings: ReconcileFinding[] = [];
  const graceSeconds = options.graceSeconds ?? UNFINISHED_GRACE_SECONDS;

  const before = utcTimestamp(new Date(clock().getTime() - graceSeconds * 1000));
  for (const row of await heldSince(before)) {
    if (await hasBillingRecord(row.uuid)) continue; // held until paid: a finished subscription
    const tenant = tenants.find(row.apiOrganization);
    if (!tenant) continue;
    const what = `unfinished subscription ${row.uuid} (tenant ${tenant.domain}, API ${row.apiUuid}, application ${row.applicationUuid}, ON_HOLD since ${row.createdTime ?? '?'} UTC, no billing record)`;
    findings.push(
      await act(what, options.dryRun, 'would cancel what the billing engine made for it and remove it', async () => {
        const removed = await removeUnfinished(row.uuid, { domain: tenant.domain, id: tenant.id });
        return removed ? 'cancelled what the billing engine made for it and removed it' : 'left alone: it changed meanwhile';
      }).then((done) => ({ kind: 'UNFINISHED_SUBSCRIPTION' as const, tenantDomain: tenant.domain, subscriptionUuid: row.uuid, engineCustomerId: '', needsHuman: false, ...done })),
    );
  }

  for (const tenant of tenants.all()) {
    let found;
    try {
      found = await engine.listEngineSubscriptions({ domain: tenant.domain, id: tenant.id });
    } catch (error) {
      findings.push({
        kind: 'ORPHAN_ENGINE_SUBSCRIPTION',
        tenantDomain: tenant.domain,
        subscriptionUuid: '',
        engineCustomerId: '',
        line: `tenant ${tenant.domain}: could not list the billing engine's subscriptions: ${messageOf(error)}`,
        failed: true,
        needsHuman: false,
      });
      continue;
    }
    for (const subscription of found) {
      if (await subscriptionExists(subscription.subscriptionUuid)) continue;
      const where = subscription.account ? ` in ${subscription.account}` : '';
      const what = `orphan engine subscription ${subscription.engineSubscriptionId}${where} (tenant ${tenant.domain}, ${subscription.status}, names subscription ${subscription.subscriptionUuid}, which Meterline does not have)`;
      findings.push(
        await act(what, options.dryRun, 'would cancel it with a final invoice', async () => {
          await engine.cancelEngineSubscription(subscription);
          await dependencies.engineSubscriptionCancelled?.(subscription.subscriptionUuid, clock()).catch((error: unknown) =>
            dependencies.logger.error({ err: error, subscription: subscription.subscriptionUuid }, 'could not make the final invoice of a cancelled orphan subscription; the invoicing check tries again'),
          );
          return 'cancelled it with a final invoice';
        }).then((done) => ({ kind: 'ORPHAN_ENGINE_SUBSCRIPTION' as const, tenantDomain: tenant.domain, subscriptionUuid: subscription.subscriptionUuid, engineCustomerId: '', needsHuman: false, ...done })),
      );
    }
  }

  const createdBefore = new Date(clock().getTime() - graceSeconds * 1000);
  for (const tenant of tenants.all()) findings.push(...(await reconcileCustomers(engine, { domain: tenant.domain, id: tenant.id }, createdBefore, options.dryRun)));
  return findings;
}

/** The customer pass for one tenant; customers created after `createdBefore` may belong to a subscribe still running. */
async function reconcileCustomers(engine: Monetization, tenant: { domain: string; id: number }, createdBefore: Date, dryRun: boolean): Promise<ReconcileFinding[]> {
  const failure = (line: string): ReconcileFinding => ({ kind: 'UNRECORDED_ENGINE_CUSTOMER', tenantDomain: tenant.domain, subscriptionUuid: '', engineCustomerId: '', line, failed: true, needsHuman: false });
  let listing: EngineCustomerListing;
  try {
    listing = await engine.listEngineCustomers(tenant);
  } catch (error) {
    return [failure(`tenant ${tenant.domain}: could not list the billing engine's customers: ${messageOf(error)}`)];
  }
  const findings = listing.unlisted.map(({ account, reason }) =>
    failure(`tenant ${tenant.domain}: could not list the customers of ${account ?? 'the platform account'}: ${reason}`),
  );
  for (const customer of listing.customers) {
    if (customer.created !== null && customer.created > createdBefore) continue;
    const what = describeCustomer(customer);
    const base = { kind: customer.kind, tenantDomain: tenant.domain, subscriptionUuid: '', engineCustomerId: customer.engineCustomerId };
    if (dryRun) {
      findings.push({ ...base, line: `${what}: ${customerAction(customer.plan, true)} (dry run)`, failed: false, needsHuman: customer.plan.needsHuman });
      continue;
    }
    try {
      const done = await engine.repairEngineCustomer(customer);
      findings.push({ ...base, line: `${what}: ${customerAction(done, false)}`, failed: false, needsHuman: done.needsHuman });
    } catch (error) {
      findings.push({ ...base, line: `${what}: repair failed: ${messageOf(error)}`, failed: true, needsHuman: false });
    }
  }
  return findings;
}

function describeCustomer(customer: EngineCustomerFound): string {
  const where = customer.account ?? (customer.role === 'PLATFORM' ? 'the platform account' : null);
  if (customer.kind === 'UNRECORDED_ENGINE_CUSTOMER') {
    return `unrecorded engine customer ${customer.engineCustomerId} in ${where} (tenant ${customer.tenantDomain}, ${customer.owner}, created ${customer.created?.toISOString() ?? '?'}, no Meterline record names it)`;
  }
  const gone = where ? `gone from ${where}` : 'in no account Meterline uses';
  return `dangling customer record ${customer.engineCustomerId} (tenant ${customer.tenantDomain}, ${customer.owner}, ${gone})`;
}

function customerAction(repair: EngineCustomerRepair, wouldBe: boolean): string {
  const verb = {
    ADOPT: wouldBe ? 'would record it for its owner' : 'recorded it for its owner',
    DELETE: wouldBe ? 'would delete it' : 'deleted it',
    FORGET_RECORD: wouldBe ? 'would forget the record' : 'forgot the record',
    LEAVE: repair.needsHuman ? 'left alone, needs a human' : 'left alone',
  }[repair.action];
  return `${verb}: ${repair.reason}`;
}

async function act(what: string, dryRun: boolean, wouldDo: string, repair: () => Promise<string>): Promise<{ line: string; failed: boolean }> {
  if (dryRun) return { line: `${what}: ${wouldDo} (dry run)`, failed: false };
  try {
    return { line: `${what}: ${await repair()}`, failed: false };
  } catch (error) {
    return { line: `${what}: repair failed: ${messageOf(error)}`, failed: true };
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}


/**
 * `[apim.monetization] reconcile_cron`: runs `reconcile` on the schedule, logging one line per
 * finding. Returns a stop function; an empty expression schedules nothing.
 */
export function scheduleReconcile(expression: string, dependencies: ReconcileDependencies): () => Promise<void> {
  const { logger } = dependencies;
  if (expression.trim() === '') return async () => {};
  if (!cron.validate(expression)) throw new Error(`[apim.monetization] reconcile_cron: "${expression}" is not a valid cron expression`);
  const task = cron.schedule(expression, async () => {
    try {
      for (const finding of await reconcile(dependencies, { dryRun: false })) {
        const log = finding.failed || finding.needsHuman ? logger.error.bind(logger) : logger.warn.bind(logger);
        log({ reconcile: finding.kind, subscription: finding.subscriptionUuid || undefined, customer: finding.engineCustomerId || undefined }, finding.line);
      }
    } catch (error) {
      logger.error({ err: error }, 'scheduled reconcile could not run');
    }
  });
  logger.info({ cron: expression }, 'reconcile scheduled');
  return async () => {
    await task.stop();
  };
}
