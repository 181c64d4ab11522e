import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * Things the demo started, stopped in reverse order exactly once, whatever happened: a step that
 * failed, Ctrl-C, or the end of `--exit`. Each stop is bounded so shutdown cannot hang.
 */
export class Cleanup {
  private readonly stops: Array<{ what: string; stop: () => Promise<void> }> = [];
  private running: Promise<string[]> | undefined;

  add(what: string, stop: () => Promise<void>): void {
    this.stops.push({ what, stop });
  }

  /** Runs every stop (newest first) and answers the problems met, one line each. */
  run(): Promise<string[]> {
    this.running ??= (async () => {
      const problems: string[] = [];
      for (const { what, stop } of this.stops.reverse()) {
        try {
          await withTimeout(stop(), 10_000, `stopping ${what} took more than 10 s`);
        } catch (error) {
          problems.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      return problems;
    })();
    return this.running;
  }
}

/** A local test server the demo started as a child process (the Stripe or the MyFatoorah one). */
export interface ServerChild {
  url: string;
  host: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}
export type StripeChild = ServerChild;

/**
 * Starts the Stripe-compatible local server as a child process (`--port 0`, a free port) and
 * resolves with the address from its `listening on http://127.0.0.1:<port>` line. The production
 * code never loads that server: the demo talks to it over HTTP only.
 */
export function startStripeChild(script: string, onOutput: (line: string) => void): Promise<StripeChild> {
  return startServerChild('the local Stripe server', script, ['--port', '0', '--host', '127.0.0.1'], /error|stripe-server:/i, onOutput);
}

/**
 * Starts the MyFatoorah-compatible local server (dev/myfatoorah-server) the same way, its vendor
 * account read from `configFile` (so the account's token and webhook secret are not on a command
 * line), on a free port, its clock following the wall clock (webhook retries happen in real time).
 */
export function startMyFatoorahChild(script: string, configFile: string, onOutput: (line: string) => void): Promise<ServerChild> {
  return startServerChild('the local MyFatoorah server', script, ['--port', '0', '--host', '127.0.0.1', '--config', configFile, '--clock', 'wall'], /error|myfatoorah-server:/i, onOutput);
}

async function startServerChild(name: string, script: string, args: string[], errorLine: RegExp, onOutput: (line: string) => void): Promise<ServerChild> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Should the demo die without cleaning up, the server must not outlive it.
  const killOnExit = () => {
    if (isRunning(child)) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  const lastErrors: string[] = []; // the first error lines, for a failure before it listens
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (lastErrors.length < 3 && errorLine.test(line)) lastErrors.push(line.trim());
    onOutput(line);
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not say where it listens within 15 s`)), 15_000);
    lines.on('line', (line) => {
      const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line.trim());
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      } else onOutput(line);
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const said = lastErrors.length > 0 ? `: ${lastErrors.join(' / ')}` : '';
      reject(new Error(`${name} exited before listening (${signal ?? `exit code ${code}`})${said}`));
    });
  }).catch((error: unknown) => {
    killOnExit();
    process.off('exit', killOnExit);
    throw error;
  });
  const { hostname, port } = new URL(url);
  return {
    url,
    host: hostname,
    port: Number(port),
    pid: child.pid!,
    stop: async () => {
      await stopChild(child);
      process.off('exit', killOnExit);
    },
  };
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process is gone. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(killer);
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
