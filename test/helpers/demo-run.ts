import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** The built demo (`npm run demo`), run as a newcomer runs it, for the demo e2e suites. */
export const REPO_ROOT = join(__dirname, '..', '..');
const DEMO = join(REPO_ROOT, 'dist', 'dev', 'demo', 'cli.js');

export interface DemoRun {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts the built demo as a child process, without the caller's METERLINE_* settings. */
export function startDemo(args: string[]): DemoRun {
  if (!existsSync(DEMO)) throw new Error(`${DEMO} is missing: run "npm run build && npm run build:dev" first (npm test does)`);
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('METERLINE_')));
  const child = spawn(process.execPath, [DEMO, ...args], { cwd: REPO_ROOT, env });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/**
 * Waits until the demo prints `text`; fails when it exits first or after `ms`. The limit is on the
 * monotonic clock, so the machine's date (or faketime) never decides it.
 */
export async function waitFor(run: DemoRun, text: string, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!run.output().includes(text)) {
    if (run.child.exitCode !== null) throw new Error(`the demo exited (${run.child.exitCode}) before printing "${text}":\n${run.output()}`);
    if (performance.now() > deadline) throw new Error(`the demo did not print "${text}" within ${ms} ms:\n${run.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

export function processIsGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
