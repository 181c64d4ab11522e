import { createHash } from 'node:crypto';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../logger';
import { MAX_BATCH, type BatchResult, type IngestOptions } from '../ingest';
import type { SourcePositions } from '../source-positions';
import type { NotBillableReason } from '../subscription-lookup';

/**
 * A WSO2 API-M 4.x gateway's ELK/OpenSearch analytics log, read into the event store.
 *
 * With `[apim.analytics] type = "elk"` (or `"opensearch"`), the gateway's analytics reporter logs
 * every call through log4j2's `APIM_METRICS_APPENDER` to `repository/logs/apim_metrics.log`, one
 * line per event: `<layout prefix> apimMetrics: <metric>, properties :<JSON object>`, the metric
 * being `apim:response` for a call answered and `apim:faulty` for a fault (auth failure,
 * throttling, unreachable backend). Meterline reads those lines instead of a gateway middleware:
 * each `apim:response` is ingested like a REST event, with WSO2's `correlationId` as its event id,
 * so a line read twice is stored once (the event store's unique key per tenant and id).
 *
 * Files are identified by their first line (a fingerprint), not by name, so log4j2's
 * rename-and-recreate rotation (`apim_metrics-<date>-<n>.log`) is followed: the rotated file is
 * read to its end, then the new one from its start. The byte offset read of each file is kept in
 * ML_USAGE_SOURCE_POSITION and saved after its lines are stored, so a restart resumes there (a
 * crash in between re-reads lines that are then duplicates). A last line without its newline is
 * left for the next read while the file is the one being written.
 */
export interface Wso2AnalyticsLogOptions {
  /** The active file, e.g. `<wso2am>/repository/logs/apim_metrics.log`; rotated files sit beside it. */
  path: string;
  positions: SourcePositions;
  ingest: (events: readonly unknown[], options: IngestOptions) => Promise<BatchResult>;
  logger: Logger;
  now: () => number;
  /** Bytes read at a time (tests make it small). */
  chunkBytes?: number;
}

/** What one read of the log did; logged, and answered to tests. */
export interface LogReadReport {
  files: number;
  lines: number;
  /** `apim:response` events stored and billable. */
  billable: number;
  /** `apim:response` events stored and not billable, by reason (e.g. UNKNOWN_SUBSCRIPTION: an application or API Meterline does not know). */
  notBillable: Partial<Record<NotBillableReason, number>>;
  /** Events stored before (a line read again). */
  duplicates: number;
  /** Events ingestion refused (a time the engine would not take); each is logged as a warning. */
  rejected: number;
  /** `apim:faulty` events: calls the gateway did not answer with the API's response, never billed. */
  faulty: number;
  /** Calls with a SANDBOX key: test traffic, never billed. */
  sandbox: number;
  /** Metric lines that cannot be read (bad JSON, a field missing); each is logged as a warning. */
  malformed: number;
  /** Lines that are not analytics events (other log output), and other metrics. */
  other: number;
}

/** The key prefix of the log's file offsets in ML_USAGE_SOURCE_POSITION (40 characters with a 32-hex fingerprint). */
export const FILE_OFFSET_PREFIX = 'wso2log:';

const FIRST_LINE_MAX = 64 * 1024;
const WARNINGS_PER_READ = 20;

/** One line of the log, read. */
export type MetricsLine =
  | { kind: 'metric'; metric: string; properties: Record<string, unknown> }
  | { kind: 'malformed'; problem: string }
  | { kind: 'other' };

const METRIC_LINE = /apimMetrics:\s*([^,\s]+)\s*,\s*properties\s*:\s*(\{.*\})\s*$/;

/**
 * Reads one line as ELKCounterMetric writes it: `... apimMetrics: apim:response, properties :{...}`
 * (the layout's prefix before it, `%d{HH:mm:ss,SSS} [%X{ip}-%X{host}] [%t] %5p %c{1}` by default,
 * may be anything). A line without `apimMetrics:` is other log output.
 */
export function parseMetricsLine(line: string): MetricsLine {
  if (!line.includes('apimMetrics:')) return { kind: 'other' };
  const match = METRIC_LINE.exec(line);
  if (!match) return { kind: 'malformed', problem: 'expected "apimMetrics: <metric>, properties :{...}"' };
  try {
    const properties: unknown = JSON.parse(match[2]!);
    if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) return { kind: 'malformed', problem: 'properties is not a JSON object' };
    return { kind: 'metric', metric: match[1]!, properties: properties as Record<string, unknown> };
  } catch {
    return { kind: 'malformed', problem: 'properties is not valid JSON' };
  }
}

/** A usage event (the ingestion's shape) from an `apim:response` event's properties, or why not. */
export function usageEventOf(properties: Record<string, unknown>): { event: Record<string, unknown> } | { sandbox: true } | { problem: string } {
  const text = (key: string) => (typeof properties[key] === 'string' && properties[key] !== '' ? (properties[key] as string) : undefined);
  const code = (key: string) => (typeof properties[key] === 'number' && Number.isInteger(properties[key]) ? (properties[key] as number) : undefined);
  if (text('keyType')?.toUpperCase() === 'SANDBOX') return { sandbox: true };
  const missing = ['correlationId', 'requestTimestamp', 'apiId', 'applicationId', 'apiCreatorTenantDomain'].filter((key) => text(key) === undefined);
  // What the client was answered; the backend's code when the gateway did not say.
  const httpStatus = code('proxyResponseCode') ?? code('targetResponseCode');
  if (httpStatus === undefined) missing.push('proxyResponseCode');
  if (missing.length > 0) return { problem: `missing or not a string/number: ${missing.join(', ')}` };
  const timestamp = Date.parse(text('requestTimestamp')!);
  if (Number.isNaN(timestamp)) return { problem: `requestTimestamp "${text('requestTimestamp')}" is not a time` };
  return {
    event: {
      eventId: text('correlationId'),
      timestamp,
      apiId: text('apiId'),
      applicationId: text('applicationId'),
      httpStatus,
      tenant: text('apiCreatorTenantDomain'),
    },
  };
}

interface LogFile {
  name: string;
  handle: FileHandle;
  size: number;
  mtimeMs: number;
  key: string;
}

export class Wso2AnalyticsLog {
  private readonly dir: string;
  private readonly base: string;
  private readonly chunkBytes: number;

  constructor(private readonly options: Wso2AnalyticsLogOptions) {
    this.dir = path.dirname(options.path);
    this.base = path.basename(options.path);
    this.chunkBytes = options.chunkBytes ?? 4 * 1024 * 1024;
  }

  /**
   * Reads every complete line not read yet, of the active file and of the rotated files beside
   * it (oldest first), stores their events and saves how far each file was read.
   */
  async read(): Promise<LogReadReport> {
    const report: LogReadReport = { files: 0, lines: 0, billable: 0, notBillable: {}, duplicates: 0, rejected: 0, faulty: 0, sandbox: 0, malformed: 0, other: 0 };
    const warnings = { left: WARNINGS_PER_READ };
    const offsets = await this.options.positions.fileOffsets(FILE_OFFSET_PREFIX);
    const { files, complete } = await this.openFiles();
    try {
      for (const file of files) {
        report.files += 1;
        await this.readFile(file, offsets.get(file.key) ?? 0, report, warnings);
      }
    } finally {
      await Promise.all(files.map((f) => f.handle.close()));
    }
    // Offsets of files no longer there (rotated away and deleted) are forgotten, once every file
    // could be looked at (a file renamed while listing is looked at next time).
    if (complete) {
      const present = new Set(files.map((f) => f.key));
      await this.options.positions.forgetFileOffsets([...offsets.keys()].filter((key) => !present.has(key)));
    }
    const anything = report.lines > 0;
    if (anything) this.options.logger.info({ log: this.options.path, ...report }, 'WSO2 analytics log read');
    if (warnings.left < 0) this.options.logger.warn({ log: this.options.path, notShown: -warnings.left }, 'more WSO2 analytics log problems than shown');
    return report;
  }

  /** The active file and its rotated siblings, opened, oldest first; files with no complete first line yet are left out. */
  private async openFiles(): Promise<{ files: LogFile[]; complete: boolean }> {
    const stem = this.base.replace(/\.[^.]*$/, '');
    const names = (await readdir(this.dir)).filter(
      (name) => name === this.base || ((name.startsWith(`${stem}-`) || name.startsWith(`${this.base}.`)) && !/\.(gz|zip|bz2|xz|lz4|zst)$/i.test(name)),
    );
    const files: LogFile[] = [];
    let complete = true;
    try {
      for (const name of names) {
        let handle: FileHandle;
        try {
          handle = await open(path.join(this.dir, name), 'r');
        } catch (error) {
          // Renamed or deleted between the listing and the open: seen under its new name next time.
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
            complete = false;
            continue;
          }
          throw error;
        }
        try {
          const stat = await handle.stat();
          const first = await firstLine(handle, Math.min(stat.size, FIRST_LINE_MAX));
          if (first === null) {
            await handle.close();
            if (stat.size >= FIRST_LINE_MAX) this.options.logger.warn({ file: name }, 'WSO2 analytics log file skipped: its first line is longer than 64 KiB');
            continue;
          }
          const key = FILE_OFFSET_PREFIX + createHash('sha256').update(first).digest('hex').slice(0, 40 - FILE_OFFSET_PREFIX.length);
          files.push({ name, handle, size: stat.size, mtimeMs: stat.mtimeMs, key });
        } catch (error) {
          await handle.close();
          throw error;
        }
      }
    } catch (error) {
      await Promise.all(files.map((f) => f.handle.close()));
      throw error;
    }
    // Oldest first; the active file last among equals (it is the newest being written).
    files.sort((a, b) => a.mtimeMs - b.mtimeMs || Number(a.name === this.base) - Number(b.name === this.base) || a.name.localeCompare(b.name));
    return { files, complete };
  }

  private async readFile(file: LogFile, from: number, report: LogReadReport, warnings: { left: number }): Promise<void> {
    const active = file.name === this.base;
    let position = from;
    if (position > file.size) {
      // Shorter than what was read of it, with the same first line: it was rewritten. Read it again;
      // the lines read before are duplicates.
      this.warn(warnings, { file: file.name, offset: position, size: file.size }, 'WSO2 analytics log file is shorter than already read; reading it again from its start');
      position = 0;
    }
    while (position < file.size) {
      const length = Math.min(this.chunkBytes, file.size - position);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await file.handle.read(buffer, 0, length, position);
      const chunk = buffer.subarray(0, bytesRead);
      let end = chunk.lastIndexOf(0x0a) + 1;
      if (end === 0) {
        if (position + bytesRead < file.size) {
          // A line longer than a chunk: not an analytics event WSO2 writes. Skipped, reported.
          report.malformed += 1;
          this.warn(warnings, { file: file.name, offset: position }, `WSO2 analytics log line longer than ${this.chunkBytes} bytes skipped`);
          end = bytesRead;
        } else if (active) {
          break; // a line still being written: read once its newline is there
        } else {
          end = bytesRead; // the rotated file's last line, never to be completed
        }
      }
      const text = chunk.subarray(0, end).toString('utf8');
      await this.store(text.split('\n'), file.name, position, report, warnings);
      position += end;
      await this.options.positions.saveFileOffset(file.key, position, this.options.now());
    }
  }

  /** Reads the lines, stores their events (MAX_BATCH at a time) and counts what happened. */
  private async store(lines: string[], file: string, offset: number, report: LogReadReport, warnings: { left: number }): Promise<void> {
    const events: Array<Record<string, unknown>> = [];
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line.trim() === '') continue;
      report.lines += 1;
      const parsed = parseMetricsLine(line);
      if (parsed.kind === 'other') {
        report.other += 1;
        continue;
      }
      if (parsed.kind === 'malformed') {
        report.malformed += 1;
        this.warn(warnings, { file, chunkOffset: offset, problem: parsed.problem, line: line.slice(0, 300) }, 'WSO2 analytics log line not read');
        continue;
      }
      if (parsed.metric === 'apim:faulty') {
        report.faulty += 1;
        continue;
      }
      if (parsed.metric !== 'apim:response') {
        report.other += 1;
        continue;
      }
      const usage = usageEventOf(parsed.properties);
      if ('sandbox' in usage) report.sandbox += 1;
      else if ('problem' in usage) {
        report.malformed += 1;
        this.warn(warnings, { file, chunkOffset: offset, problem: usage.problem, correlationId: parsed.properties.correlationId }, 'WSO2 analytics event not read');
      } else events.push(usage.event);
    }
    for (let i = 0; i < events.length; i += MAX_BATCH) {
      const result = await this.options.ingest(events.slice(i, i + MAX_BATCH), { fromGatewayAnalytics: true });
      for (const r of result.results) {
        if (r.status === 'duplicate') report.duplicates += 1;
        else if (r.status === 'rejected') {
          report.rejected += 1;
          this.warn(warnings, { file, eventId: r.eventId, errors: r.errors }, 'WSO2 analytics event refused by ingestion');
        } else if (r.billable) report.billable += 1;
        else if (r.reason) report.notBillable[r.reason] = (report.notBillable[r.reason] ?? 0) + 1;
      }
    }
  }

  private warn(warnings: { left: number }, fields: Record<string, unknown>, message: string): void {
    warnings.left -= 1;
    if (warnings.left >= 0) this.options.logger.warn({ log: this.options.path, ...fields }, message);
  }
}

/** The file's first line with its newline, or null when none is complete in its first `max` bytes. */
async function firstLine(handle: FileHandle, max: number): Promise<Buffer | null> {
  if (max === 0) return null;
  const buffer = Buffer.alloc(max);
  const { bytesRead } = await handle.read(buffer, 0, max, 0);
  const newline = buffer.subarray(0, bytesRead).indexOf(0x0a);
  return newline === -1 ? null : buffer.subarray(0, newline + 1);
}
