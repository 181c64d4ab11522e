/**
 * Meterline as its own process for the gateway benches: `meterline serve` on a migrated, seeded
 * SQLite file, with a gateway token for its ingestion endpoint.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema } from '../src/config/schema';
import { mintToken } from '../src/http/auth/tokens';
import type { TestDatabase } from '../test/helpers/databases';

/** Turns `node <args>` into the program and arguments that start it (with `taskset`, say). */
export type NodeCommand = (args: string[]) => [string, string[]];

/** `node dist/src/cli/main.js serve --config <file>` (this file runs from dist/bench/), resolved once it logs that it is ready. */
function serve(command: NodeCommand, configPath: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const cli = join(__dirname, '..', 'src', 'cli', 'main.js');
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('METERLINE_')));
  // taskset execs node in its own process, so the pid is Meterline's (its CPU is read from /proc).
  const [program, args] = command([cli, 'serve', '--config', configPath]);
  const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return new Promise((resolve, reject) => {
    let output = '';
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`meterline serve was not ready within 60 s:\n${output.slice(-2000)}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 100_000) output = output.slice(-50_000);
      const line = output.split('\n').find((l) => l.includes('"meterline is ready"'));
      if (ready || !line) return;
      ready = true;
      clearTimeout(timer);
      resolve({
        url: (JSON.parse(line) as { url: string }).url,
        pid: child.pid!,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`meterline serve exited before it was ready:\n${output.slice(-2000)}`));
    });
  });
}

/** Meterline as its own process (started by `command`, e.g. pinned to a CPU): `meterline serve` on the (migrated, seeded) SQLite file, with a gateway token. */
export async function startMeterline(command: NodeCommand, database: TestDatabase, dir: string) {
  const secret = `bench-${Math.random().toString(36).slice(2)}-0123456789abcdef`;
  const configPath = join(dir, 'bench-deployment.toml');
  writeFileSync(
    configPath,
    `[server]
host = "127.0.0.1"
port = 0

[database.apim_db]
type = "sqlite"
filename = ${JSON.stringify((database.config as { filename?: string }).filename)}

[auth.jwt]
secret = ${JSON.stringify(secret)}

[apim.monetization]
monetization_impl = "stripe"

[apim.monetization.stripe]
api_host = "127.0.0.1"
api_port = 9
api_protocol = "http"

[logging]
level = "info"

[[tenants]]
domain = "carbon.super"
id = -1234
[tenants.monetization_info]
billing_engine_platform_account_key = "sk_test_bench"
`,
  );
  const serving = await serve(command, configPath);
  const jwt = configSchema.parse({ auth: { jwt: { secret } } }).auth.jwt!;
  const token = mintToken(jwt, { subject: 'bench-gateway', scopes: ['apim:usage_ingest'], tenant: undefined, expiresIn: 86_400 });
  return { serving, token };
}
