import { spawn, type ChildProcess } from 'node:child_process';
import { writeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { StripeMonetization } from '../../plugins/stripe/stripe.monetization';
import { parseStripeOptions } from '../../plugins/stripe/stripe.options';
import { createBilling } from '../../src/billing/billing';
import { BillingRepository } from '../../src/billing/billing.repository';
import { createApimRepositories } from '../../src/apim/apim';
import { apimCoreRecords } from '../../src/apim/core-records';
import type { MeterlineConfig } from '../../src/config/schema';
import { connectDatabase } from '../../src/db/connect';
import { SubscriptionsService, type SubscriberIdentity } from '../../src/apim/subscriptions.service';
import { createLogger } from '../../src/logger';
import { tenantDirectoryFrom } from '../../src/monetization/tenant-directory';

/**
 * A Meterline instance in its own process that is SIGKILLed right after one step of subscribe or
 * unsubscribe took effect (issue 12, item 4): the real death the in-process variant of
 * crash-safe-subscriptions.test.ts only imitates. It is composed like the service's own
 * subscriptions workflow (the Stripe engine, billing records) on the given database and local
 * Stripe server, with a probe that kills the process at `step`.
 *
 * The parent runs an order with `KillPointInstances`; the child, a plain `node` process running
 * this file through ts-register.cjs (no build, so never a stale dist/), reads the order as JSON
 * on stdin and reports on stdout.
 */
/** What an instance is asked to do (the same request the service got). */
export type KillWork =
  | { action: 'subscribe'; identity: SubscriberIdentity; request: { applicationId: string; apiId: string; throttlingPolicy: string } }
  | { action: 'unsubscribe'; identity: SubscriberIdentity; subscriptionId: string };

/**
 * The subscriptions workflow of another Meterline instance on `db` (the Stripe engine, billing
 * records), composed as the service composes it, with `probe` called after each step: the
 * killed child below and the suite's in-process imitation both run this one.
 */
export function probedSubscriptions(db: Knex, config: MeterlineConfig, clock: () => Date, probe: (step: string) => Promise<void>): SubscriptionsService {
  const logger = createLogger('silent');
  const engine = new StripeMonetization(
    parseStripeOptions((config.apim.monetization as Record<string, unknown>).stripe),
    { core: apimCoreRecords(db), store: db, logger, clock, tenants: tenantDirectoryFrom(config) },
    probe,
  );
  const r = createApimRepositories(db);
  const billing = createBilling({ repository: new BillingRepository(db, apimCoreRecords(db)), config, logger, engine });
  return new SubscriptionsService(r.subscriptions, r.apis, r.applications, r.subscribers, r.policies, engine, logger, clock, billing.records, undefined, probe);
}

/** Runs the order's request on the workflow. */
export function perform(subscriptions: SubscriptionsService, work: KillWork): Promise<unknown> {
  return work.action === 'subscribe' ? subscriptions.subscribe(work.identity, work.request) : subscriptions.unsubscribe(work.identity, work.subscriptionId);
}

export interface KillOrder {
  /** The running service's configuration: same database, same Stripe server and keys. */
  config: MeterlineConfig;
  /** Meterline's clock in Unix seconds: the local Stripe server's, which stands still unless moved. */
  now: number;
  /** The probe step after which the process dies. */
  step: string;
  work: KillWork;
}

export interface KillOutcome {
  /** How the child ended: 'SIGKILL' when it died at a probe step. */
  signal: NodeJS.Signals | null;
  code: number | null;
  /** The child's report lines: `killed at <step>` is written just before it kills itself. */
  reports: string[];
  stderr: string;
}

const REGISTER = join(__dirname, 'ts-register.cjs');

/**
 * Starts kill-point instances for a suite. A child loads its modules (most of its start, ~0.5 s)
 * before it reads its order, so one spare is always started ahead and loads while the suite's
 * own work runs; `run` hands the order to it and starts the next spare.
 */
export class KillPointInstances {
  private readonly started = new Set<ChildProcess>();
  private spare: ChildProcess = this.start();

  /** Runs `order` in a fresh process and resolves when that process is gone, however it ended. */
  run(order: KillOrder): Promise<KillOutcome> {
    const child = this.spare;
    this.spare = this.start();
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const ended = new Promise<KillOutcome>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => {
        resolve({ signal, code, reports: stdout.split('\n').filter((line) => line !== ''), stderr });
      });
    });
    child.stdin!.end(JSON.stringify(order));
    return ended;
  }

  /** Ends the spare nobody will use, and any instance a failed test left running. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.started].map((child) => {
        const gone = new Promise((resolve) => child.once('close', resolve));
        child.kill('SIGKILL');
        return gone;
      }),
    );
  }

  private start(): ChildProcess {
    const child = spawn(process.execPath, ['-r', REGISTER, __filename], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.started.add(child);
    child.once('close', () => this.started.delete(child));
    return child;
  }
}

/** Written synchronously: once the process is killed nothing buffered would reach the parent. */
function report(line: string): void {
  writeSync(1, `${line}\n`);
}

async function main(): Promise<void> {
  const order = JSON.parse(readFileSync(0, 'utf8')) as KillOrder;
  const { config, step } = order;
  const clock = () => new Date(order.now * 1000);
  const db = connectDatabase(config.database.apim_db);
  const probe = async (name: string): Promise<void> => {
    if (name !== step) return;
    report(`killed at ${name}`);
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL is delivered before kill(2) returns to a process signalling itself; never go on.
    await new Promise<never>(() => undefined);
  };
  await perform(probedSubscriptions(db, config, clock, probe), order.work);
  report('finished');
  await db.destroy();
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      report(`failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
