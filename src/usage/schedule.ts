import cron from 'node-cron';
import type { Logger } from '../logger';
import type { UsageService } from './usage-service';

/**
 * `[apim.monetization] usage_publish_cron`: starts a publish job on the schedule. A tick while a
 * job runs (here or in another process) does nothing: the lease decides, as for the REST call.
 * Returns a stop function; an empty expression schedules nothing.
 */
export function scheduleUsagePublishing(expression: string, usage: UsageService, logger: Logger): () => Promise<void> {
  if (expression.trim() === '') return async () => {};
  if (!cron.validate(expression)) throw new Error(`[apim.monetization] usage_publish_cron: "${expression}" is not a valid cron expression`);
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
  };
}
