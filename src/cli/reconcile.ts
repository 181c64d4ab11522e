import { composeServices } from '../composition';
import type { MeterlineConfig } from '../config/schema';
import { assertDatabaseReachable } from '../db/connect';
import { assertMigrated } from '../db/migrator';
import type { Logger } from '../logger';
import { UsageReconcileUnsupportedError, type UsageReconcileRow, type UsageReconciliation } from '../usage/usage-reconcile';
import { parsePeriod, PeriodFormatError, type PeriodSelector } from '../usage/usage-reconcile-period';

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

/**
 * `meterline reconcile usage [--period <p>] [--json]`: per subscription and billing period, what
 * Meterline sent against what the billing engine counted and invoiced (see `reconcileUsage`), as
 * a table, or with --json the same object the REST route answers. Read-only. Exit 0 when every
 * row matches, 1 when a difference needs a human, 2 for a bad --period or an engine that cannot
 * reconcile usage.
 */
export async function reconcileUsageCommand(
  config: MeterlineConfig,
  logger: Logger,
  options: { period?: string | undefined; json: boolean; out?: NodeJS.WritableStream; err?: NodeJS.WritableStream; clock?: () => Date },
): Promise<number> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  let selector: PeriodSelector;
  try {
    selector = parsePeriod(options.period);
  } catch (error) {
    if (!(error instanceof PeriodFormatError)) throw error;
    err.write(`meterline: --period: ${error.message}\n`);
    return 2;
  }
  const services = await composeServices({ config, logger, ...(options.clock ? { clock: options.clock } : {}) });
  const { db } = services;
  try {
    await assertDatabaseReachable(db, config.database.apim_db);
    await assertMigrated(db, services.migrations);
    let result: UsageReconciliation;
    try {
      result = await services.reconcileUsage(selector);
    } catch (error) {
      if (!(error instanceof UsageReconcileUnsupportedError)) throw error;
      err.write(`meterline: ${error.message}\n`);
      return 2;
    }
    out.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : usageTable(result));
    return result.matches ? 0 : 1;
  } finally {
    await services.close();
  }
}

/** The reconciliation for people: one line per subscription and period, its differences under it, then a summary. */
export function usageTable(result: UsageReconciliation): string {
  const minute = (iso: string) => `${iso.slice(0, 16)}Z`;
  const invoiced = (row: UsageReconcileRow) => (row.invoiced === null ? '-' : row.invoiceFinal ? String(row.invoiced) : `${row.invoiced} (draft)`);
  const header = ['SUBSCRIPTION', 'PERIOD', 'METER', 'SENT', 'COUNTED', 'INVOICED', 'STATUS'];
  const cells = result.rows.map((row) => [
    row.subscriptionId,
    `${minute(row.periodStart)}..${minute(row.periodEnd)}`,
    row.meter ?? '-',
    String(row.sent),
    row.counted === null ? '-' : String(row.counted),
    invoiced(row),
    row.status,
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((line) => line[i]!.length)));
  const format = (line: string[]) => `${line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`;
  let text = result.rows.length === 0 ? '' : format(header);
  result.rows.forEach((row, i) => {
    text += format(cells[i]!);
    for (const difference of row.differences) text += `  ${difference.kind} ${difference.quantity}: ${difference.detail}\n`;
  });
  for (const skipped of result.skipped) text += `skipped ${skipped.subscriptionId}: ${skipped.reason}\n`;
  const count = (status: UsageReconcileRow['status']) => result.rows.filter((row) => row.status === status).length;
  text += `reconcile usage (period ${result.period}): ${result.rows.length} subscription period(s): ${count('MATCH')} match, ${count('DIFFERENT')} different (${result.differences} difference(s)), ${count('NOT_METERED')} not metered\n`;
  return text;
}
