import { spawn } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateLatest } from '../helpers/migrations';
import type { DatabaseConfig } from '../../src/config/schema';
import { RecordStore } from '../../src/usage/record-store';
import { forEachTestDatabase } from '../helpers/databases';
import { REPO_ROOT } from '../helpers/cli';
import { createSeededRandom } from './random';
import { startStripeServer, type StripeServer } from '../../dev/stripe-server';
import { callEvent, monetizedWorld } from './world';

/**
 * Exactly once under crashes: `meterline publish-usage --wait` runs as a child process and is
 * killed with SIGKILL at random moments, again and again, while more usage keeps arriving; then
 * it runs to the end. Per customer and meter, what the Stripe server counted must equal the
 * billable usage ingested: nothing lost, nothing twice.
 */
const KILLS = 12;
const SUBSCRIPTIONS = 12;
const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

let server: StripeServer;
let directory: string;
beforeAll(async () => {
  // The CLI runs on the real clock, so the Stripe server's (frozen) clock starts at the real time.
  server = await startStripeServer({ port: 0, startAt: Math.floor(Date.now() / 1000) });
  directory = mkdtempSync(join(tmpdir(), 'meterline-crash-'));
});
afterAll(async () => {
  await server.close();
  rmSync(directory, { recursive: true, force: true });
});

function configFile(database: DatabaseConfig, platformKey: string, name: string): string {
  const db =
    database.type === 'sqlite' ? `type = "sqlite"\nfilename = ${JSON.stringify(database.filename)}` : `type = "${database.type}"\nurl = ${JSON.stringify(database.url)}`;
  const path = join(directory, `${name}.toml`);
  writeFileSync(
    path,
    `[database.apim_db]\n${db}\nmigrate_on_start = false\n\n` +
      `[apim.monetization]\nmonetization_impl = "stripe"\n\n` +
      `[apim.monetization.stripe]\napi_host = "${server.host}"\napi_port = ${server.port}\napi_protocol = "http"\nmax_network_retries = 1\n` +
      `rate_limit_initial_delay_ms = 50\nrate_limit_max_delay_ms = 400\n\n` +
      // Slow enough that kills land in the middle; a lease short enough that restarts wait little.
      `[apim.monetization.usage_publisher]\nrequests_per_second = 40\nconcurrency = 4\nlease_seconds = 1\nretry_delay_ms = 50\n\n` +
      `[logging]\nlevel = "silent"\n\n` +
      `[[tenants]]\ndomain = "carbon.super"\nid = -1234\nmonetization_info.billing_engine_platform_account_key = "${platformKey}"\n`,
  );
  return path;
}

/**
 * When to SIGKILL a run: after a delay (anywhere: starting, waiting for the lease, freezing,
 * sending), or once the database shows `records` more records SENT than when it started, which
 * lands the kill between sends whatever the machine's speed; null lets it finish.
 */
type KillAt = { afterMs: number } | { afterSent: number; sent: () => Promise<number> } | null;

/** Runs the CLI until it ends or `killAt` comes; resolves with its exit code or signal. */
function publishUsage(config: string, killAt: KillAt): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'publish-usage', '--wait', '--config', config], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let ended = false;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = killAt !== null && 'afterMs' in killAt ? setTimeout(() => child.kill('SIGKILL'), killAt.afterMs) : undefined;
    if (killAt !== null && 'afterSent' in killAt) {
      void (async () => {
        const start = await killAt.sent();
        while (!ended) {
          if ((await killAt.sent()) >= start + killAt.afterSent) {
            child.kill('SIGKILL');
            return;
          }
          await delay(5);
        }
      })().catch(reject);
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      ended = true;
      clearTimeout(timer);
      if (signal === null && code !== 0) reject(new Error(`publish-usage exited with ${code}:\n${stderr}`));
      else resolve(signal ?? String(code));
    });
  });
}

forEachTestDatabase((kind, database) => {
  beforeAll(() => migrateLatest(database().knex));

  it(`SIGKILLed ${KILLS} times at random while publishing, then restarted, bills every call exactly once`, async () => {
    const random = createSeededRandom(kind.length * 7919);
    const world = await monetizedWorld(server, database().knex, SUBSCRIPTIONS);
    const config = configFile(database().config, world.key, kind);
    const ingested = new Map<string, number>();
    const ingest = async (perSubscription: number) => {
      const now = Date.now();
      const events = world.billed.flatMap((s) =>
        Array.from({ length: perSubscription }, (_, i) => callEvent(s, new Date(now - Math.floor(random() * 3) * 3_600_000 - i * 1000))),
      );
      const result = await world.usage.ingestion.ingest(events);
      expect(result.accepted).toBe(events.length);
      for (const s of world.billed) ingested.set(s.customer, (ingested.get(s.customer) ?? 0) + perSubscription);
    };

    await ingest(20);
    const outcomes: string[] = [];
    let sentBefore = 0;
    let killedMidway = 0;
    const sentRecords = async () => (await new RecordStore(database().knex).list()).filter((r) => r.state === 'SENT').length;
    for (let kill = 0; kill < KILLS; kill += 1) {
      // Every other kill at a random moment, the others a few records into sending.
      const killAt: KillAt = kill % 2 === 0 ? { afterSent: 1 + Math.floor(random() * 4), sent: sentRecords } : { afterMs: 300 + Math.floor(random() * 1500) };
      outcomes.push(await publishUsage(config, killAt));
      const states = (await new RecordStore(database().knex).list()).map((r) => r.state);
      const sent = states.filter((state) => state === 'SENT').length;
      if (sent > sentBefore && states.includes('PENDING')) killedMidway += 1; // killed while sending, not before or after
      sentBefore = sent;
      if (kill % 3 === 0) await ingest(1 + Math.floor(random() * 4)); // late usage keeps arriving
    }
    expect(outcomes.filter((o) => o === 'SIGKILL').length).toBeGreaterThan(0);
    expect(killedMidway).toBeGreaterThanOrEqual(1); // at least one kill landed between sends
    expect(await publishUsage(config, null)).toBe('0');

    for (const s of world.billed) expect(await world.billedInStripe(s)).toBe(ingested.get(s.customer));
    const records = await new RecordStore(database().knex).list();
    expect(records.filter((r) => r.state !== 'SENT')).toEqual([]);
    expect(new Set(records.map((r) => r.identifier)).size).toBe(records.length);
  }, 120_000);
});
