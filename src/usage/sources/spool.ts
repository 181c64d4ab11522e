import { createHash } from 'node:crypto';
import { open, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../logger';
import { MAX_BATCH, type BatchResult, type IngestOptions } from '../ingest';
import type { SourcePositions } from '../source-positions';

/**
 * A gateway's usage spool (`spoolUsageSink`, src/gateway-kit/spool-usage-sink.ts), read into the
 * event store. Each line is one usage event as the recorder builds it (its own `eventId`), so it
 * is ingested exactly as a `POST /api/am/usage/v1/events` batch would be.
 *
 * Exactly once: the byte offset read of each file is kept in ML_USAGE_SOURCE_POSITION and saved
 * after the lines before it are stored; a crash in between re-reads lines whose events are then
 * duplicates (the event store's unique key per tenant and id). Only whole lines are read: a half
 * line (a batch being written, or a writer killed mid-write) waits at the end of a file being
 * written, and is skipped, logged, when the file is finished (`.done`: its writer moved on and
 * never appends to it again). A finished file is read to its end, then deleted, then its offset
 * forgotten.
 */
export interface SpoolIntakeOptions {
  directory: string;
  positions: SourcePositions;
  ingest: (events: readonly unknown[], options: IngestOptions) => Promise<BatchResult>;
  logger: Logger;
  now: () => number;
  /** Bytes read at a time (tests make it small). */
  chunkBytes?: number;
}

export interface SpoolReadReport {
  files: number;
  /** Finished files read to their end and deleted. */
  finished: number;
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Lines that are not JSON, and half lines left by a dead writer. */
  malformed: number;
}

/** Key prefix of the spool's file offsets in ML_USAGE_SOURCE_POSITION (40 characters with the hash). */
export const SPOOL_OFFSET_PREFIX = 'spool:';

/** `usage-<epoch ms>-<writer>-<n>.ndjson`, `.done` once finished (the sink's names). */
const SPOOL_FILE = /^(usage-\d+-[0-9a-z]+-\d+\.ndjson)(\.done)?$/;
const WARNINGS_PER_READ = 20;

export class SpoolIntake {
  private readonly chunkBytes: number;

  constructor(private readonly options: SpoolIntakeOptions) {
    this.chunkBytes = options.chunkBytes ?? 4 * 1024 * 1024;
  }

  /** The offset key of a spool file (its name while written; the same once renamed `.done`). */
  static offsetKey(baseName: string): string {
    return SPOOL_OFFSET_PREFIX + createHash('sha256').update(baseName).digest('hex').slice(0, 40 - SPOOL_OFFSET_PREFIX.length);
  }

  /** Reads every whole line not read yet, of every spool file, oldest first; deletes finished files once read. */
  async read(): Promise<SpoolReadReport> {
    const report: SpoolReadReport = { files: 0, finished: 0, lines: 0, accepted: 0, duplicates: 0, rejected: 0, malformed: 0 };
    const warnings = { left: WARNINGS_PER_READ };
    const offsets = await this.options.positions.fileOffsets(SPOOL_OFFSET_PREFIX);
    let names: string[];
    try {
      names = await readdir(this.options.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return report; // no gateway has written yet
      throw error;
    }
    const files = names
      .map((name) => SPOOL_FILE.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[0], base: m[1]!, done: m[2] !== undefined, key: SpoolIntake.offsetKey(m[1]!) }))
      // A file renamed `.done` between the listing's reads would be listed twice: the finished one wins.
      .filter((f, _, all) => f.done || !all.some((o) => o.done && o.base === f.base))
      .sort((a, b) => a.base.localeCompare(b.base));
    const present = new Set<string>();
    const finished: string[] = [];
    for (const file of files) {
      report.files += 1;
      present.add(file.key);
      const read = await this.readFile(path.join(this.options.directory, file.name), file.done, offsets.get(file.key) ?? 0, file.key, report, warnings);
      if (read === 'finished') {
        await unlink(path.join(this.options.directory, file.name));
        report.finished += 1;
        present.delete(file.key);
        finished.push(file.key);
      }
    }
    // Offsets of files deleted (here, or after a crash between the delete and this) are forgotten.
    await this.options.positions.forgetFileOffsets([...finished, ...[...offsets.keys()].filter((key) => !present.has(key) && !finished.includes(key))]);
    if (report.lines > 0) this.options.logger.info({ spool: this.options.directory, ...report }, 'usage spool read');
    if (warnings.left < 0) this.options.logger.warn({ spool: this.options.directory, notShown: -warnings.left }, 'more usage spool problems than shown');
    return report;
  }

  private async readFile(file: string, done: boolean, from: number, key: string, report: SpoolReadReport, warnings: { left: number }): Promise<'read' | 'finished' | 'gone'> {
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      // Renamed `.done` (or deleted by another reader) since the listing: seen under its new name next time.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
      throw error;
    }
    try {
      const size = (await handle.stat()).size;
      let position = Math.min(from, size);
      while (position < size) {
        const length = Math.min(this.chunkBytes, size - position);
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, position);
        const chunk = buffer.subarray(0, bytesRead);
        let end = chunk.lastIndexOf(0x0a) + 1;
        if (end === 0) {
          if (position + bytesRead < size) {
            // A line longer than a chunk: no event the recorder writes. Skipped, reported.
            report.malformed += 1;
            this.warn(warnings, { file, offset: position }, `usage spool line longer than ${this.chunkBytes} bytes skipped`);
            end = bytesRead;
          } else if (!done) {
            break; // a batch still being written: read once its newline is there
          } else {
            end = bytesRead; // a dead writer's half line, never to be completed: not JSON, counted as malformed
          }
        }
        await this.store(chunk.subarray(0, end).toString('utf8').split('\n'), file, report, warnings);
        position += end;
        await this.options.positions.saveFileOffset(key, position, this.options.now());
      }
      return done && position >= size ? 'finished' : 'read';
    } finally {
      await handle.close();
    }
  }

  private async store(lines: string[], file: string, report: SpoolReadReport, warnings: { left: number }): Promise<void> {
    const events: unknown[] = [];
    for (const line of lines) {
      if (line === '') continue;
      report.lines += 1;
      try {
        events.push(JSON.parse(line));
      } catch {
        report.malformed += 1;
        this.warn(warnings, { file, line: line.slice(0, 300) }, 'usage spool line is not JSON; skipped');
      }
    }
    for (let i = 0; i < events.length; i += MAX_BATCH) {
      const result = await this.options.ingest(events.slice(i, i + MAX_BATCH), {});
      report.accepted += result.accepted;
      report.duplicates += result.duplicates;
      report.rejected += result.rejected;
      if (result.rejected > 0) {
        for (const r of result.results) if (r.status === 'rejected') this.warn(warnings, { file, eventId: r.eventId, errors: r.errors }, 'usage spool event refused by ingestion');
      }
    }
  }

  private warn(warnings: { left: number }, fields: Record<string, unknown>, message: string): void {
    warnings.left -= 1;
    if (warnings.left >= 0) this.options.logger.warn({ spool: this.options.directory, ...fields }, message);
  }
}
