import { setTimeout as sleep } from 'node:timers/promises';
import { composeServices } from '../composition';
import type { MeterlineConfig } from '../config/schema';
import { assertDatabaseReachable } from '../db/connect';
import { assertMigrated } from '../db/migrator';
import type { Logger } from '../logger';
import type { PublishStatusBody } from '../usage/usage-service';

/**
 * `meterline publish-usage [--wait]`: runs the usage publisher in this process (it shares the
 * lease with every running service, so it never runs beside another job), showing progress on
 * stderr. A job already running elsewhere is an error (exit 1), or with `--wait` is followed
 * until it ends and then a fresh job runs, so that everything captured until now is published
 * when the command returns. Exit 0 when every record was sent, 1 otherwise.
 */
export async function publishUsageCommand(config: MeterlineConfig, logger: Logger, options: { wait: boolean; out?: NodeJS.WritableStream }): Promise<number> {
  const out = options.out ?? process.stderr;
  const services = await composeServices({ config, logger });
  const { db, usage } = services;
  try {
    await assertDatabaseReachable(db, config.database.apim_db); // one line naming the database, not a stack
    await assertMigrated(db, services.migrations);
  } catch (error) {
    await services.close();
    throw error;
  }
  const interrupt = () => {
    out.write('\nstopping after the calls in flight; the rest is published by the next job\n');
    void usage.publisher.stop();
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    for (;;) {
      const answer = await usage.publishUsage();
      if (answer.accepted) break;
      if (!options.wait) {
        out.write(`a usage publish job is already running (run ${answer.body.runId ?? '?'}); use --wait to wait for it\n`);
        return 1;
      }
      const status = await usage.publishStatus();
      if (status.lease.expired) out.write('the running job stopped without finishing; resuming it once its lease is free\n');
      else out.write(`waiting for the running job: ${progressLine(status)}\n`);
      await sleep(Math.min(1000, (usage.options.lease_seconds * 1000) / 4));
    }
    const job = usage.publisher.current();
    const ticker = setInterval(() => {
      void usage.publishStatus().then((status) => out.write(`${progressLine(status)}\n`), () => undefined);
    }, 1000);
    const summary = await job;
    clearInterval(ticker);
    const status = await usage.publishStatus();
    out.write(`${progressLine(status)}\n`);
    for (const failure of summary?.failures ?? []) out.write(`failed: ${failure.subscription}: ${failure.reason}\n`);
    out.write(`usage publish ${summary?.outcome ?? 'FAILED'}: ${summary?.recordsSent ?? 0} records, ${summary?.eventsPublished ?? 0} calls\n`);
    return summary?.outcome === 'SUCCESSFULL' ? 0 : 1;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await services.close();
  }
}

export function progressLine(status: PublishStatusBody): string {
  const p = status.progress;
  return (
    `${status.state}/${status.status} ${p.phase.toLowerCase()}: subscriptions ${p.subscriptionsDone + p.subscriptionsFailed}/${p.subscriptionsTotal}` +
    ` (${p.subscriptionsFailed} failed), ${p.recordsSent} records, ${p.eventsPublished} calls published`
  );
}
