import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const CLI = join(__dirname, '..', '..', 'dist', 'dev', 'myfatoorah-server', 'cli.js');

/** Starts the built command and waits for its listening line and one line per account. */
async function startCli(args: string[], accounts: number) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build:dev" first (npm test does)`);
  const child = spawn(process.execPath, [CLI, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const output = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (/^listening on /m.test(text) && (text.match(/^account /gm) ?? []).length === accounts) resolve(text);
    });
    void exited.then((code) => reject(new Error(`myfatoorah-server exited with ${code}: ${text}`)));
  });
  const url = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(output)?.[1] as string;
  return { child, exited, url, output };
}

describe('the standalone myfatoorah-server command', () => {
  it('serves its default account, prints it, and stops cleanly on SIGTERM', async () => {
    const { child, exited, url, output } = await startCli([], 1);
    expect(output).toContain('account mf_test_kwt KWT KWD webhook none secret whsec_kwt_test');
    const answer = await fetch(`${url}/v2/SendPayment`, {
      method: 'POST',
      headers: { Authorization: 'Bearer mf_test_kwt', 'Content-Type': 'application/json' },
      body: JSON.stringify({ InvoiceValue: 1.5, CustomerName: 'CLI', NotificationOption: 'LNK' }),
    });
    expect(answer.status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('takes accounts, their currencies and their webhook endpoint and secret from flags', async () => {
    const { child, exited, output } = await startCli(
      ['--account', 'tok_sa:SAU:SAR,USD', '--account', 'tok_kw', '--webhook', 'tok_sa=http://127.0.0.1:1/hook', '--webhook-secret', 'tok_sa=s3cret', '--clock', 'manual'],
      2,
    );
    expect(output).toContain('account tok_sa SAU SAR,USD webhook http://127.0.0.1:1/hook secret s3cret');
    expect(output).toContain('account tok_kw KWT KWD webhook none');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
