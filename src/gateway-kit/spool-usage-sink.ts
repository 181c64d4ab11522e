import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { BatchResult } from '../usage/ingest';
import { JsonBatchBuffer, NDJSON_LINES } from './json-batch-buffer';
import type { UsageSink } from './usage-recorder';

/**
 * The spool's file names (src/usage/sources/spool.ts reads them; gateway-kit may not import usage's
 * sources, so the pattern is written out there too): `usage-<13-digit epoch ms>-<writer>-<6-digit n>.ndjson`
 * while written, with `.done` appended once the writer moved on to its next file.
 */
export const SPOOL_FILE_SUFFIX = '.ndjson';
export const SPOOL_DONE_SUFFIX = '.done';

export interface SpoolUsageSinkOptions {
  /** The spool directory, shared with Meterline's `[apim.monetization.usage_publisher.spool] directory` (made if missing). */
  directory: string;
  /** A file is finished (renamed `.done`) and a new one started once it holds this many bytes (default 64 MiB). */
  maxFileBytes?: number;
  /** Epoch ms, for file names (default `Date.now`). */
  now?: () => number;
}

/** Writing a batch to the spool failed (disk full, directory gone): the recorder keeps the batch and tries again. */
export class SpoolWriteError extends Error {
  readonly retryable = true;
  constructor(
    readonly file: string,
    override readonly cause: unknown,
  ) {
    super(`the usage spool file ${file} could not be written: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'SpoolWriteError';
  }
}

const EMPTY_RESULTS: BatchResult['results'] = [];

/**
 * A `UsageSink` that appends each batch to a local spool file as NDJSON (one event a line), with
 * one `write` per batch on an open file and no fsync, so the gateway's process does no HTTP, no
 * answer parsing and no waiting: Meterline reads the spool (the `spool` intake,
 * src/usage/sources/spool.ts) with exactly-once file offsets. The answer means "written to the
 * spool", not "stored": its `results` are empty.
 *
 * Crash safety: a batch is written whole or, if the write fails, the file is cut back to its
 * last whole line (a retried batch is then written again, same ids). A process killed in the
 * middle of a write leaves a half line at the end of its file; the reader leaves a half line
 * alone until it is completed, and a writer never appends to a file it did not start, so a
 * half line of a dead writer is skipped once its file is finished. What the page cache holds is
 * lost only with the machine (no fsync): the same bound as the recorder's memory buffer.
 *
 * Rotation: once a file reaches `maxFileBytes` it is closed and renamed `<name>.done`; the reader
 * deletes a `.done` file after reading it to its end. `close()` finishes the current file too.
 */
export function spoolUsageSink(options: SpoolUsageSinkOptions): UsageSink {
  const maxFileBytes = Math.max(1, options.maxFileBytes ?? 64 * 1024 * 1024);
  const now = options.now ?? Date.now;
  // Several gateway processes may share a directory: each writes its own files.
  const writer = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  mkdirSync(options.directory, { recursive: true });
  let fd = -1;
  let file = '';
  let size = 0;
  let sequence = 0;
  const lines = new JsonBatchBuffer();

  const finish = () => {
    if (fd === -1) return;
    closeSync(fd);
    fd = -1;
    renameSync(file, file + SPOOL_DONE_SUFFIX);
  };
  const start = () => {
    sequence += 1;
    file = path.join(options.directory, `usage-${String(now()).padStart(13, '0')}-${writer}-${String(sequence).padStart(6, '0')}${SPOOL_FILE_SUFFIX}`);
    fd = openSync(file, 'wx');
    size = 0;
  };

  return {
    ingest(events: readonly unknown[]): Promise<BatchResult> {
      if (events.length === 0) return Promise.resolve({ accepted: 0, duplicates: 0, rejected: 0, results: EMPTY_RESULTS });
      // One reused Buffer, one write a batch: no batch-sized string in the gateway's process.
      const bytes = lines.write(events, NDJSON_LINES);
      try {
        if (fd !== -1 && size > 0 && size + bytes.length > maxFileBytes) finish();
        if (fd === -1) start();
      } catch (error) {
        return Promise.reject(new SpoolWriteError(file, error));
      }
      let written = 0;
      try {
        while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written, size + written);
      } catch (error) {
        // Cut back to the last whole batch so the retry's lines are not glued to a half line.
        try {
          if (written > 0) ftruncateSync(fd, size);
        } catch {
          // Could not cut it back: finish the file (its half line is skipped as a dead writer's) and start another.
          try {
            finish();
          } catch {
            fd = -1;
          }
        }
        return Promise.reject(new SpoolWriteError(file, error));
      }
      size += bytes.length;
      return Promise.resolve({ accepted: events.length, duplicates: 0, rejected: 0, results: EMPTY_RESULTS });
    },
    close() {
      finish();
    },
  };
}
