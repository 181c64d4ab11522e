import { spawn } from 'node:child_process';
import { readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { apimCoreRecords } from '../../src/apim/core-records';
import { configSchema, type DatabaseConfig } from '../../src/config/schema';
import { connectDatabase } from '../../src/db/connect';
import { createLogger } from '../../src/logger';
import { FreeMonetization } from '../../src/monetization/free-engine';
import { UsagePublisher } from '../../src/usage/publisher';
import { LocalEventSource, type UsageSource } from '../../src/usage/sources';
import { SubscriptionLookup } from '../../src/usage/subscription-lookup';

/**
 * A chunked freeze in its own process, SIGKILLed right after a chunk was committed: the pattern of
 * test/helpers/kill-point-instance.ts (a plain `node` child through ts-register.cjs, no build,
 * reporting with synchronous writes) for the freeze (test/usage/freeze-split.test.ts).
 */
export interface FreezeKillOrder {
  database: DatabaseConfig;
  /** The publisher's clock (epoch ms): fixed, so the lease the dead process leaves is known. */
  now: number;
  chunkParts: number;
  /** The process dies after this many chunks were committed. */
  killAfterChunks: number;
}

export interface FreezeKillOutcome {
  signal: NodeJS.Signals | null;
  code: number | null;
  reports: string[];
  stderr: string;
}

/** The freeze's publisher as the service composes it, with the free engine (no billing cycles), `probe`, and the local source unless another is given. */
export function freezingPublisher(db: Knex, now: number, chunkParts: number, probe?: (frozenUpTo: number) => Promise<void>, source?: UsageSource): UsagePublisher {
  const engine = new FreeMonetization();
  const options = configSchema.parse({}).apim.monetization.usage_publisher;
  return new UsagePublisher({
    db,
    engine,
    lookup: new SubscriptionLookup(apimCoreRecords(db), engine, () => -1234, 0, () => now),
    source: source ?? new LocalEventSource({ db }),
    logger: createLogger('silent'),
    clock: () => new Date(now),
    options,
    lookBackDays: 30,
    freezeChunkParts: chunkParts,
    ...(probe ? { freezeProbe: probe } : {}),
  });
}

/** Runs `order` in a fresh process and resolves when it is gone, however it ended. */
export function runFreezeUntilKilled(order: FreezeKillOrder): Promise<FreezeKillOutcome> {
  const child = spawn(process.execPath, ['-r', join(__dirname, '..', 'helpers', 'ts-register.cjs'), __filename], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const ended = new Promise<FreezeKillOutcome>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ signal, code, reports: stdout.split('\n').filter((line) => line !== ''), stderr }));
  });
  child.stdin.end(JSON.stringify(order));
  return ended;
}

/** Written synchronously: once the process is killed nothing buffered would reach the parent. */
function report(line: string): void {
  writeSync(1, `${line}\n`);
}

async function main(): Promise<void> {
  const order = JSON.parse(readFileSync(0, 'utf8')) as FreezeKillOrder;
  const db = connectDatabase(order.database);
  let chunks = 0;
  const probe = async (frozenUpTo: number): Promise<void> => {
    chunks += 1;
    if (chunks < order.killAfterChunks) return;
    report(`killed after chunk ${chunks}, frozen up to ${frozenUpTo}`);
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL is delivered before kill(2) returns to a process signalling itself; never go on.
    await new Promise<never>(() => undefined);
  };
  const result = await freezingPublisher(db, order.now, order.chunkParts, probe).freezeOnly();
  report(`finished ${JSON.stringify(result)}`);
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
