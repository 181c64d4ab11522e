import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Stripe from 'stripe';

const CLI = join(__dirname, '..', '..', 'dist', 'dev', 'stripe-server', 'cli.js');

/** Starts the built command and waits for its listening line. */
async function startCli(args: string[]) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build:dev" first (npm test does)`);
  const child = spawn(process.execPath, [CLI, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^listening on http:\/\/127\.0\.0\.1:(\d+)$/m.exec(output);
      if (match) resolve(Number(match[1]));
    });
    void exited.then((code) => reject(new Error(`stripe-server exited with ${code}: ${output}`)));
  });
  return { child, exited, port };
}

describe('the standalone stripe-server command', () => {
  it('prints its listening line, serves the real SDK, and stops cleanly on SIGTERM', async () => {
    const { child, exited, port } = await startCli([]);

    const stripe = new Stripe('sk_test_cli_check', { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: 0 });
    const product = await stripe.products.create({ name: 'From the CLI test' });
    expect(product.id).toMatch(/^prod_/);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('--aggregation-delay sets how long meter events take to count (the clock stands still unless moved)', async () => {
    const { child, exited, port } = await startCli(['--aggregation-delay', '0']);
    const answer = await fetch(`http://127.0.0.1:${port}/_test/billing/aggregation_delay`);
    expect(await answer.json()).toMatchObject({ seconds: 0 });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
