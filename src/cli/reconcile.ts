import { composeServices } from '../composition';
import type { MeterlineConfig } from '../config/schema';
import { assertDatabaseReachable } from '../db/connect';
import { assertMigrated } from '../db/migrator';
import type { Logger } from '../logger';

/**
 * `meterline reconcile [--dry-run]`: one line per finding on stdout, with what was done (see
 * `reconcile`), then a summary. Exit 0 when every finding was repaired (or, with --dry-run, only
 * listed), 1 when a repair failed or a finding needs a human (e.g. an orphan customer with open
 * invoices), in a dry run too, so a scheduler or a script notices.
 */
export async function reconcileCommand(config: MeterlineConfig, logger: Logger, options: { dryRun: boolean; out?: NodeJS.WritableStream; clock?: () => Date }): Promise<number> {
  const out = options.out ?? process.stdout;
  const services = await composeServices({ config, logger, ...(options.clock ? { clock: options.clock } : {}) });
  const { db } = services;
  try {
    await assertDatabaseReachable(db, config.database.apim_db);
    await assertMigrated(db, services.migrations);
    const findings = await services.reconcile({ dryRun: options.dryRun });
    for (const finding of findings) out.write(`${finding.line}\n`);
    const failed = findings.filter((f) => f.failed).length;
    const human = findings.filter((f) => f.needsHuman).length;
    const verb = options.dryRun ? 'listed (dry run: nothing changed)' : 'repaired';
    const needHuman = human === 0 ? '' : `, ${human} need a human`;
    out.write(findings.length === 0 ? 'reconcile: nothing to repair\n' : `reconcile: ${findings.length - failed - human} finding(s) ${verb}, ${failed} failed${needHuman}\n`);
    return failed === 0 && human === 0 ? 0 : 1;
  } finally {
    await services.close();
  }
}
