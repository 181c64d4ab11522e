import { composeServices } from '../composition';
import type { MeterlineConfig } from '../config/schema';
import { assertDatabaseReachable } from '../db/connect';
import { assertMigrated } from '../db/migrator';
import type { Logger } from '../logger';
import { RequeueConflictError, RequeueNotFoundError, type RequeueTarget } from '../usage/usage-requeue';

/**
 * `meterline usage requeue --record <id> | --subscription <uuid> [--json]`: publishes again, once
 * and under a new identifier, usage the billing engine reported it could not bill (ENGINE_ERROR);
 * see `usageRequeuer`. Exit 0 when records were re-queued, 1 when none could be (not found, not
 * ENGINE_ERROR, or counted by the engine after all), 2 for a usage mistake.
 */
export async function usageRequeueCommand(
  config: MeterlineConfig,
  logger: Logger,
  target: RequeueTarget,
  options: { json: boolean; out?: NodeJS.WritableStream; err?: NodeJS.WritableStream },
): Promise<number> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  const services = await composeServices({ config, logger });
  try {
    await assertDatabaseReachable(services.db, config.database.apim_db);
    await assertMigrated(services.db, services.migrations);
    try {
      const result = await services.requeueUsage(target);
      if (options.json) out.write(`${JSON.stringify(result, null, 2)}\n`);
      else {
        for (const r of result.requeued) out.write(`requeued record ${r.recordId} (subscription ${r.subscriptionId}, ${r.windowStart}..${r.windowEnd}, ${r.quantity}): ${r.previousIdentifier} -> ${r.identifier}\n`);
        out.write(`usage requeue: ${result.requeued.length} record(s) re-queued; the next publish-usage run sends them\n`);
      }
      return 0;
    } catch (error) {
      if (!(error instanceof RequeueNotFoundError) && !(error instanceof RequeueConflictError)) throw error;
      if (options.json) out.write(`${JSON.stringify({ requeued: [], error: error.message }, null, 2)}\n`);
      err.write(`meterline: ${error.message}\n`);
      return 1;
    }
  } finally {
    await services.close();
  }
}

/**
 * The target named by `--record` / `--subscription`, or the mistake in words (the caller exits 2
 * with it): exactly one of them, the record a positive integer.
 */
export function requeueTarget(options: { record?: string | undefined; subscription?: string | undefined }): RequeueTarget | string {
  if ((options.record === undefined) === (options.subscription === undefined)) return 'usage requeue needs exactly one of --record <id> and --subscription <uuid>';
  if (options.record !== undefined) {
    if (!/^[1-9]\d{0,14}$/.test(options.record)) return `--record: "${options.record}" is not a record id (a positive integer)`;
    return { recordId: Number(options.record) };
  }
  const subscription = options.subscription!.trim();
  if (subscription === '' || subscription.length > 255) return "--subscription: give the subscription's UUID";
  return { subscriptionUuid: subscription };
}
