import cron from 'node-cron';
import type { Logger } from '../logger';
import { PeriodEndTrigger, type Timer } from './period-end-trigger';
import type { UsageService } from './usage-service';

/**
 * Starts publish jobs on `[apim.monetization] usage_publish_cron` and right after each billing
 * period end of the subscriptions the publisher bills (PeriodEndTrigger), so a period's last
 * window reaches the engine while it still goes on that period's invoice. A start while a job
 * runs (here or in another process) does nothing: the lease decides, as for the REST call. An
 * empty expression schedules no cron job; the period-end runs happen whenever the engine closes
 * periods to usage (a finite `periodUsageGraceMs`). Returns a stop function.
 */
export function scheduleUsagePublishing(expression: string, usage: UsageService, logger: Logger, timer?: Timer): () => Promise<void> {
  if (expression.trim() !== '' && !cron.validate(expression)) {
    throw new Error(`[apim.monetization] usage_publish_cron: "${expression}" is not a valid cron expression`);
  }
  const stopPeriodEnds = schedulePeriodEndPublishing(usage, logger, timer);
  if (expression.trim() === '') return stopPeriodEnds;
  const task = cron.schedule(expression, async () => {
    try {
      const answer = await usage.publishUsage();
      if (!answer.accepted) logger.info({ runId: answer.body.runId }, 'scheduled usage publish skipped: a job is running');
    } catch (error) {
      logger.error({ err: error }, 'scheduled usage publish could not start');
    }
  });
  logger.info({ cron: expression }, 'usage publishing scheduled');
  return async () => {
    await task.stop();
    await stopPeriodEnds();
  };
}

/** The period-end runs alone (see scheduleUsagePublishing); nothing when the engine never closes a period. */
export function schedulePeriodEndPublishing(usage: UsageService, logger: Logger, timer?: Timer): () => Promise<void> {
  const publisher = usage.publisher;
  if (!Number.isFinite(publisher.periodUsageGraceMs)) return async () => {};
  const trigger = new PeriodEndTrigger({
    nextPeriodEnd: (after) => publisher.nextPeriodEnd(after),
    publish: async () => (await usage.publishUsage()).accepted,
    graceMs: publisher.periodUsageGraceMs,
    clock: publisher.clock,
    logger,
    ...(timer ? { timer } : {}),
  });
  // The first plan reads the database; a failure there is logged and planned again by the trigger.
  void trigger.start();
  logger.info({ graceMs: publisher.periodUsageGraceMs }, 'usage publishing scheduled after every billing period end');
  return () => trigger.stop();
}
