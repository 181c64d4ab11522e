import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..', '..');
const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
}

/** The environment a CLI child gets: this process's, minus Meterline's own variables, plus `env`. */
function childEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('METERLINE_')));
  return { ...base, ...env };
}

/** Runs the built `meterline` CLI to completion. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  assertBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd ?? REPO_ROOT, env: childEnv(options.env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ServingCli {
  child: ChildProcess;
  url: string;
  /** Everything it wrote so far, stdout and stderr interleaved as they arrived. */
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `meterline serve` and resolves with its URL once it logs "meterline is ready" (database
 * reached, migrations applied), or with `until: 'listening'` as soon as it listens.
 */
export function startServeCli(args: string[], options: CliOptions & { until?: 'ready' | 'listening' } = {}): Promise<ServingCli> {
  assertBuilt();
  const awaited = `"meterline is ${options.until ?? 'ready'}"`;
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: options.cwd ?? REPO_ROOT, env: childEnv(options.env) });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return new Promise((resolve, reject) => {
    let output = '';
    let started = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`meterline serve did not log ${awaited} within 20 s:\n${output}`));
    }, 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.includes(awaited));
      if (!line || started) return;
      started = true;
      clearTimeout(timer);
      const { url } = JSON.parse(line) as { url: string };
      resolve({
        child,
        url,
        output: () => output,
        exited,
        stop: () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      if (!started) reject(new Error(`meterline serve exited with ${code} before listening:\n${output}`));
    });
  });
}

/**
 * Polls `check` every 50 ms until it holds, and fails after `timeoutMs` naming `what`: a test
 * waits for an outcome, never for a guessed length of time.
 */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Runs `work` with the path of a configuration for a fresh SQLite database on the free engine,
 * already migrated by the CLI; the folder is removed afterwards.
 */
export async function withMigratedFreeEngineConfig(work: (config: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meterline-cli-'));
  try {
    const config = join(dir, 'deployment.toml');
    writeFileSync(config, `[database.apim_db]\ntype = "sqlite"\nfilename = "${join(dir, 'apim.db')}"\n\n[apim.monetization]\nmonetization_impl = "free"\n`);
    const migrated = await runCli(['migrate', '--config', config]);
    if (migrated.code !== 0) throw new Error(`meterline migrate failed: ${migrated.stderr}`);
    await work(config);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
